//! Turning the endpoint table into a picker: bucket endpoints by priority, drop those EDS calls
//! unhealthy (gRFC A27: only HEALTHY and UNKNOWN take traffic), present unusable ones as
//! TRANSIENT_FAILURE (A50), build each priority's layer, let the priority selector choose, and
//! wrap the result with EDS drops.

use std::sync::Arc;

use crate::xds::resource::cluster::LbPolicy;

use super::super::child::{Built, EndpointPolicy, PolicyEnv, weight_update_period};
use super::super::endpoint::{Connectivity, Member};
use super::super::locality::LocalityGroup;
use super::super::picker::PickResult;
use super::super::rng::AtomicRng;
use super::{ClusterBalancer, DropPicker, EndpointState, Layer};

/// Everything a priority layer needs to build, borrowed from the balancer.
struct Inputs<'a> {
    config: &'a LbPolicy,
    env: PolicyEnv,
    seeds: &'a AtomicRng,
    fail: PickResult,
}

impl ClusterBalancer {
    /// Builds and publishes a new picker from the current state.
    pub(super) fn rebuild(&mut self) {
        if !self.assigned {
            return;
        }
        let inputs = Inputs {
            config: &self.config,
            env: self.env(),
            seeds: &self.seeds,
            fail: self.failure(),
        };
        let buckets = by_priority(&self.endpoints);
        self.layers.truncate(buckets.len());
        self.layers.resize_with(buckets.len(), Layer::default);
        let built: Vec<Built> = self
            .layers
            .iter_mut()
            .zip(&buckets)
            .map(|(layer, bucket)| build_layer(layer, bucket, &inputs))
            .collect();
        let states: Vec<Connectivity> = built.iter().map(|b| b.state).collect();
        let now = self.options.clock.now_nanos();
        self.weights_due = weight_update_period(inputs.config)
            .map(|p| now.saturating_add(u64::try_from(p.as_nanos()).unwrap_or(u64::MAX)));
        let (state, inner) = match self.selector.select(&states, now) {
            Some(i) => (built[i].state, built[i].picker.clone()),
            None => {
                let failed = Built::fixed(Connectivity::TransientFailure, inputs.fail.clone());
                (failed.state, failed.picker)
            }
        };
        let drop_seed = inputs.seeds.next_u64();
        self.state = state;
        self.picker = if self.drops.is_empty() {
            inner
        } else {
            let rng = AtomicRng::new(drop_seed);
            Arc::new(DropPicker::new(self.drops.clone(), inner, rng))
        };
    }
}

/// EDS-healthy endpoints per priority (index = priority; a priority may be empty).
fn by_priority(endpoints: &[EndpointState]) -> Vec<Vec<&EndpointState>> {
    let count = endpoints
        .iter()
        .map(|e| e.spec.priority as usize + 1)
        .max()
        .unwrap_or(0);
    let mut buckets = vec![Vec::new(); count];
    for e in endpoints.iter().filter(|e| e.spec.health.is_usable()) {
        buckets[e.spec.priority as usize].push(e);
    }
    buckets
}

/// One priority: per-locality children under `wrr_locality`, else one flat policy whose endpoint
/// weights include the locality weight (what ring hash needs, A42).
fn build_layer(layer: &mut Layer, bucket: &[&EndpointState], inputs: &Inputs<'_>) -> Built {
    match inputs.config {
        LbPolicy::WrrLocality(child) => {
            let groups = group_by_locality(bucket, |e| member(e, u64::from(e.spec.weight)));
            let env = &inputs.env;
            layer
                .localities
                .build(&groups, child, env, inputs.seeds, &inputs.fail)
        }
        config => {
            let members: Vec<Member> = bucket
                .iter()
                .map(|e| {
                    let w = u64::from(e.spec.weight) * u64::from(e.spec.locality_weight);
                    member(e, w)
                })
                .collect();
            layer
                .flat
                .get_or_insert_with(|| EndpointPolicy::new(config, &inputs.env))
                .build(&members, inputs.seeds, &inputs.fail)
        }
    }
}

/// The policy's view of an endpoint: ejected (not `usable`) reads as TRANSIENT_FAILURE.
fn member(e: &EndpointState, weight: u64) -> Member {
    Member {
        handle: e.handle.clone(),
        state: if e.usable {
            e.connectivity
        } else {
            Connectivity::TransientFailure
        },
        weight,
        ring_key: e.ring_key.clone(),
    }
}

/// Groups a priority's endpoints by locality, keeping first-appearance order (EDS lists a
/// locality's endpoints together, so the last group is checked first).
fn group_by_locality<'a>(
    bucket: &[&'a EndpointState],
    member: impl Fn(&EndpointState) -> Member,
) -> Vec<LocalityGroup<'a>> {
    let mut groups: Vec<LocalityGroup<'a>> = Vec::new();
    for e in bucket {
        let m = member(e);
        let same = |g: &&mut LocalityGroup<'a>| *g.locality == e.spec.locality;
        let found = match groups.last_mut().filter(same) {
            Some(g) => Some(g),
            None => groups.iter_mut().find(|g| *g.locality == e.spec.locality),
        };
        match found {
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
