//! Counts of the calls a greeter backend has served, by final gRPC status code, for test
//! assertions and the demo.
//!
//! Lock-free (one atomic per code); a call is counted when it ends. A call the client abandons
//! (cancelled, deadline passed, connection cut) is counted as `CANCELLED`. Counting only: no
//! latency histograms (the SDK's telemetry owns those).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tonic::Code;

/// The number of gRPC status codes (`OK` = 0 ..= `UNAUTHENTICATED` = 16).
const CODES: usize = 17;

/// Shared counters of served calls; clones count into the same totals.
#[derive(Debug, Clone, Default)]
pub struct Served {
    inner: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    by_code: [AtomicU64; CODES],
    in_flight: AtomicU64,
}

/// One call in progress; counts as `CANCELLED` if dropped before [`CallGuard::finish`].
#[derive(Debug)]
pub struct CallGuard {
    served: Served,
    finished: bool,
}

impl Served {
    /// Fresh counters, all zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls that ended, whatever their code.
    pub fn total(&self) -> u64 {
        self.inner
            .by_code
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// Calls that ended with `code`.
    pub fn count(&self, code: Code) -> u64 {
        self.inner
            .by_code
            .get(code as usize)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Calls that ended OK.
    pub fn ok(&self) -> u64 {
        self.count(Code::Ok)
    }

    /// Calls that ended with any code but OK.
    pub fn failed(&self) -> u64 {
        self.total() - self.ok()
    }

    /// Calls started and not yet ended.
    pub fn in_flight(&self) -> u64 {
        self.inner.in_flight.load(Ordering::Relaxed)
    }

    /// Every code with a non-zero count, in code order.
    pub fn by_code(&self) -> Vec<(Code, u64)> {
        (0..CODES)
            .filter_map(|i| {
                let n = self.inner.by_code[i].load(Ordering::Relaxed);
                let code = Code::from_i32(i32::try_from(i).ok()?);
                (n > 0).then_some((code, n))
            })
            .collect()
    }

    /// Zeroes the per-code counts (calls in flight stay counted as in flight).
    pub fn reset(&self) {
        for c in &self.inner.by_code {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// Starts counting one call.
    pub fn begin(&self) -> CallGuard {
        self.inner.in_flight.fetch_add(1, Ordering::Relaxed);
        CallGuard {
            served: self.clone(),
            finished: false,
        }
    }

    fn end(&self, code: Code) {
        self.inner.in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Some(c) = self.inner.by_code.get(code as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl CallGuard {
    /// Ends the call with `code`.
    pub fn finish(mut self, code: Code) {
        self.finished = true;
        self.served.end(code);
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.served.end(Code::Cancelled);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_code_and_abandoned_calls_as_cancelled() {
        let served = Served::new();
        served.begin().finish(Code::Ok);
        served.begin().finish(Code::Unavailable);
        let hung = served.begin();
        assert_eq!(served.in_flight(), 1);
        drop(hung);
        assert_eq!(served.total(), 3);
        assert_eq!(served.ok(), 1);
        assert_eq!(served.failed(), 2);
        assert_eq!(
            served.by_code(),
            vec![(Code::Ok, 1), (Code::Cancelled, 1), (Code::Unavailable, 1)]
        );
        assert_eq!(served.in_flight(), 0);
        served.reset();
        assert_eq!(served.total(), 0);
    }
}
