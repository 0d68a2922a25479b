//! The endpoint-picking policies behind one interface: [`EndpointPolicy`] turns a leaf of the
//! validated `LbPolicy` tree into the policy object that builds pickers, and [`Built`] is what a
//! build returns (aggregate connectivity + picker). `wrr_locality` is the locality layer's
//! business (`locality.rs`), not a leaf; a nested `wrr_locality` uses its innermost policy.
//! `client_side_weighted_round_robin` (gRFC A58) weighs endpoints by their load reports.

use std::sync::Arc;

use crate::telemetry::{LbLabels, MeshMetrics, WrrMetrics};
use crate::xds::resource::cluster::LbPolicy;
use crate::xds::resource::endpoint::Locality;

use super::endpoint::{Connectivity, Member};
use super::ewma::Clock;
use super::least_request::LeastRequest;
use super::p2c::P2c;
use super::pick_first::PickFirst;
use super::picker::{FixedPicker, PickResult, Picker};
use super::ring_hash::RingHash;
use super::rng::AtomicRng;
use super::round_robin::RoundRobin;
use super::wrr::Wrr;

/// A built picker and the connectivity its policy reports for the group.
#[derive(Debug, Clone)]
pub(crate) struct Built {
    pub state: Connectivity,
    pub picker: Arc<dyn Picker>,
}

impl Built {
    pub fn new(state: Connectivity, picker: impl Picker + 'static) -> Self {
        Built {
            state,
            picker: Arc::new(picker),
        }
    }

    /// A picker that always answers `result`.
    pub fn fixed(state: Connectivity, result: PickResult) -> Self {
        Built::new(state, FixedPicker(result))
    }
}

/// What a rotation-style policy builds when no member is READY: fail when all have failed,
/// otherwise queue and ask for the first IDLE member to connect.
pub(crate) fn no_ready(state: Connectivity, members: &[Member], fail: &PickResult) -> Built {
    if state == Connectivity::TransientFailure {
        return Built::fixed(state, fail.clone());
    }
    let connect = members
        .iter()
        .find(|m| m.state == Connectivity::Idle)
        .map(|m| m.handle.clone());
    Built::fixed(state, PickResult::Queue { connect })
}

/// Settings every endpoint policy may need.
#[derive(Debug, Clone)]
pub(crate) struct PolicyEnv {
    pub clock: Clock,
    pub ring_size_cap: u64,
    pub metrics: LbMetrics,
}

/// Where policies record their metrics (gRFC A78 WRR): the channel target, the cluster and the
/// telemetry; disabled by default.
#[derive(Debug, Clone, Default)]
pub(crate) struct LbMetrics {
    pub target: Arc<str>,
    pub cluster: Arc<str>,
    pub mesh: MeshMetrics,
}

impl LbMetrics {
    /// The WRR recorder of the policy instance for `locality` (`None`: no locality layer).
    fn wrr(&self, locality: Option<&Locality>) -> WrrMetrics {
        let labels = match locality {
            Some(l) => LbLabels::new(&self.cluster, &l.region, &l.zone, &l.sub_zone),
            None => LbLabels::new(&self.cluster, "", "", ""),
        };
        self.mesh.wrr(&self.target, &labels)
    }
}

/// One endpoint-picking policy instance (per locality, or per priority without a locality layer).
#[derive(Debug)]
pub(crate) enum EndpointPolicy {
    RoundRobin(RoundRobin),
    LeastRequest(LeastRequest),
    RingHash(RingHash),
    PickFirst(PickFirst),
    P2c(P2c),
    Wrr(Wrr),
}

impl EndpointPolicy {
    /// The policy for a leaf of the config tree, outside any locality layer.
    pub fn new(config: &LbPolicy, env: &PolicyEnv) -> Self {
        EndpointPolicy::new_in(config, env, None)
    }

    /// The policy for a leaf of the config tree serving `locality`'s endpoints.
    pub fn new_in(config: &LbPolicy, env: &PolicyEnv, locality: Option<&Locality>) -> Self {
        match config {
            LbPolicy::RoundRobin => EndpointPolicy::RoundRobin(RoundRobin),
            LbPolicy::WeightedRoundRobin(c) => EndpointPolicy::Wrr(
                Wrr::new(c, env.clock.clone()).with_metrics(env.metrics.wrr(locality)),
            ),
            LbPolicy::LeastRequest { choice_count } => {
                EndpointPolicy::LeastRequest(LeastRequest::new(*choice_count))
            }
            LbPolicy::RingHash(c) => EndpointPolicy::RingHash(RingHash::new(c, env.ring_size_cap)),
            LbPolicy::PickFirst {
                shuffle_address_list,
            } => EndpointPolicy::PickFirst(PickFirst::new(*shuffle_address_list)),
            LbPolicy::PeakEwma(c) => EndpointPolicy::P2c(P2c::new(c.clone(), env.clock.clone())),
            LbPolicy::WrrLocality(inner) => EndpointPolicy::new_in(inner, env, locality),
        }
    }

    /// Builds a picker over `members`; `fail` is the answer when nothing can serve.
    pub fn build(&mut self, members: &[Member], seed: &AtomicRng, fail: &PickResult) -> Built {
        match self {
            EndpointPolicy::RoundRobin(p) => p.build(members, seed, fail),
            EndpointPolicy::LeastRequest(p) => p.build(members, seed, fail),
            EndpointPolicy::RingHash(p) => p.build(members, seed, fail),
            EndpointPolicy::PickFirst(p) => p.build(members, seed, fail),
            EndpointPolicy::P2c(p) => p.build(members, seed, fail),
            EndpointPolicy::Wrr(p) => p.build(members, seed, fail),
        }
    }
}

/// Whether the policy wants every endpoint connected up front (round_robin and friends) rather
/// than lazily on pick (ring_hash, pick_first).
pub(crate) fn connects_eagerly(config: &LbPolicy) -> bool {
    match config {
        LbPolicy::RingHash(_) | LbPolicy::PickFirst { .. } => false,
        LbPolicy::WrrLocality(inner) => connects_eagerly(inner),
        _ => true,
    }
}

/// How often the policy wants its picker rebuilt to pick up new backend weights (A58's
/// `weight_update_period`), if it is weighted round robin.
pub(crate) fn weight_update_period(config: &LbPolicy) -> Option<std::time::Duration> {
    match config {
        LbPolicy::WeightedRoundRobin(c) => Some(c.weight_update_period),
        LbPolicy::WrrLocality(inner) => weight_update_period(inner),
        _ => None,
    }
}
