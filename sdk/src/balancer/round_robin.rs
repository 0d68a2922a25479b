//! round_robin, gRPC's default endpoint policy: READY endpoints in rotation, each new picker
//! starting at a random offset so that many clients do not all hit the first endpoint (grpc-go
//! endpointsharding). Endpoint weights are ignored, as in gRPC.
//! No pick ever takes a lock: one relaxed `fetch_add`.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::endpoint::{Connectivity, EndpointHandle, Member, aggregate};
use super::picker::{PickRequest, PickResult, Picker};
use super::rng::AtomicRng;
use super::{Built, no_ready};

/// Builds round-robin pickers.
#[derive(Debug, Default)]
pub(crate) struct RoundRobin;

impl RoundRobin {
    /// A picker over the READY members, or a queue/fail picker when none is ready.
    pub fn build(&mut self, members: &[Member], seed: &AtomicRng, fail: &PickResult) -> Built {
        let state = aggregate(members.iter().map(|m| m.state));
        let ready: Vec<EndpointHandle> = members
            .iter()
            .filter(|m| m.state == Connectivity::Ready)
            .map(|m| m.handle.clone())
            .collect();
        if ready.is_empty() {
            return no_ready(state, members, fail);
        }
        let start = seed.index(ready.len());
        Built::new(
            state,
            RoundRobinPicker {
                ready: ready.into_boxed_slice(),
                next: AtomicUsize::new(start),
            },
        )
    }
}

/// Rotates over a fixed list of READY endpoints.
#[derive(Debug)]
pub(crate) struct RoundRobinPicker {
    ready: Box<[EndpointHandle]>,
    next: AtomicUsize,
}

impl Picker for RoundRobinPicker {
    fn pick(&self, _: &PickRequest) -> PickResult {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        PickResult::Pick(self.ready[n % self.ready.len()].clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balancer::test_util::{fail, members, pick_counts};

    #[test]
    fn each_ready_endpoint_gets_an_even_share() {
        let ms = members(7, Connectivity::Ready);
        let built = RoundRobin.build(&ms, &AtomicRng::new(3), &fail());
        assert_eq!(built.state, Connectivity::Ready);
        let counts = pick_counts(&*built.picker, 7 * 50 + 3, None);
        assert_eq!(counts.len(), 7);
        let (min, max) = (counts.values().min(), counts.values().max());
        assert!(max.zip(min).is_some_and(|(a, b)| a - b <= 1), "{counts:?}");
    }

    #[test]
    fn skips_endpoints_that_are_not_ready() {
        let mut ms = members(3, Connectivity::Ready);
        ms[1].state = Connectivity::TransientFailure;
        let built = RoundRobin.build(&ms, &AtomicRng::new(1), &fail());
        let counts = pick_counts(&*built.picker, 100, None);
        assert!(!counts.contains_key(&ms[1].handle.id()));
        assert_eq!(counts.len(), 2);
    }

    #[test]
    fn start_offset_depends_on_the_seed() {
        let ms = members(50, Connectivity::Ready);
        let first = |seed| {
            let b = RoundRobin.build(&ms, &AtomicRng::new(seed), &fail());
            b.picker
                .pick(&PickRequest::default())
                .endpoint()
                .map(|h| h.id())
        };
        assert!(
            (0..10)
                .map(first)
                .collect::<std::collections::HashSet<_>>()
                .len()
                > 1
        );
    }
}
