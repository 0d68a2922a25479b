//! Turning the endpoint table into a picker: bucket endpoints by priority, drop those EDS calls
//! unhealthy (gRFC A27: only HEALTHY and UNKNOWN take traffic), present unusable ones as
//! TRANSIENT_FAILURE (A50), build each priority's layer, let the priority selector choose, and
//! wrap the result with EDS drops.

use std::sync::Arc;

use crate::xds::resource::cluster::LbPolicy;

use super::super::child::{Built, EndpointPolicy};
use super::super::endpoint::{Connectivity, Member};
use super::super::locality::LocalityGroup;
use super::super::rng::AtomicRng;
use super::{ClusterBalancer, DropPicker, EndpointState, Layer};

impl ClusterBalancer {
    /// Builds and publishes a new picker from the current state.
    pub(super) fn rebuild(&mut self) {
        if !self.assigned {
            return;
        }
        let fail = self.failure();
        let env = self.env();
        let priorities = self
            .endpoints
            .iter()
            .map(|e| e.spec.priority as usize + 1)
            .max()
            .unwrap_or(0);
        let mut buckets: Vec<Vec<&EndpointState>> = vec![Vec::new(); priorities];
        for e in self.endpoints.iter().filter(|e| e.spec.health.is_usable()) {
            buckets[e.spec.priority as usize].push(e);
        }
        let wants_ring_keys = ring_keys_needed(&self.config);
        let locality_child = match &self.config {
            LbPolicy::WrrLocality(child) => Some(child.as_ref()),
            _ => None,
        };
        self.layers.truncate(priorities);
        self.layers.resize_with(priorities, Layer::default);
        let empty: Arc<str> = Arc::from("");
        let member = |e: &EndpointState, weight: u64| Member {
            handle: e.handle.clone(),
            state: if e.usable {
                e.connectivity
            } else {
                Connectivity::TransientFailure
            },
            weight,
            ring_key: if wants_ring_keys {
                Arc::from(
                    e.spec
                        .hash_key
                        .clone()
                        .unwrap_or_else(|| e.spec.address.to_string()),
                )
            } else {
                empty.clone()
            },
        };
        let (seeds, config) = (&self.seeds, &self.config);
        let built: Vec<Built> = self
            .layers
            .iter_mut()
            .zip(&buckets)
            .map(|(layer, bucket)| match locality_child {
                Some(child) => {
                    let groups = group_by_locality(bucket, |e| member(e, u64::from(e.spec.weight)));
                    layer.localities.build(&groups, child, &env, seeds, &fail)
                }
                None => {
                    let members: Vec<Member> = bucket
                        .iter()
                        .map(|e| {
                            let w = u64::from(e.spec.weight) * u64::from(e.spec.locality_weight);
                            member(e, w)
                        })
                        .collect();
                    layer
                        .flat
                        .get_or_insert_with(|| EndpointPolicy::new(config, &env))
                        .build(&members, seeds, &fail)
                }
            })
            .collect();
        let states: Vec<Connectivity> = built.iter().map(|b| b.state).collect();
        let now = self.options.clock.now_nanos();
        let (state, inner) = match self.selector.select(&states, now) {
            Some(i) => (built[i].state, built[i].picker.clone()),
            None => (
                Connectivity::TransientFailure,
                Built::fixed(Connectivity::TransientFailure, fail.clone()).picker,
            ),
        };
        self.state = state;
        self.picker = if self.drops.is_empty() {
            inner
        } else {
            Arc::new(DropPicker::new(
                self.drops.clone(),
                inner,
                AtomicRng::new(seeds.next_u64()),
            ))
        };
    }
}

/// Groups a priority's endpoints by locality, keeping first-appearance order.
fn group_by_locality<'a>(
    bucket: &[&'a EndpointState],
    member: impl Fn(&EndpointState) -> Member,
) -> Vec<LocalityGroup<'a>> {
    let mut groups: Vec<LocalityGroup<'a>> = Vec::new();
    for e in bucket {
        let m = member(e);
        match groups.iter_mut().find(|g| *g.locality == e.spec.locality) {
            Some(g) => g.members.push(m),
            None => groups.push(LocalityGroup {
                locality: &e.spec.locality,
                weight: e.spec.locality_weight,
                members: vec![m],
            }),
        }
    }
    groups
}

fn ring_keys_needed(config: &LbPolicy) -> bool {
    match config {
        LbPolicy::RingHash(_) => true,
        LbPolicy::WrrLocality(inner) => ring_keys_needed(inner),
        _ => false,
    }
}
