//! Live per-endpoint request statistics for the admin endpoint: completed requests, failed
//! requests and a latency histogram, recorded on the request path with a few relaxed atomic adds
//! (no lock, no allocation), and turned into windowed rates (requests/s, error rate, p50/p99)
//! off the request path by whoever reads them.
//!
//! The histogram is log-bucketed: each power of two of microseconds is split into
//! [`SUB_BUCKETS`] equal steps, so a quantile is reported within ~19% of the true value (the
//! bucket's upper bound, never below the true value) from 1 µs to about a minute; longer
//! latencies land in the last bucket. Rates need two samples: [`EndpointStats::rates`] keeps the
//! previous totals (reader side, behind a lock the request path never takes) and reports the
//! last completed window of at least [`WINDOW`]; before the first window completes it reports the
//! partial one. This module does not pick and does not export telemetry (that is `telemetry`).

use std::sync::Mutex;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Steps per power of two in the latency histogram.
pub const SUB_BUCKETS: usize = 4;
/// Powers of two of microseconds covered (2^26 µs ≈ 67 s).
const OCTAVES: usize = 27;
/// Number of histogram buckets.
pub const BUCKETS: usize = OCTAVES * SUB_BUCKETS;
/// The shortest window rates are computed over once a first window has completed.
pub const WINDOW: Duration = Duration::from_secs(1);

/// A lock-free latency histogram with log-spaced buckets.
#[derive(Debug)]
pub struct LatencyHistogram {
    buckets: [AtomicU64; BUCKETS],
}

/// Counts read from a [`LatencyHistogram`] at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistogramSample {
    counts: [u64; BUCKETS],
}

/// Request counters of one endpoint; see the module docs. The first window starts when the
/// counters are created (tokio time).
#[derive(Debug)]
pub struct EndpointStats {
    requests: AtomicU64,
    errors: AtomicU64,
    latency: LatencyHistogram,
    window: Mutex<Window>,
}

/// Totals at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Totals {
    /// Completed requests.
    pub requests: u64,
    /// Requests that ended with a status other than OK.
    pub errors: u64,
    /// Their latencies.
    pub latency: HistogramSample,
}

/// Rates over a window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rates {
    /// Completed requests per second.
    pub requests_per_sec: f64,
    /// Failed share of the window's requests, 0-1.
    pub error_rate: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
}

#[derive(Debug)]
struct Window {
    base: (Instant, Totals),
    last: Option<Rates>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl LatencyHistogram {
    /// Counts one latency.
    pub fn record(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.buckets[bucket_of(micros)].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn sample(&self) -> HistogramSample {
        HistogramSample {
            counts: std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
        }
    }
}

impl HistogramSample {
    /// The counts recorded since `earlier`.
    pub fn since(&self, earlier: &HistogramSample) -> HistogramSample {
        HistogramSample {
            counts: std::array::from_fn(|i| self.counts[i].saturating_sub(earlier.counts[i])),
        }
    }

    /// Latencies counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The `q` quantile (0-1), as the upper bound of its bucket; zero when nothing was counted.
    pub fn quantile(&self, q: f64) -> Duration {
        let total = self.count();
        if total == 0 {
            return Duration::ZERO;
        }
        // The rank of the wanted sample, 1-based: ceil(q × total), at least 1.
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Duration::from_micros(upper_bound(i));
            }
        }
        Duration::from_micros(upper_bound(BUCKETS - 1))
    }
}

/// The bucket of a latency of `micros`: bucket `o × SUB_BUCKETS + s` holds
/// `[2^o + s·2^o/SUB, 2^o + (s+1)·2^o/SUB)` µs (octave 0 also holds 0 µs).
fn bucket_of(micros: u64) -> usize {
    let v = micros.max(1);
    let octave = 63 - v.leading_zeros() as usize;
    if octave >= OCTAVES {
        return BUCKETS - 1;
    }
    // The bits right below the leading one select the step; octaves below 2 have fewer of them.
    let step = if octave >= 2 {
        ((v >> (octave - 2)) & 0b11) as usize
    } else {
        ((v << (2 - octave)) & 0b11) as usize
    };
    octave * SUB_BUCKETS + step
}

/// The largest latency (µs, inclusive) bucket `i` holds.
fn upper_bound(i: usize) -> u64 {
    let octave = i / SUB_BUCKETS;
    let step = (i % SUB_BUCKETS) as u64;
    let base = 1u64 << octave;
    let next = (base * (SUB_BUCKETS as u64 + step + 1)).div_ceil(SUB_BUCKETS as u64);
    next.saturating_sub(1).max(base)
}

impl Default for EndpointStats {
    fn default() -> Self {
        EndpointStats {
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            latency: LatencyHistogram::default(),
            window: Mutex::new(Window {
                base: (Instant::now(), Totals::zero()),
                last: None,
            }),
        }
    }
}

impl EndpointStats {
    /// Counts one completed request (request path: atomic adds only).
    pub fn record(&self, latency: Duration, failed: bool) {
        self.latency.record(latency);
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// The totals since the endpoint was created.
    pub fn totals(&self) -> Totals {
        Totals {
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            latency: self.latency.sample(),
        }
    }

    /// The recent rates as of `now`; see the module docs. Off the request path only.
    pub fn rates(&self, now: Instant) -> Rates {
        let totals = self.totals();
        let mut w = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        let elapsed = now.saturating_duration_since(w.base.0);
        if elapsed < WINDOW
            && let Some(last) = w.last
        {
            return last;
        }
        let rates = Rates::between(&w.base.1, &totals, elapsed);
        if elapsed >= WINDOW {
            w.base = (now, totals);
            w.last = Some(rates);
        }
        rates
    }
}

impl Totals {
    fn zero() -> Totals {
        Totals {
            requests: 0,
            errors: 0,
            latency: HistogramSample {
                counts: [0; BUCKETS],
            },
        }
    }
}

impl Rates {
    /// The rates between two totals taken `elapsed` apart.
    pub fn between(before: &Totals, after: &Totals, elapsed: Duration) -> Rates {
        let requests = after.requests.saturating_sub(before.requests);
        let errors = after.errors.saturating_sub(before.errors);
        let latency = after.latency.since(&before.latency);
        let secs = elapsed.as_secs_f64();
        Rates {
            requests_per_sec: if secs > 0.0 {
                requests as f64 / secs
            } else {
                0.0
            },
            error_rate: if requests > 0 {
                (errors.min(requests)) as f64 / requests as f64
            } else {
                0.0
            },
            p50: latency.quantile(0.5),
            p99: latency.quantile(0.99),
        }
    }
}

#[cfg(test)]
mod tests;
