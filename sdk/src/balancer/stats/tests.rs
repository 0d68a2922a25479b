use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn every_latency_lands_in_a_bucket_whose_bound_is_at_or_above_it_and_close() {
    for micros in (0..5_000).chain([65_535, 1_000_000, 30_000_000]) {
        let bound = upper_bound(bucket_of(micros));
        assert!(bound >= micros.max(1), "{micros} µs → bound {bound}");
        assert!(
            bound as f64 <= (micros.max(1) as f64) * 1.25,
            "{micros} µs → bound {bound} is too loose"
        );
    }
    assert_eq!(bucket_of(u64::MAX), BUCKETS - 1, "huge latencies saturate");
}

#[test]
fn quantiles_follow_the_recorded_distribution() {
    let h = LatencyHistogram::default();
    for _ in 0..90 {
        h.record(ms(2));
    }
    for _ in 0..10 {
        h.record(ms(100));
    }
    let s = h.sample();
    assert_eq!(s.count(), 100);
    let p50 = s.quantile(0.5);
    let p99 = s.quantile(0.99);
    assert!(p50 >= ms(2) && p50 < ms(3), "p50 {p50:?}");
    assert!(p99 >= ms(100) && p99 < ms(125), "p99 {p99:?}");
    assert_eq!(
        HistogramSample::default_for_test().quantile(0.5),
        Duration::ZERO
    );
}

#[test]
fn a_window_counts_only_what_happened_since_its_start() {
    let h = LatencyHistogram::default();
    h.record(ms(500));
    let before = h.sample();
    h.record(ms(1));
    let delta = h.sample().since(&before);
    assert_eq!(delta.count(), 1);
    assert!(
        delta.quantile(0.99) < ms(2),
        "the old 500 ms sample is gone"
    );
}

#[tokio::test(start_paused = true)]
async fn rates_cover_the_last_completed_window() {
    let stats = EndpointStats::default();
    for i in 0..10 {
        stats.record(ms(10), i < 3);
    }
    tokio::time::advance(ms(500)).await;
    // Before the first window completes: the partial window.
    let r = stats.rates(Instant::now());
    assert!((r.requests_per_sec - 20.0).abs() < 1e-9, "{r:?}");
    assert!((r.error_rate - 0.3).abs() < 1e-9, "{r:?}");
    assert!(r.p99 >= ms(10), "{r:?}");

    tokio::time::advance(ms(500)).await;
    let first = stats.rates(Instant::now());
    assert!((first.requests_per_sec - 10.0).abs() < 1e-9, "{first:?}");

    // A second window with only successes, twice as many per second.
    for _ in 0..20 {
        stats.record(ms(1), false);
    }
    tokio::time::advance(ms(300)).await;
    assert_eq!(
        stats.rates(Instant::now()),
        first,
        "mid-window reads repeat the last one"
    );
    tokio::time::advance(ms(700)).await;
    let second = stats.rates(Instant::now());
    assert!((second.requests_per_sec - 20.0).abs() < 1e-9, "{second:?}");
    assert_eq!(second.error_rate, 0.0);
    assert!(second.p99 < ms(2), "{second:?}");
}

#[test]
fn no_requests_means_zero_rates_not_nan() {
    let r = Rates::between(&Totals::zero(), &Totals::zero(), Duration::ZERO);
    assert_eq!(r, Rates::default());
}

impl HistogramSample {
    fn default_for_test() -> Self {
        Totals::zero().latency
    }
}
