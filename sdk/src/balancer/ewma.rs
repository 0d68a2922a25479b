//! The injected clock and a lock-free peak-EWMA latency estimator, after Linkerd's balancer
//! (tower `load::PeakEwma`): a sample above the estimate replaces it at once (the "peak"), a lower
//! one is blended in with weight `1 - e^(-elapsed/decay)`, and reading the estimate later decays
//! it toward zero, so an endpoint that stopped getting traffic is tried again.
//!
//! Time is nanoseconds since a `tokio::time::Instant` epoch (paused in tests), or a manual clock
//! the test moves. The estimator is two atomics; concurrent updates may lose a sample (a relaxed
//! race, like tower's per-endpoint mutex would serialise) but never block and never tear a value.
//! This module does not choose endpoints.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Marker for "no sample yet".
const UNSEEDED: u64 = u64::MAX;

/// Where balancer code reads "now" from: tokio time, or a clock a test moves by hand.
#[derive(Clone, Debug)]
pub struct Clock(ClockKind);

#[derive(Clone, Debug)]
enum ClockKind {
    Tokio(tokio::time::Instant),
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// A clock on tokio time, its epoch the current instant (honours `start_paused` in tests).
    pub fn tokio() -> Self {
        Clock(ClockKind::Tokio(tokio::time::Instant::now()))
    }

    /// A clock that only moves when [`Clock::advance`] is called; starts at 0.
    pub fn manual() -> Self {
        Clock(ClockKind::Manual(Arc::new(AtomicU64::new(0))))
    }

    /// Nanoseconds since the clock's epoch.
    pub fn now_nanos(&self) -> u64 {
        match &self.0 {
            ClockKind::Tokio(epoch) => {
                u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1)
            }
            ClockKind::Manual(t) => t.load(Ordering::Relaxed),
        }
    }

    /// Moves a manual clock forward; does nothing on a tokio clock (use `tokio::time::advance`).
    pub fn advance(&self, by: Duration) {
        if let ClockKind::Manual(t) = &self.0 {
            t.fetch_add(saturating_nanos(by), Ordering::Relaxed);
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::tokio()
    }
}

/// A peak-sensitive exponentially weighted moving average of response latency, in nanoseconds.
#[derive(Debug)]
pub struct PeakEwma {
    /// The estimate, as `f64` bits.
    estimate: AtomicU64,
    /// When the estimate was last updated (clock nanos), or [`UNSEEDED`].
    stamp: AtomicU64,
}

impl Default for PeakEwma {
    fn default() -> Self {
        PeakEwma {
            estimate: AtomicU64::new(0f64.to_bits()),
            stamp: AtomicU64::new(UNSEEDED),
        }
    }
}

impl PeakEwma {
    /// Folds in one observed round-trip time, at clock time `now` (nanos).
    pub fn observe(&self, rtt: Duration, now: u64, decay: Duration) {
        let rtt = saturating_nanos(rtt) as f64;
        let stamp = self.stamp.swap(now, Ordering::AcqRel);
        let next = if stamp == UNSEEDED {
            rtt
        } else {
            let prior = f64::from_bits(self.estimate.load(Ordering::Acquire));
            if rtt > prior {
                rtt
            } else {
                let w = weight(now.saturating_sub(stamp), decay);
                prior * w + rtt * (1.0 - w)
            }
        };
        self.estimate.store(next.to_bits(), Ordering::Release);
    }

    /// The last update time (clock nanos), or `None` before the first sample.
    pub fn last_update(&self) -> Option<u64> {
        match self.stamp.load(Ordering::Acquire) {
            UNSEEDED => None,
            t => Some(t),
        }
    }

    /// The estimate at clock time `now`, decayed toward zero since the last sample;
    /// `default_rtt` when no sample has been seen.
    pub fn estimate(&self, now: u64, decay: Duration, default_rtt: Duration) -> f64 {
        let stamp = self.stamp.load(Ordering::Acquire);
        if stamp == UNSEEDED {
            return saturating_nanos(default_rtt) as f64;
        }
        let prior = f64::from_bits(self.estimate.load(Ordering::Acquire));
        prior * weight(now.saturating_sub(stamp), decay)
    }
}

/// `e^(-elapsed/decay)`: how much of the old estimate survives `elapsed` nanos.
fn weight(elapsed: u64, decay: Duration) -> f64 {
    if elapsed == 0 {
        return 1.0;
    }
    let decay = saturating_nanos(decay).max(1) as f64;
    (-(elapsed as f64) / decay).exp()
}

fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DECAY: Duration = Duration::from_secs(10);
    const DEFAULT: Duration = Duration::from_millis(30);

    #[test]
    fn unseeded_uses_default_rtt() {
        let e = PeakEwma::default();
        assert_eq!(e.estimate(5, DECAY, DEFAULT), 30_000_000.0);
    }

    #[test]
    fn peak_replaces_and_lower_samples_blend() {
        let e = PeakEwma::default();
        e.observe(Duration::from_millis(10), 0, DECAY);
        e.observe(Duration::from_millis(100), 0, DECAY);
        assert_eq!(
            e.estimate(0, DECAY, DEFAULT),
            100_000_000.0,
            "a peak replaces"
        );
        // One decay time later a 0 ms sample keeps e^-1 of the old estimate.
        e.observe(Duration::ZERO, 10_000_000_000, DECAY);
        let est = e.estimate(10_000_000_000, DECAY, DEFAULT);
        assert!(
            (est - 100_000_000.0 / std::f64::consts::E).abs() < 1.0,
            "{est}"
        );
    }

    #[test]
    fn idle_estimate_decays_toward_zero() {
        let e = PeakEwma::default();
        e.observe(Duration::from_millis(50), 0, DECAY);
        let later = e.estimate(60_000_000_000, DECAY, DEFAULT);
        assert!(later < 200_000.0, "after 6 decay times: {later}");
    }

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let c = Clock::manual();
        assert_eq!(c.now_nanos(), 0);
        c.advance(Duration::from_millis(3));
        assert_eq!(c.now_nanos(), 3_000_000);
    }

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_time() {
        let c = Clock::tokio();
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(c.now_nanos(), 2_000_000_000);
    }
}
