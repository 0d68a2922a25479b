use std::time::Duration;

use super::*;
use crate::balancer::test_util::{fail, members, pick_counts};
use crate::balancer::weight::LoadReport;

fn config(blackout: Duration) -> WrrConfig {
    WrrConfig {
        enable_oob_load_report: false,
        oob_reporting_period: Duration::from_secs(10),
        blackout_period: blackout,
        weight_expiration_period: Duration::from_secs(180),
        weight_update_period: Duration::from_secs(1),
        error_utilization_penalty: 1.0,
    }
}

fn report(m: &Member, qps: f64, utilization: f64) {
    let r = LoadReport {
        qps,
        eps: 0.0,
        utilization,
    };
    m.handle.backend_weight().record(r, 0);
}

fn shares(ms: &[Member], picks: usize, seed: u64) -> Vec<f64> {
    let mut wrr = Wrr::new(&config(Duration::ZERO), Clock::manual());
    let built = wrr.build(ms, &AtomicRng::new(seed), &fail());
    let counts = pick_counts(&*built.picker, picks, None);
    ms.iter()
        .map(|m| counts.get(&m.handle.id()).copied().unwrap_or(0) as f64 / picks as f64)
        .collect()
}

#[test]
fn picks_follow_reported_weights() {
    let ms = members(3, Connectivity::Ready);
    report(&ms[0], 100.0, 0.5); // 200
    report(&ms[1], 100.0, 0.25); // 400
    report(&ms[2], 300.0, 0.5); // 600
    let got = shares(&ms, 12_000, 1);
    for (share, want) in got.iter().zip([1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0]) {
        assert!((share - want).abs() < 0.01, "{got:?}");
    }
}

#[test]
fn fewer_than_two_weights_is_plain_round_robin() {
    let ms = members(4, Connectivity::Ready);
    report(&ms[0], 1_000.0, 0.1);
    let mut wrr = Wrr::new(&config(Duration::ZERO), Clock::manual());
    let built = wrr.build(&ms, &AtomicRng::new(2), &fail());
    let counts = pick_counts(&*built.picker, 400, None);
    assert!(counts.values().all(|&c| c == 100), "{counts:?}");
}

#[test]
fn endpoints_without_weight_get_the_mean() {
    let ms = members(3, Connectivity::Ready);
    report(&ms[0], 100.0, 1.0); // 100
    report(&ms[1], 300.0, 1.0); // 300; ms[2] gets the mean, 200
    let got = shares(&ms, 12_000, 3);
    for (share, want) in got.iter().zip([1.0 / 6.0, 3.0 / 6.0, 2.0 / 6.0]) {
        assert!((share - want).abs() < 0.01, "{got:?}");
    }
}

#[test]
fn very_light_endpoints_still_get_a_tenth_of_the_heaviest() {
    let ms = members(2, Connectivity::Ready);
    report(&ms[0], 1.0, 1.0);
    report(&ms[1], 1_000.0, 1.0);
    let got = shares(&ms, 11_000, 4);
    assert!((got[0] - 1.0 / 11.0).abs() < 0.01, "{got:?}");
}

#[test]
fn weights_in_blackout_count_as_unknown() {
    let ms = members(2, Connectivity::Ready);
    report(&ms[0], 100.0, 1.0);
    report(&ms[1], 900.0, 1.0);
    let clock = Clock::manual();
    let mut wrr = Wrr::new(&config(Duration::from_secs(10)), clock.clone());
    let even = pick_counts(
        &*wrr.build(&ms, &AtomicRng::new(5), &fail()).picker,
        100,
        None,
    );
    assert!(even.values().all(|&c| c == 50), "{even:?}");
    clock.advance(Duration::from_secs(10));
    let skewed = pick_counts(
        &*wrr.build(&ms, &AtomicRng::new(5), &fail()).picker,
        1_000,
        None,
    );
    let light = skewed.get(&ms[0].handle.id()).copied().unwrap_or(0);
    assert!((85..=115).contains(&light), "{skewed:?}");
}

#[test]
fn each_build_records_the_a78_metrics_of_its_update() {
    use crate::telemetry::{LbLabels, Telemetry, names::OPTIONAL_METRICS};
    let telemetry = Telemetry::builder()
        .enable_metrics(OPTIONAL_METRICS)
        .and_then(|b| b.build())
        .unwrap_or_default();
    let metrics = telemetry
        .mesh()
        .wrr("xds:///svc", &LbLabels::new("c", "", "", ""));
    let clock = Clock::manual();
    let mut wrr = Wrr::new(&config(Duration::from_secs(10)), clock.clone()).with_metrics(metrics);
    let ms = members(3, Connectivity::Ready);
    report(&ms[0], 100.0, 0.5);
    report(&ms[1], 100.0, 0.25);
    // At t=0 every endpoint is blacked out or without reports: round robin.
    wrr.build(&ms, &AtomicRng::new(1), &fail());
    clock.advance(Duration::from_secs(11));
    // Two weights usable now, the third endpoint still has none.
    wrr.build(&ms, &AtomicRng::new(1), &fail());
    let text = telemetry.prometheus_text();
    let value = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{name}{{")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    assert_eq!(value("grpc_lb_wrr_rr_fallback_total"), Some(1.0), "{text}");
    assert_eq!(
        value("grpc_lb_wrr_endpoint_weight_not_yet_usable_total"),
        Some(4.0),
        "3 then 1: {text}"
    );
    assert_eq!(
        value("grpc_lb_wrr_endpoint_weights_count"),
        Some(6.0),
        "{text}"
    );
    assert_eq!(
        value("grpc_lb_wrr_endpoint_weights_sum"),
        Some(600.0),
        "{text}"
    );
    assert_eq!(
        value("grpc_lb_wrr_endpoint_weight_stale_total"),
        None,
        "{text}"
    );
}
