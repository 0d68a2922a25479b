//! The per-endpoint call counter of gRFC A50, bumped lock-free on the request path.
//!
//! A50 (after Envoy) keeps two buckets of success/failure counts: the active one collects calls,
//! and each interval the detector swaps it with the inactive one to read a stable snapshot. Here
//! the active bucket is a pair of atomics and the swap is an atomic exchange with zero, which
//! hands the detector the finished interval's counts and starts a fresh one without ever losing
//! a call (a call finishing during the swap lands in the next interval). A status other than OK
//! is a failure, as gRPC's implementations count it.
//!
//! Meshwork extension (not in A50): a streak of consecutive server errors, Envoy's
//! `consecutive_5xx` read through Envoy's gRPC → HTTP status mapping (`grpcToHttpStatus`): the
//! codes Envoy reports as a 5xx are UNKNOWN, INTERNAL, DATA_LOSS (500), UNIMPLEMENTED (501),
//! UNAVAILABLE (503) and DEADLINE_EXCEEDED (504). Any other status ends the streak.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use tonic::Code;

/// Call results of one endpoint in the current interval.
#[derive(Debug, Default)]
pub struct CallCounter {
    successes: AtomicU64,
    failures: AtomicU64,
    streak: AtomicU32,
    /// Whether any algorithm is on (A50: no counting otherwise).
    counting: AtomicBool,
    /// Consecutive server errors that trigger ejection; 0 = extension off.
    streak_threshold: AtomicU32,
}

/// What [`CallCounter::record`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "StreakReached asks the owner to call OutlierDetector::on_consecutive_failures"]
pub enum Recorded {
    /// Outlier detection is off for this endpoint's cluster; nothing was counted.
    Ignored,
    /// Counted.
    Counted,
    /// Counted, and this failure completed a streak of consecutive server errors: the owner
    /// should call [`OutlierDetector::on_consecutive_failures`](super::OutlierDetector::on_consecutive_failures).
    StreakReached,
}

impl CallCounter {
    /// Records a finished call with its final status code.
    pub fn record(&self, code: Code) -> Recorded {
        if !self.counting.load(Ordering::Relaxed) {
            return Recorded::Ignored;
        }
        let bucket = if code == Code::Ok {
            &self.successes
        } else {
            &self.failures
        };
        bucket.fetch_add(1, Ordering::Relaxed);
        let threshold = self.streak_threshold.load(Ordering::Relaxed);
        if threshold == 0 {
            return Recorded::Counted;
        }
        if !is_server_error(code) {
            self.streak.store(0, Ordering::Relaxed);
            return Recorded::Counted;
        }
        let streak = self
            .streak
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if streak == threshold {
            Recorded::StreakReached
        } else {
            Recorded::Counted
        }
    }

    /// Current run of consecutive server errors (0 when the extension is off).
    pub fn streak(&self) -> u32 {
        self.streak.load(Ordering::Relaxed)
    }

    /// Swaps the buckets: returns `(successes, failures)` since the last swap and starts anew.
    pub(super) fn take(&self) -> (u64, u64) {
        (
            self.successes.swap(0, Ordering::Relaxed),
            self.failures.swap(0, Ordering::Relaxed),
        )
    }

    /// Zeroes everything (a new timer start, A50).
    pub(super) fn reset(&self) {
        self.take();
        self.reset_streak();
    }

    pub(super) fn reset_streak(&self) {
        self.streak.store(0, Ordering::Relaxed);
    }

    pub(super) fn configure(&self, counting: bool, streak_threshold: u32) {
        self.counting.store(counting, Ordering::Relaxed);
        self.streak_threshold
            .store(streak_threshold, Ordering::Relaxed);
    }
}

/// Whether a status is a "5xx" for the consecutive-failure extension (Envoy's gRPC → HTTP
/// mapping: UNKNOWN, INTERNAL, DATA_LOSS, UNIMPLEMENTED, UNAVAILABLE, DEADLINE_EXCEEDED).
pub fn is_server_error(code: Code) -> bool {
    matches!(
        code,
        Code::Unknown
            | Code::Internal
            | Code::DataLoss
            | Code::Unimplemented
            | Code::Unavailable
            | Code::DeadlineExceeded
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_when_enabled_and_swaps_buckets() {
        let c = CallCounter::default();
        assert_eq!(c.record(Code::Ok), Recorded::Ignored);
        c.configure(true, 0);
        for code in [Code::Ok, Code::Ok, Code::NotFound, Code::Unavailable] {
            assert_eq!(c.record(code), Recorded::Counted);
        }
        assert_eq!(c.take(), (2, 2));
        assert_eq!(c.take(), (0, 0), "the swap starts a fresh interval");
    }

    #[test]
    fn streak_of_server_errors_signals_once() {
        let c = CallCounter::default();
        c.configure(true, 3);
        assert_eq!(c.record(Code::Unavailable), Recorded::Counted);
        assert_eq!(c.record(Code::Internal), Recorded::Counted);
        // A client-side error is not a 5xx: the streak restarts.
        assert_eq!(c.record(Code::InvalidArgument), Recorded::Counted);
        assert_eq!(c.streak(), 0);
        assert_eq!(c.record(Code::DeadlineExceeded), Recorded::Counted);
        assert_eq!(c.record(Code::Unknown), Recorded::Counted);
        assert_eq!(c.record(Code::Unavailable), Recorded::StreakReached);
        assert_eq!(
            c.record(Code::Unavailable),
            Recorded::Counted,
            "signalled once per streak"
        );
        assert_eq!(c.record(Code::Ok), Recorded::Counted);
        assert_eq!(c.streak(), 0);
    }

    #[test]
    fn server_error_mapping() {
        let five_xx = [
            Code::Unknown,
            Code::Internal,
            Code::DataLoss,
            Code::Unimplemented,
            Code::Unavailable,
            Code::DeadlineExceeded,
        ];
        for code in five_xx {
            assert!(is_server_error(code), "{code:?}");
        }
        for code in [
            Code::Ok,
            Code::Cancelled,
            Code::NotFound,
            Code::ResourceExhausted,
        ] {
            assert!(!is_server_error(code), "{code:?}");
        }
    }
}
