//! `meshwork-xds`: a development xDS v3 control plane serving a mesh file over ADS.
//!
//! It speaks plain state-of-the-world ADS (Envoy's xDS protocol; gRFC A27 for the resource shapes
//! a gRPC client expects) and is independent of the Meshwork SDK, so the SDK's xDS client and
//! gRPC's own clients (grpc-go, C-core/Python) can be tested against it. It is not a production
//! control plane: one process, no persistence, no Delta xDS, no LRS, no TLS.
//!
//! Pieces: [`mesh`] (the file model and its validation), [`translate`] (mesh → Listener,
//! RouteConfiguration, Cluster, ClusterLoadAssignment), [`state`] (versioned snapshots and the
//! ACK/NACK log), [`ads`] (the ADS stream protocol and service), [`server`] (start/steer/stop
//! in-process), [`health_check`] (optional active health checks of endpoints, reflected in EDS)
//! and [`reload`] (hot reload of a mesh file).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use meshwork_examples::xds_server::{Mesh, XdsServer};
//! let mesh = Mesh::load("examples/mesh/greeter.yaml".as_ref())?;
//! let server = XdsServer::start("127.0.0.1:0".parse()?, mesh).await?;
//! println!("{}", server.bootstrap_json("my-node"));
//! # Ok(()) }
//! ```

pub mod ads;
pub mod health_check;
pub mod mesh;
pub mod reload;
pub mod server;
pub mod state;
pub mod translate;

pub use mesh::{Mesh, MeshError};
pub use server::{ServerError, ServerHandle, XdsServer, bootstrap_json};
pub use state::{AckEvent, AckLog, NackRecord, Snapshot, TypeStatus};
