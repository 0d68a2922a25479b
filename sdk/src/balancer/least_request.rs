//! least_request (gRFC A48): sample `choice_count` READY endpoints at random (with replacement, as
//! A48 specifies) and take the one with the fewest outstanding requests; on a tie the first
//! sampled wins. `choice_count` defaults to 2; values above 10 are treated as 10. Endpoint weights,
//! `active_request_bias` and slow start are ignored, as in gRPC. Connectivity as round_robin.
//! The in-flight counts are the live atomics the channel maintains; a pick never locks.

use super::endpoint::{Connectivity, EndpointHandle, Member, aggregate};
use super::picker::{PickRequest, PickResult, Picker};
use super::rng::AtomicRng;
use super::{Built, no_ready};

/// Largest least_request `choice_count` honoured (gRFC A48).
pub const MAX_CHOICE_COUNT: u32 = 10;

/// Builds least-request pickers.
#[derive(Debug)]
pub(crate) struct LeastRequest {
    choice_count: u32,
}

impl LeastRequest {
    /// A policy sampling `choice_count` endpoints (clamped to 2..=10).
    pub fn new(choice_count: u32) -> Self {
        LeastRequest {
            choice_count: choice_count.clamp(2, MAX_CHOICE_COUNT),
        }
    }

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
        Built::new(
            state,
            LeastRequestPicker {
                ready: ready.into_boxed_slice(),
                choice_count: self.choice_count,
                rng: AtomicRng::new(seed.next_u64()),
            },
        )
    }
}

/// Fewest-outstanding among random samples.
#[derive(Debug)]
pub(crate) struct LeastRequestPicker {
    ready: Box<[EndpointHandle]>,
    choice_count: u32,
    rng: AtomicRng,
}

impl Picker for LeastRequestPicker {
    fn pick(&self, _: &PickRequest) -> PickResult {
        let n = self.ready.len();
        let mut best = &self.ready[self.rng.index(n)];
        let mut best_load = best.load().in_flight();
        for _ in 1..self.choice_count {
            let candidate = &self.ready[self.rng.index(n)];
            let load = candidate.load().in_flight();
            if load < best_load {
                best = candidate;
                best_load = load;
            }
        }
        PickResult::Pick(best.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balancer::test_util::{fail, members, pick_counts};

    #[test]
    fn prefers_endpoints_with_fewer_requests_in_flight() {
        let ms = members(4, Connectivity::Ready);
        for _ in 0..20 {
            ms[0].handle.load().begin();
            ms[1].handle.load().begin();
        }
        let built = LeastRequest::new(2).build(&ms, &AtomicRng::new(9), &fail());
        let counts = pick_counts(&*built.picker, 4_000, None);
        let busy = counts.get(&ms[0].handle.id()).copied().unwrap_or(0)
            + counts.get(&ms[1].handle.id()).copied().unwrap_or(0);
        // A busy endpoint only wins when both samples are busy: 1/4 of picks.
        assert!(
            (800..1_200).contains(&busy),
            "busy endpoints got {busy} of 4000"
        );
    }

    #[test]
    fn more_choices_concentrate_on_the_idle_endpoint() {
        let ms = members(5, Connectivity::Ready);
        for m in &ms[1..] {
            m.handle.load().begin();
        }
        let built = LeastRequest::new(50).build(&ms, &AtomicRng::new(2), &fail());
        let counts = pick_counts(&*built.picker, 1_000, None);
        // choice_count is capped at 10: P(idle missed) = 0.8^10 ≈ 11 %.
        let idle = counts.get(&ms[0].handle.id()).copied().unwrap_or(0);
        assert!(
            (830..950).contains(&idle),
            "idle endpoint got {idle} of 1000"
        );
    }
}
