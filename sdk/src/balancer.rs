//! Client-side load balancing per cluster: endpoint state in, immutable pickers out.
//!
//! A [`ClusterBalancer`] is built from a cluster's validated LB policy and its EDS
//! `ClusterLoadAssignment` (or a static address list). The channel feeds it connectivity changes,
//! the health module feeds it `usable` overrides (outlier ejection, active health checks), and it
//! answers with an `Arc<dyn Picker>` the request path uses without locks: pick an endpoint, queue,
//! fail, or drop. Policies (`&mut self`) mutate; pickers never do ("policies mutate, pickers
//! don't", DESIGN.md). Picking is O(1) or O(log n); randomness comes from a seeded RNG and time
//! from an injected [`Clock`], so every policy is testable with a fixed seed and paused time.
//!
//! Implemented: priorities with failover/failback and the failover timer (gRFC A27/A56),
//! `wrr_locality` / weighted_target over localities (A27, A52), round_robin, least_request (A48),
//! ring_hash (A42, A61, A76), pick_first (A62), Meshwork's p2c over peak-EWMA (Linkerd), EDS health
//! filtering and drop overloads (A27), `client_side_weighted_round_robin` (A58) over weights the
//! channel records from backend load reports. Not here: connections and ORCA parsing (channel),
//! outlier detection and health checks (health), circuit breaking (resilience), load reporting.
//!
//! ```
//! use meshwork::balancer::{BalancerOptions, ClusterBalancer, Connectivity, PickRequest, PickResult};
//! use meshwork::xds::resource::cluster::LbPolicy;
//!
//! let addrs = ["10.0.0.1:80".parse().unwrap(), "10.0.0.2:80".parse().unwrap()];
//! let options = BalancerOptions { seed: 7, ..BalancerOptions::default() };
//! let mut lb = ClusterBalancer::from_addresses("greeter", addrs, LbPolicy::RoundRobin, options);
//! assert_eq!(lb.picker().pick(&PickRequest::default()), PickResult::Queue {
//!     connect: Some(lb.endpoints()[0].handle.clone()),
//! });
//! let id = lb.endpoints()[1].handle.id();
//! lb.update_connectivity(id, Connectivity::Ready);
//! let picked = lb.picker().pick(&PickRequest::default());
//! assert_eq!(picked.endpoint().map(|e| e.id()), Some(id));
//! ```

mod child;
pub mod cluster;
pub mod endpoint;
pub mod ewma;
mod least_request;
pub mod load;
mod locality;
mod p2c;
mod pick_first;
pub mod picker;
mod priority;
mod ring_hash;
pub mod rng;
mod round_robin;
pub mod stats;
#[cfg(test)]
mod test_util;
pub mod weight;
mod wrr;

pub use cluster::{BalancerOptions, ClusterBalancer, DropPicker, EndpointChanges, EndpointState};
pub use endpoint::{Connectivity, EndpointHandle, EndpointId, EndpointSpec};
pub use ewma::{Clock, PeakEwma};
pub use least_request::MAX_CHOICE_COUNT;
pub use load::{EndpointLoad, InFlight, OwnedInFlight};
pub use picker::{PickError, PickRequest, PickResult, Picker};
pub use priority::DEFAULT_FAILOVER_TIMEOUT;
pub use ring_hash::DEFAULT_RING_SIZE_CAP;
pub use rng::AtomicRng;
pub use stats::{EndpointStats, Rates};
pub use weight::{BackendWeight, LoadReport};

pub(crate) use child::{Built, no_ready};
