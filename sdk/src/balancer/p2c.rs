//! Power of two choices over peak-EWMA latency, Linkerd's default balancer (linkerd2-proxy over
//! tower `balance::p2c` + `load::PeakEwma`). Each pick draws two distinct READY endpoints at
//! random and takes the lower cost, cost = latency estimate × (in-flight + 1); endpoints without a
//! sample cost `default_rtt` (30 ms), and estimates decay toward zero with time constant `decay`
//! (10 s) so a slow endpoint is retried once it has been left alone. Configured by Meshwork's
//! `meshwork.lb.peak_ewma` policy (see `xds::resource::cluster::lb_policy`).
//!
//! Unlike tower, nothing is polled per pick and no lock is taken: readiness comes from the
//! connectivity snapshot, load from atomics. Time comes from the injected [`Clock`].

use std::time::Duration;

use crate::xds::resource::cluster::PeakEwmaConfig;

use super::endpoint::{Connectivity, EndpointHandle, Member, aggregate};
use super::ewma::Clock;
use super::picker::{PickRequest, PickResult, Picker};
use super::rng::AtomicRng;
use super::{Built, no_ready};

/// Builds p2c peak-EWMA pickers.
#[derive(Debug)]
pub(crate) struct P2c {
    config: PeakEwmaConfig,
    clock: Clock,
}

impl P2c {
    /// A policy with these settings reading time from `clock`.
    pub fn new(config: PeakEwmaConfig, clock: Clock) -> Self {
        P2c { config, clock }
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
            P2cPicker {
                ready: ready.into_boxed_slice(),
                decay: self.config.decay,
                default_rtt: self.config.default_rtt,
                clock: self.clock.clone(),
                rng: AtomicRng::new(seed.next_u64()),
            },
        )
    }
}

/// Two random choices, lower peak-EWMA cost wins.
#[derive(Debug)]
pub(crate) struct P2cPicker {
    ready: Box<[EndpointHandle]>,
    decay: Duration,
    default_rtt: Duration,
    clock: Clock,
    rng: AtomicRng,
}

impl P2cPicker {
    fn cost(&self, e: &EndpointHandle, now: u64) -> f64 {
        let load = e.load();
        let latency = load.latency().estimate(now, self.decay, self.default_rtt);
        latency * f64::from(load.in_flight().saturating_add(1))
    }
}

impl Picker for P2cPicker {
    fn pick(&self, _: &PickRequest) -> PickResult {
        let n = self.ready.len();
        if n == 1 {
            return PickResult::Pick(self.ready[0].clone());
        }
        let r = self.rng.next_u64();
        let i = ((u128::from(r as u32) * n as u128) >> 32) as usize;
        let offset = 1 + ((u128::from(r >> 32) * (n - 1) as u128) >> 32) as usize;
        let j = if i + offset >= n {
            i + offset - n
        } else {
            i + offset
        };
        let (a, b) = (&self.ready[i], &self.ready[j]);
        // Both estimates decay by the same factor from the later update to now, so their order
        // at that time is their order now: no clock read and a single `exp`. Two unseeded
        // endpoints do not decay at all. Only a seeded/unseeded pair needs the real time.
        let (ta, tb) = (
            a.load().latency().last_update(),
            b.load().latency().last_update(),
        );
        let now = match (ta, tb) {
            (Some(ta), Some(tb)) => ta.max(tb),
            (None, None) => 0,
            _ => self.clock.now_nanos(),
        };
        let chosen = if self.cost(b, now) < self.cost(a, now) {
            b
        } else {
            a
        };
        PickResult::Pick(chosen.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balancer::test_util::{fail, members, pick_counts};

    fn config() -> PeakEwmaConfig {
        PeakEwmaConfig {
            default_rtt: Duration::from_millis(30),
            decay: Duration::from_secs(10),
        }
    }

    #[test]
    fn prefers_the_faster_endpoint() {
        let clock = Clock::manual();
        let ms = members(2, Connectivity::Ready);
        let decay = config().decay;
        ms[0]
            .handle
            .load()
            .latency()
            .observe(Duration::from_millis(5), 0, decay);
        ms[1]
            .handle
            .load()
            .latency()
            .observe(Duration::from_millis(80), 0, decay);
        let built = P2c::new(config(), clock).build(&ms, &AtomicRng::new(4), &fail());
        let counts = pick_counts(&*built.picker, 1_000, None);
        assert_eq!(counts.get(&ms[0].handle.id()), Some(&1_000));
    }

    #[test]
    fn load_shifts_traffic_to_the_slower_endpoint() {
        let clock = Clock::manual();
        let ms = members(2, Connectivity::Ready);
        let decay = config().decay;
        ms[0]
            .handle
            .load()
            .latency()
            .observe(Duration::from_millis(10), 0, decay);
        ms[1]
            .handle
            .load()
            .latency()
            .observe(Duration::from_millis(30), 0, decay);
        for _ in 0..5 {
            ms[0].handle.load().begin(); // 10 ms × 6 > 30 ms × 1
        }
        let built = P2c::new(config(), clock).build(&ms, &AtomicRng::new(4), &fail());
        let pick = built.picker.pick(&PickRequest::default());
        assert_eq!(pick.endpoint().map(|h| h.id()), Some(ms[1].handle.id()));
    }

    #[test]
    fn a_slow_endpoint_is_retried_after_its_estimate_decays() {
        let clock = Clock::manual();
        let ms = members(2, Connectivity::Ready);
        let decay = config().decay;
        // Endpoint 1 was slow long ago; endpoint 0 is unseeded (30 ms default).
        ms[1]
            .handle
            .load()
            .latency()
            .observe(Duration::from_millis(200), 0, decay);
        let built = P2c::new(config(), clock.clone()).build(&ms, &AtomicRng::new(4), &fail());
        let winner = || {
            built
                .picker
                .pick(&PickRequest::default())
                .endpoint()
                .map(|h| h.id())
        };
        assert_eq!(winner(), Some(ms[0].handle.id()));
        clock.advance(Duration::from_secs(30)); // 200 ms × e^-3 ≈ 10 ms < 30 ms
        assert_eq!(winner(), Some(ms[1].handle.id()));
    }

    #[test]
    fn the_two_choices_are_distinct() {
        let ms = members(3, Connectivity::Ready);
        for _ in 0..3 {
            ms[0].handle.load().begin();
        }
        let built = P2c::new(config(), Clock::manual()).build(&ms, &AtomicRng::new(5), &fail());
        // With distinct choices the loaded endpoint always loses.
        let counts = pick_counts(&*built.picker, 600, None);
        assert!(!counts.contains_key(&ms[0].handle.id()), "{counts:?}");
    }
}
