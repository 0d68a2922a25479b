//! The locality layer: `wrr_locality` / `weighted_target` (gRFC A27, A52). Each locality of a
//! priority gets its own endpoint-policy instance (kept across updates, keyed by locality), and a
//! pick first chooses a READY locality at random in proportion to its EDS locality weight (a
//! cumulative-weight table and a binary search, O(log localities)), then lets that locality's
//! picker choose the endpoint. With no READY locality the layer reports the best remaining state
//! (CONNECTING > IDLE > TRANSIENT_FAILURE) and answers with that locality's queue or fail.
//! Randomness comes from the seeded RNG. Endpoint weights are left to the child policy.

use std::collections::HashMap;

use crate::xds::resource::cluster::LbPolicy;
use crate::xds::resource::endpoint::Locality;

use super::child::{Built, EndpointPolicy, PolicyEnv};
use super::endpoint::{Connectivity, Member};
use super::picker::{PickRequest, PickResult, Picker};
use super::rng::AtomicRng;

/// The members of one locality and its weight.
#[derive(Debug)]
pub(crate) struct LocalityGroup<'a> {
    pub locality: &'a Locality,
    pub weight: u32,
    pub members: Vec<Member>,
}

/// One child policy per locality.
#[derive(Debug, Default)]
pub(crate) struct WeightedTarget {
    children: HashMap<Locality, EndpointPolicy>,
}

impl WeightedTarget {
    /// Builds every locality's picker and a weighted picker over the READY ones.
    pub fn build(
        &mut self,
        groups: &[LocalityGroup<'_>],
        child: &LbPolicy,
        env: &PolicyEnv,
        seed: &AtomicRng,
        fail: &PickResult,
    ) -> Built {
        self.children
            .retain(|l, _| groups.iter().any(|g| g.locality == l));
        let built: Vec<(u32, Built)> = groups
            .iter()
            .map(|g| {
                let policy = self
                    .children
                    .entry(g.locality.clone())
                    .or_insert_with(|| EndpointPolicy::new_in(child, env, Some(g.locality)));
                (g.weight, policy.build(&g.members, seed, fail))
            })
            .collect();
        let mut cumulative = Vec::new();
        let mut pickers = Vec::new();
        let mut total = 0u64;
        for (weight, b) in &built {
            if b.state == Connectivity::Ready && *weight > 0 {
                total += u64::from(*weight);
                cumulative.push(total);
                pickers.push(b.picker.clone());
            }
        }
        if !pickers.is_empty() {
            return Built::new(
                Connectivity::Ready,
                WeightedTargetPicker {
                    cumulative: cumulative.into_boxed_slice(),
                    pickers: pickers.into_boxed_slice(),
                    total,
                    rng: AtomicRng::new(seed.next_u64()),
                },
            );
        }
        for state in [Connectivity::Connecting, Connectivity::Idle] {
            if let Some((_, b)) = built.iter().find(|(_, b)| b.state == state) {
                return b.clone();
            }
        }
        Built::fixed(Connectivity::TransientFailure, fail.clone())
    }
}

/// Weighted random choice of a READY locality, then its picker.
#[derive(Debug)]
pub(crate) struct WeightedTargetPicker {
    cumulative: Box<[u64]>,
    pickers: Box<[std::sync::Arc<dyn Picker>]>,
    total: u64,
    rng: AtomicRng,
}

impl Picker for WeightedTargetPicker {
    fn pick(&self, request: &PickRequest) -> PickResult {
        let draw = self.rng.below(self.total);
        let i = self.cumulative.partition_point(|&c| c <= draw);
        match self.pickers.get(i) {
            Some(p) => p.pick(request),
            None => PickResult::queue(),
        }
    }
}

#[cfg(test)]
mod tests;
