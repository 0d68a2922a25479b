//! Per-endpoint weights from backend load reports for `client_side_weighted_round_robin`
//! (gRFC A58), kept lock-free beside the other live load counters.
//!
//! The channel records each ORCA report (per-call trailer or out-of-band, gRFC A51; parsing it is
//! the channel's job) with [`BackendWeight::record`]. The policy reads the weight when it builds a
//! scheduler: `qps / (utilization + eps/qps × error_utilization_penalty)`, or 0 while the endpoint
//! is in its blackout period (reports for less than `blackout_period` since the first non-empty
//! one) or its reports are older than `weight_expiration_period` (which also restarts the
//! blackout). A report with zero qps or zero utilization is ignored, as A58 specifies.
//! `utilization` is the report's `application_utilization` when positive, else `cpu_utilization`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const NEVER: u64 = u64::MAX;

/// One backend load report, as the weight formula needs it.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct LoadReport {
    /// Queries per second.
    pub qps: f64,
    /// Errors per second.
    pub eps: f64,
    /// Utilization (application utilization if reported, else CPU), typically 0..=1.
    pub utilization: f64,
}

/// Weight state of one endpoint; all fields are atomics (`f64` stored as bits).
#[derive(Debug)]
pub struct BackendWeight {
    qps: AtomicU64,
    eps: AtomicU64,
    utilization: AtomicU64,
    non_empty_since: AtomicU64,
    last_updated: AtomicU64,
}

impl Default for BackendWeight {
    fn default() -> Self {
        BackendWeight {
            qps: AtomicU64::new(0),
            eps: AtomicU64::new(0),
            utilization: AtomicU64::new(0),
            non_empty_since: AtomicU64::new(NEVER),
            last_updated: AtomicU64::new(NEVER),
        }
    }
}

/// Why an endpoint's weight is 0, or that it is usable (gRFC A78's WRR metrics count these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WeightState {
    /// A weight from fresh reports, past the blackout.
    Usable,
    /// No report yet, or still in the blackout period.
    NotYetUsable,
    /// The last report is older than the expiration period.
    Stale,
}

/// The A58 timing settings a weight lookup applies.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct WeightRules {
    pub blackout: Duration,
    pub expiration: Duration,
    pub error_penalty: f64,
}

impl BackendWeight {
    /// Records a load report received at clock time `now` (nanos); empty reports are ignored.
    pub fn record(&self, report: LoadReport, now: u64) {
        let valid = |v: f64| v.is_finite() && v > 0.0;
        if !valid(report.qps) || !valid(report.utilization) {
            return;
        }
        let eps = if report.eps.is_finite() {
            report.eps.max(0.0)
        } else {
            0.0
        };
        self.qps.store(report.qps.to_bits(), Ordering::Relaxed);
        self.eps.store(eps.to_bits(), Ordering::Relaxed);
        self.utilization
            .store(report.utilization.to_bits(), Ordering::Relaxed);
        let _ =
            self.non_empty_since
                .compare_exchange(NEVER, now, Ordering::Relaxed, Ordering::Relaxed);
        self.last_updated.store(now, Ordering::Release);
    }

    /// Restarts the blackout period (A58: when the endpoint becomes READY again).
    pub fn restart_blackout(&self) {
        self.non_empty_since.store(NEVER, Ordering::Relaxed);
    }

    /// The weight at `now`, 0 when unknown, blacked out or expired.
    #[cfg(test)]
    pub(crate) fn weight(&self, now: u64, rules: &WeightRules) -> f64 {
        self.weight_state(now, rules).0
    }

    /// The weight at `now` and its state; the weight is 0 unless the state is usable.
    pub(crate) fn weight_state(&self, now: u64, rules: &WeightRules) -> (f64, WeightState) {
        let last = self.last_updated.load(Ordering::Acquire);
        if last == NEVER {
            return (0.0, WeightState::NotYetUsable);
        }
        if now.saturating_sub(last) >= nanos(rules.expiration) {
            self.non_empty_since.store(NEVER, Ordering::Relaxed);
            return (0.0, WeightState::Stale);
        }
        let since = self.non_empty_since.load(Ordering::Relaxed);
        let blackout = nanos(rules.blackout);
        if blackout > 0 && (since == NEVER || now.saturating_sub(since) < blackout) {
            return (0.0, WeightState::NotYetUsable);
        }
        let load = |a: &AtomicU64| f64::from_bits(a.load(Ordering::Relaxed));
        let (qps, eps, utilization) = (load(&self.qps), load(&self.eps), load(&self.utilization));
        let weight = qps / (utilization + eps / qps * rules.error_penalty);
        (weight, WeightState::Usable)
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn rules() -> WeightRules {
        WeightRules {
            blackout: Duration::from_secs(10),
            expiration: Duration::from_secs(180),
            error_penalty: 1.0,
        }
    }

    fn report(qps: f64, eps: f64, utilization: f64) -> LoadReport {
        LoadReport {
            qps,
            eps,
            utilization,
        }
    }

    #[test]
    fn weight_follows_the_a58_formula_after_blackout() {
        let w = BackendWeight::default();
        w.record(report(100.0, 10.0, 0.4), 0);
        assert_eq!(w.weight(5 * S, &rules()), 0.0, "blacked out");
        // 100 / (0.4 + 10/100 × 1.0) = 200
        assert!((w.weight(10 * S, &rules()) - 200.0).abs() < 1e-9);
    }

    #[test]
    fn empty_reports_are_ignored_and_stale_weights_expire() {
        let w = BackendWeight::default();
        w.record(report(0.0, 0.0, 0.5), 0);
        w.record(report(10.0, 0.0, 0.0), 0);
        assert_eq!(w.weight(20 * S, &rules()), 0.0);
        w.record(report(10.0, 0.0, 0.5), 0);
        assert_eq!(w.weight(20 * S, &rules()), 20.0);
        assert_eq!(w.weight(180 * S, &rules()), 0.0, "expired");
        // Fresh reports after expiry go through the blackout again.
        w.record(report(10.0, 0.0, 0.5), 181 * S);
        assert_eq!(w.weight(185 * S, &rules()), 0.0);
        assert_eq!(w.weight(191 * S, &rules()), 20.0);
    }

    #[test]
    fn becoming_ready_restarts_the_blackout() {
        let w = BackendWeight::default();
        w.record(report(10.0, 0.0, 0.5), 0);
        w.restart_blackout();
        w.record(report(10.0, 0.0, 0.5), 20 * S);
        assert_eq!(w.weight(25 * S, &rules()), 0.0);
        assert_eq!(w.weight(30 * S, &rules()), 20.0);
    }
}
