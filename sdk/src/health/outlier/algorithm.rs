//! The two ejection algorithms of gRFC A50, over one interval's call counts.
//!
//! Success rate: runs only when at least `minimum_hosts` endpoints had `request_volume` calls;
//! over those, the threshold is `mean − stdev × stdev_factor / 1000` of their success fractions
//! (population standard deviation), and each one under it is ejected if a draw in `[0, 100)` is
//! below `enforcement_percentage`. Failure percentage: same volume gate, then each endpoint whose
//! failure percentage is above `threshold` is ejected with the same enforcement draw. Both stop as
//! soon as the ejected share reaches `max_ejection_percent` ([`EjectionCap`]). Endpoints already
//! ejected are not ejected again (they still count toward the statistics and the cap). Outliers
//! left standing are reported with why (gRFC A91 `unenforced_reason`): the enforcement draw, or
//! the cap already reached. These functions only choose; the detector applies ejections and
//! times them.

use crate::balancer::{AtomicRng, EndpointId};
use crate::telemetry::UnenforcedReason;
use crate::xds::resource::cluster::outlier::{FailurePercentageEjection, SuccessRateEjection};

/// One endpoint's view for this interval.
#[derive(Clone, Copy, Debug)]
pub(super) struct Candidate {
    pub id: EndpointId,
    pub successes: u64,
    pub failures: u64,
    pub ejected: bool,
}

impl Candidate {
    fn volume(&self) -> u64 {
        self.successes.saturating_add(self.failures)
    }
}

/// `max_ejection_percent` over all endpoints of the detector.
#[derive(Clone, Copy, Debug)]
pub(super) struct EjectionCap {
    pub total: usize,
    pub ejected: usize,
    pub max_percent: u32,
}

impl EjectionCap {
    /// Whether another ejection is allowed: the ejected share is still below the maximum. With
    /// nothing ejected any positive percentage allows one (A50: "at least one").
    pub fn allows_one_more(&self) -> bool {
        (self.ejected as u128) * 100 < u128::from(self.max_percent) * self.total as u128
    }
}

/// What one algorithm decided in one interval.
#[derive(Debug, Default)]
pub(super) struct Verdict {
    /// Endpoints to eject.
    pub ejected: Vec<EndpointId>,
    /// Outliers not ejected, and why.
    pub unenforced: Vec<UnenforcedReason>,
}

/// Endpoints the success-rate algorithm ejects (marked `ejected` in `candidates`).
pub(super) fn success_rate(
    config: &SuccessRateEjection,
    candidates: &mut [Candidate],
    cap: &mut EjectionCap,
    rng: &AtomicRng,
) -> Verdict {
    let volume = u64::from(config.request_volume);
    let rates: Vec<f64> = candidates
        .iter()
        .filter(|c| c.volume() >= volume && c.volume() > 0)
        .map(|c| c.successes as f64 / c.volume() as f64)
        .collect();
    if rates.is_empty() || rates.len() < config.minimum_hosts as usize {
        return Verdict::default();
    }
    let n = rates.len() as f64;
    let mean = rates.iter().sum::<f64>() / n;
    let variance = rates.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n;
    let threshold = mean - variance.sqrt() * (f64::from(config.stdev_factor) / 1000.0);
    eject_where(candidates, cap, rng, config.enforcement_percentage, |c| {
        c.volume() >= volume
            && c.volume() > 0
            && (c.successes as f64 / c.volume() as f64) < threshold
    })
}

/// Endpoints the failure-percentage algorithm ejects (marked `ejected` in `candidates`).
pub(super) fn failure_percentage(
    config: &FailurePercentageEjection,
    candidates: &mut [Candidate],
    cap: &mut EjectionCap,
    rng: &AtomicRng,
) -> Verdict {
    let volume = u64::from(config.request_volume);
    let qualified = candidates
        .iter()
        .filter(|c| c.volume() >= volume && c.volume() > 0)
        .count();
    if qualified == 0 || qualified < config.minimum_hosts as usize {
        return Verdict::default();
    }
    let threshold = u128::from(config.threshold);
    eject_where(candidates, cap, rng, config.enforcement_percentage, |c| {
        // failures / volume × 100 > threshold, in exact integers.
        c.volume() >= volume
            && c.volume() > 0
            && u128::from(c.failures) * 100 > threshold * u128::from(c.volume())
    })
}

/// Walks the candidates in order, ejecting outliers while the cap allows and the enforcement
/// draw says so; a draw is made only for an outlier the cap allows.
fn eject_where(
    candidates: &mut [Candidate],
    cap: &mut EjectionCap,
    rng: &AtomicRng,
    enforcement_percentage: u32,
    is_outlier: impl Fn(&Candidate) -> bool,
) -> Verdict {
    let mut verdict = Verdict::default();
    for c in candidates.iter_mut() {
        if c.ejected || !is_outlier(c) {
            continue;
        }
        if !cap.allows_one_more() {
            verdict
                .unenforced
                .push(UnenforcedReason::MaxEjectionOverflow);
        } else if rng.below(100) < u64::from(enforcement_percentage) {
            c.ejected = true;
            cap.ejected += 1;
            verdict.ejected.push(c.id);
        } else {
            verdict
                .unenforced
                .push(UnenforcedReason::EnforcementPercentage);
        }
    }
    verdict
}
