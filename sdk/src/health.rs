//! Endpoint health beyond what EDS says: passive outlier detection (gRFC A50) and active gRPC
//! health checks (gRFC A17).
//!
//! [`outlier`] counts call results per endpoint and, once per interval, decides which endpoints
//! to eject from load balancing and which to bring back; the owner applies each decision with
//! [`ClusterBalancer::set_usable`](crate::balancer::ClusterBalancer::set_usable). Nothing here
//! runs on the request path beyond bumping an atomic counter, and nothing does I/O or sleeps.
//! `check` (crate-internal) runs one `grpc.health.v1.Health/Watch` stream per endpoint
//! connection in owned tasks and reports verdicts to the channel's manager, off the request path.

pub(crate) mod check;
pub mod outlier;
