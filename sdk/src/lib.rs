//! Meshwork: a proxyless gRPC service mesh for tonic.
//!
//! A service links this crate and gets, in its own process, what a sidecar proxy would otherwise do:
//! xDS-driven routing and client-side load balancing, health checking, resilience and telemetry.
//!
//! This release holds the foundation every later layer stands on:
//! - [`bootstrap`]: the standard gRPC xDS bootstrap (`GRPC_XDS_BOOTSTRAP`, `GRPC_XDS_BOOTSTRAP_CONFIG`, or
//!   built in code);
//! - [`xds`]: an xDS v3 ADS client (state of the world) with a sans-io protocol core, validated
//!   resource types and a config dump;
//! - [`resolver`]: follows LDS → RDS → CDS → EDS for a target and publishes complete, consistent
//!   snapshots (gRFC A74);
//! - [`route`] and [`balancer`]: route matching and per-cluster load-balancing policies;
//! - [`connection`]: the process-wide endpoint connection pool, plaintext or TLS;
//! - [`tls`]: gRFC A29 xDS-driven TLS to endpoints (certificate providers, SAN checks);
//! - [`channel`]: [`MeshChannel`], the tower `Service` a tonic client uses, over xDS or a static
//!   endpoint list;
//! - [`Mesh`]: the process-wide handle that makes xDS channels;
//! - [`resilience`] and [`health`]: retry, budget, throttling and circuit-breaker arithmetic, and
//!   outlier detection (gRFC A50), wired into the channel;
//! - [`fault`]: fault injection (gRFC A33 xDS faults and runtime rules) and its tower layer,
//!   applied on the client path by every channel and on the server path by [`server`];
//! - [`admin`]: the admin endpoint (status, live snapshots, events, config dump, CSDS, faults);
//! - [`telemetry`]: gRFC A66 metrics, spans with W3C propagation, OTLP and Prometheus export.
#![warn(missing_docs)]

pub mod admin;
pub mod balancer;
pub mod bootstrap;
pub mod channel;
pub mod channelz;
pub mod connection;
pub mod fault;
pub mod health;
mod mesh;
pub mod orca;
pub mod resilience;
pub mod resolver;
pub mod route;
pub mod server;
pub mod telemetry;
pub mod tls;
pub mod xds;

pub use channel::{Lb, MeshChannel};
pub use mesh::{Mesh, MeshBuilder, MeshOptions};
