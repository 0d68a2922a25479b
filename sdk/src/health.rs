//! Endpoint health beyond what EDS says: passive outlier detection (gRFC A50).
//!
//! [`outlier`] counts call results per endpoint and, once per interval, decides which endpoints
//! to eject from load balancing and which to bring back; the owner applies each decision with
//! [`ClusterBalancer::set_usable`](crate::balancer::ClusterBalancer::set_usable). Nothing here
//! runs on the request path beyond bumping an atomic counter, and nothing does I/O or sleeps.
//! Not here yet: active gRPC health checks (A17).

pub mod outlier;
