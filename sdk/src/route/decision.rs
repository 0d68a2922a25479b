//! What routing decided for one RPC: the cluster picked by weight, the matched route's policies
//! (A31 stream duration cap, A44 retry policy, A42 hash policies) and the per-filter overrides
//! merged virtual host → route → weighted cluster, most specific winning (gRFC A39).
//!
//! A decision is two reference-counted pointers to data precomputed when the table was built, so
//! making one allocates nothing. It does not enforce any policy itself; the channel
//! hands each part to the layer that owns it.

use std::sync::Arc;
use std::time::Duration;

use tonic::codegen::http::HeaderMap;

use super::RandomSource;
use super::hash::request_hash;
use crate::xds::resource::route::{FilterOverrides, ForwardAction, HashPolicy, RetryPolicy};

/// The routing outcome for one RPC that will be forwarded.
#[derive(Clone, Debug)]
pub struct RouteDecision {
    plan: Arc<RoutePlan>,
    target: Arc<ClusterTarget>,
}

/// A forwarding route, precomputed for picking: what every decision for it shares.
#[derive(Debug)]
pub(crate) struct RoutePlan {
    index: usize,
    name: String,
    clusters: Vec<Arc<ClusterTarget>>,
    total_weight: u32,
    max_stream_duration: Option<Duration>,
    retry_policy: Option<RetryPolicy>,
    hash_policies: Vec<HashPolicy>,
}

#[derive(Debug)]
struct ClusterTarget {
    name: String,
    /// End (exclusive) of this cluster's slice of `0..total_weight`.
    weight_end: u32,
    overrides: Arc<FilterOverrides>,
}

impl RouteDecision {
    /// The Cluster resource name the RPC goes to.
    pub fn cluster(&self) -> &str {
        self.target.name.as_str()
    }

    /// The matched route's position in its virtual host (for telemetry).
    pub fn route_index(&self) -> usize {
        self.plan.index
    }

    /// The matched route's name (for telemetry; may be empty).
    pub fn route_name(&self) -> &str {
        &self.plan.name
    }

    /// The route's stream duration cap (A31): `None` = use the listener's default;
    /// `Some(ZERO)` = no cap, overriding the listener.
    pub fn max_stream_duration(&self) -> Option<Duration> {
        self.plan.max_stream_duration
    }

    /// The effective retry policy (the route's, else the virtual host's), if any (A44).
    pub fn retry_policy(&self) -> Option<&RetryPolicy> {
        self.plan.retry_policy.as_ref()
    }

    /// The route's hash policies, in order (A42).
    pub fn hash_policies(&self) -> &[HashPolicy] {
        &self.plan.hash_policies
    }

    /// Filter overrides for this RPC, keyed by filter instance name: the virtual host's, replaced
    /// per filter by the route's, replaced by the chosen weighted cluster's.
    pub fn filter_overrides(&self) -> &FilterOverrides {
        &self.target.overrides
    }

    /// The request hash for a ring-hash cluster (A42), `None` when no hash policy yields one.
    pub fn request_hash(&self, headers: &HeaderMap, channel_id: u64) -> Option<u64> {
        request_hash(&self.plan.hash_policies, headers, channel_id)
    }
}

impl RoutePlan {
    /// Precomputes a forwarding route: cumulative weights and merged overrides per cluster.
    /// `action.clusters` is non-empty with a positive total weight (the resource guarantees it).
    pub(crate) fn new(
        index: usize,
        name: &str,
        vh_overrides: &Arc<FilterOverrides>,
        route_overrides: &FilterOverrides,
        action: &ForwardAction,
    ) -> Self {
        let route_level = merge(vh_overrides, route_overrides);
        let mut weight_end = 0u32;
        let clusters = action
            .clusters
            .iter()
            .map(|c| {
                weight_end = weight_end.saturating_add(c.weight);
                Arc::new(ClusterTarget {
                    name: c.name.clone(),
                    weight_end,
                    overrides: merge(&route_level, &c.filter_overrides),
                })
            })
            .collect();
        RoutePlan {
            index,
            name: name.to_string(),
            clusters,
            total_weight: weight_end,
            max_stream_duration: action.max_stream_duration,
            retry_policy: action.retry_policy.clone(),
            hash_policies: action.hash_policies.clone(),
        }
    }

    /// Draws a cluster by weight (no draw when there is only one). `None` only for a plan
    /// without clusters, which validated resources never produce.
    pub(crate) fn decide(self: &Arc<Self>, rng: &mut impl RandomSource) -> Option<RouteDecision> {
        let index = if self.clusters.len() <= 1 {
            0
        } else {
            let draw = rng.below(self.total_weight);
            self.clusters.partition_point(|c| c.weight_end <= draw)
        };
        let target = self.clusters.get(index).or(self.clusters.last())?;
        Some(RouteDecision {
            plan: Arc::clone(self),
            target: Arc::clone(target),
        })
    }
}

/// `base` with `more` laid over it, sharing `base` when `more` is empty.
fn merge(base: &Arc<FilterOverrides>, more: &FilterOverrides) -> Arc<FilterOverrides> {
    if more.is_empty() {
        return Arc::clone(base);
    }
    let mut merged = FilterOverrides::clone(base);
    merged.extend(more.iter().map(|(k, v)| (k.clone(), v.clone())));
    Arc::new(merged)
}
