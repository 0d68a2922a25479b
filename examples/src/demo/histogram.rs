//! [`LatencyHistogram`]: a fixed-size log-linear latency histogram (16 buckets per power of two,
//! so quantiles are within ~6%), for the demo's whole-run percentiles.
//!
//! Not a general metrics library: microsecond resolution, no merging, no export. The SDK's
//! telemetry (gRFC A66 instruments) owns real latency metrics; this only feeds the demo's summary.

use std::time::Duration;

/// Values below this many microseconds get one bucket each.
const LINEAR: u64 = 32;
/// Buckets per power of two above [`LINEAR`].
const SUB_BUCKETS: u64 = 16;
/// log2 of [`SUB_BUCKETS`].
const SUB_BITS: u32 = 4;
/// log2 of [`LINEAR`].
const LINEAR_BITS: u32 = 5;
/// Bucket count: linear part plus 16 per power of two up to 2^64 µs.
const BUCKETS: usize = (LINEAR + (64 - LINEAR_BITS as u64) * SUB_BUCKETS) as usize;

/// Counts of latencies in log-linear buckets.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        if let Some(count) = self.counts.get_mut(bucket_of(micros)) {
            *count += 1;
            self.total += 1;
        }
    }

    /// How many latencies were recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The `q` quantile (0..=1), as the upper bound of its bucket; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(Duration::from_micros(upper_bound(bucket)));
            }
        }
        None
    }
}

fn bucket_of(micros: u64) -> usize {
    if micros < LINEAR {
        return micros as usize;
    }
    let exponent = 63 - micros.leading_zeros(); // >= LINEAR_BITS
    let sub = (micros >> (exponent - SUB_BITS)) & (SUB_BUCKETS - 1);
    (LINEAR + u64::from(exponent - LINEAR_BITS) * SUB_BUCKETS + sub) as usize
}

/// The largest value (µs) that falls in `bucket`.
fn upper_bound(bucket: usize) -> u64 {
    let bucket = bucket as u64;
    if bucket < LINEAR {
        return bucket;
    }
    let exponent = (bucket - LINEAR) / SUB_BUCKETS + u64::from(LINEAR_BITS);
    let sub = (bucket - LINEAR) % SUB_BUCKETS;
    let width = 1_u64 << (exponent - u64::from(SUB_BITS));
    let low = (1_u64 << exponent) + sub * width;
    low.saturating_add(width - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_bound_their_values() {
        for micros in [0, 1, 31, 32, 33, 47, 1_000, 20_000, 987_654, u64::MAX / 3] {
            let bucket = bucket_of(micros);
            assert!(upper_bound(bucket) >= micros, "{micros}");
            if bucket > 0 {
                assert!(upper_bound(bucket - 1) < micros, "{micros}");
            }
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_are_within_a_bucket_of_the_truth() {
        let mut h = LatencyHistogram::new();
        assert_eq!(h.quantile(0.99), None);
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        assert_eq!(h.count(), 100);
        let p50 = h.quantile(0.5).unwrap().as_secs_f64();
        let p99 = h.quantile(0.99).unwrap().as_secs_f64();
        assert!((0.050..=0.050 * 1.07).contains(&p50), "p50 {p50}");
        assert!((0.099..=0.099 * 1.07).contains(&p99), "p99 {p99}");
    }
}
