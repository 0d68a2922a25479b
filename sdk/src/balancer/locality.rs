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
                    .or_insert_with(|| EndpointPolicy::new(child, env));
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
mod tests {
    use super::*;
    use crate::balancer::ewma::Clock;
    use crate::balancer::test_util::{fail, members, pick_counts};

    fn env() -> PolicyEnv {
        PolicyEnv {
            clock: Clock::manual(),
            ring_size_cap: 4096,
        }
    }

    fn locality(zone: &str) -> Locality {
        Locality {
            zone: zone.into(),
            ..Default::default()
        }
    }

    #[test]
    fn localities_get_traffic_in_proportion_to_weight() {
        let ms = members(4, Connectivity::Ready);
        let (a, b) = (locality("a"), locality("b"));
        let groups = [
            LocalityGroup {
                locality: &a,
                weight: 1,
                members: ms[..2].to_vec(),
            },
            LocalityGroup {
                locality: &b,
                weight: 3,
                members: ms[2..].to_vec(),
            },
        ];
        let mut wt = WeightedTarget::default();
        let built = wt.build(
            &groups,
            &LbPolicy::RoundRobin,
            &env(),
            &AtomicRng::new(11),
            &fail(),
        );
        let counts = pick_counts(&*built.picker, 10_000, None);
        let in_b: usize = ms[2..]
            .iter()
            .filter_map(|m| counts.get(&m.handle.id()))
            .sum();
        assert!(
            (7_300..7_700).contains(&in_b),
            "locality b got {in_b} of 10000, want ~7500"
        );
    }

    #[test]
    fn a_locality_without_ready_endpoints_gets_nothing() {
        let mut ms = members(4, Connectivity::Ready);
        ms[0].state = Connectivity::TransientFailure;
        ms[1].state = Connectivity::Connecting;
        let (a, b) = (locality("a"), locality("b"));
        let groups = [
            LocalityGroup {
                locality: &a,
                weight: 100,
                members: ms[..2].to_vec(),
            },
            LocalityGroup {
                locality: &b,
                weight: 1,
                members: ms[2..].to_vec(),
            },
        ];
        let mut wt = WeightedTarget::default();
        let built = wt.build(
            &groups,
            &LbPolicy::RoundRobin,
            &env(),
            &AtomicRng::new(1),
            &fail(),
        );
        let counts = pick_counts(&*built.picker, 1_000, None);
        assert_eq!(counts.len(), 2);
        assert!(!counts.contains_key(&ms[0].handle.id()));
    }

    #[test]
    fn no_ready_locality_reports_connecting_then_failure() {
        let mut ms = members(2, Connectivity::Connecting);
        let a = locality("a");
        let groups = |ms: &[Member]| {
            vec![LocalityGroup {
                locality: &a,
                weight: 1,
                members: ms.to_vec(),
            }]
        };
        let mut wt = WeightedTarget::default();
        let built = wt.build(
            &groups(&ms),
            &LbPolicy::RoundRobin,
            &env(),
            &AtomicRng::new(1),
            &fail(),
        );
        assert_eq!(built.state, Connectivity::Connecting);
        assert_eq!(
            built.picker.pick(&PickRequest::default()),
            PickResult::queue()
        );
        for m in &mut ms {
            m.state = Connectivity::TransientFailure;
        }
        let built = wt.build(
            &groups(&ms),
            &LbPolicy::RoundRobin,
            &env(),
            &AtomicRng::new(1),
            &fail(),
        );
        assert_eq!(built.state, Connectivity::TransientFailure);
        assert_eq!(built.picker.pick(&PickRequest::default()), fail());
    }
}
