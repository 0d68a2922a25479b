//! Resolution of an `xds:` target into complete, consistent configuration snapshots: the xDS
//! dependency manager of gRFC A74.
//!
//! For a target such as `xds:///greeter:50051` the resolver watches the Listener, then its
//! RouteConfiguration (RDS, unless inline), selects the virtual host for the target's authority
//! (A28), watches every cluster its routes name (CDS), each cluster's endpoints (EDS), and the
//! children of aggregate clusters (A37/A75). It publishes an immutable [`Snapshot`] only when
//! every resource of that tree has a value or an error, keeps the last good one across ambient
//! errors (A88), and reports per-resource errors.
//!
//! The graph logic is a sans-io core ([`core::DependencyCore`]) tested with plain tests; the
//! async shell ([`Resolver`], in `task`) owns the watches. It never picks endpoints, matches
//! routes or resolves DNS names (LOGICAL_DNS clusters are carried as host and port).

pub mod aggregate;
pub mod core;
pub mod error;
pub mod snapshot;
mod task;
#[cfg(test)]
pub(crate) mod test_support;
pub mod vhost;

pub use error::{ClusterError, ResolveError};
pub use snapshot::{ClusterConfig, ClusterEndpoints, ResolverState, ResourceError, Snapshot};
pub use task::{Resolver, ResolverHandle};
