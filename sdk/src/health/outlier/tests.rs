use std::time::Duration;

use tokio::time::Instant;
use tonic::Code;

use super::*;
use crate::balancer::{BalancerOptions, ClusterBalancer, Connectivity, PickRequest};
use crate::xds::resource::cluster::LbPolicy;
use crate::xds::resource::cluster::outlier::{
    Consecutive5xx, FailurePercentageEjection, SuccessRateEjection,
};

const SECS: fn(u64) -> Duration = Duration::from_secs;

fn ids(n: u64) -> Vec<EndpointId> {
    (1..=n).map(EndpointId).collect()
}

fn success_rate_config() -> OutlierDetection {
    OutlierDetection {
        interval: SECS(10),
        base_ejection_time: SECS(30),
        max_ejection_time: SECS(300),
        max_ejection_percent: 10,
        success_rate: Some(SuccessRateEjection {
            stdev_factor: 1900,
            enforcement_percentage: 100,
            minimum_hosts: 5,
            request_volume: 100,
        }),
        failure_percentage: None,
        consecutive_5xx: None,
    }
}

fn failure_percentage_config(threshold: u32) -> OutlierDetection {
    OutlierDetection {
        success_rate: None,
        failure_percentage: Some(FailurePercentageEjection {
            threshold,
            enforcement_percentage: 100,
            minimum_hosts: 5,
            request_volume: 50,
        }),
        ..success_rate_config()
    }
}

fn detector(config: &OutlierDetection, n: u64, t0: Instant) -> OutlierDetector {
    let mut d = OutlierDetector::new(OutlierOptions::default());
    d.update_endpoints(ids(n));
    assert!(d.update_config(Some(config), t0).is_empty());
    d
}

fn feed(d: &OutlierDetector, id: u64, ok: u64, failed: u64) {
    let counter = d.counter(EndpointId(id)).unwrap();
    for _ in 0..ok {
        assert_eq!(counter.record(Code::Ok), Recorded::Counted);
    }
    for _ in 0..failed {
        let _ = counter.record(Code::Unavailable);
    }
}

/// Endpoints 1..=healthy get `volume` successes; the rest fail half their calls.
fn feed_interval(d: &OutlierDetector, healthy: u64, total: u64, volume: u64) {
    for id in 1..=total {
        if id <= healthy {
            feed(d, id, volume, 0);
        } else {
            feed(d, id, volume / 2, volume / 2);
        }
    }
}

fn ejected(decisions: &[Decision]) -> Vec<(u64, Reason)> {
    decisions
        .iter()
        .filter(|d| d.action == Action::Eject)
        .map(|d| (d.endpoint.0, d.reason))
        .collect()
}

fn eject(id: u64, reason: Reason) -> Decision {
    decision(EndpointId(id), Action::Eject, reason)
}

fn uneject(id: u64) -> Decision {
    decision(EndpointId(id), Action::Uneject, Reason::EjectionExpired)
}

#[test]
fn success_rate_ejects_a_half_failing_endpoint_among_five_healthy() {
    let t0 = Instant::now();
    let mut d = detector(&success_rate_config(), 6, t0);
    assert_eq!(d.next_sweep(), Some(t0 + SECS(10)));
    feed_interval(&d, 5, 6, 200);
    let rng = AtomicRng::new(1);
    let decisions = d.sweep(t0 + SECS(10), &rng);
    assert_eq!(decisions, vec![eject(6, Reason::SuccessRate)]);
    assert!(d.is_ejected(EndpointId(6)));
    assert_eq!(d.multiplier(EndpointId(6)), Some(1));
    assert_eq!(d.next_sweep(), Some(t0 + SECS(20)));
    // The counters were swapped: an idle interval ejects nothing more.
    assert!(d.sweep(t0 + SECS(20), &rng).is_empty());
}

#[test]
fn uniform_failures_are_not_outliers() {
    let t0 = Instant::now();
    let mut d = detector(&success_rate_config(), 6, t0);
    for id in 1..=6 {
        feed(&d, id, 100, 100);
    }
    assert!(d.sweep(t0 + SECS(10), &AtomicRng::new(1)).is_empty());
}

#[test]
fn failure_percentage_ejects_above_the_threshold_only() {
    let t0 = Instant::now();
    let rng = AtomicRng::new(1);
    let mut d = detector(&failure_percentage_config(40), 6, t0);
    feed_interval(&d, 5, 6, 100);
    assert_eq!(
        d.sweep(t0 + SECS(10), &rng),
        vec![eject(6, Reason::FailurePercentage)]
    );
    // With Envoy's default threshold of 85 %, 50 % failures are tolerated.
    let mut d = detector(&failure_percentage_config(85), 6, t0);
    feed_interval(&d, 5, 6, 100);
    assert!(d.sweep(t0 + SECS(10), &rng).is_empty());
    // Exactly at the threshold is not above it.
    let mut d = detector(&failure_percentage_config(50), 6, t0);
    feed_interval(&d, 5, 6, 100);
    assert!(d.sweep(t0 + SECS(10), &rng).is_empty());
}

#[test]
fn max_ejection_percent_limits_ejections_but_allows_one() {
    let t0 = Instant::now();
    let rng = AtomicRng::new(1);
    // Two bad endpoints of six; 10 % of six is under one, yet one may always go.
    let mut d = detector(&failure_percentage_config(40), 6, t0);
    feed_interval(&d, 4, 6, 100);
    assert_eq!(ejected(&d.sweep(t0 + SECS(10), &rng)).len(), 1);
    // The cap counts endpoints still ejected from earlier sweeps.
    feed_interval(&d, 4, 6, 100);
    assert!(ejected(&d.sweep(t0 + SECS(20), &rng)).is_empty());

    let config = OutlierDetection {
        max_ejection_percent: 50,
        ..failure_percentage_config(40)
    };
    let mut d = detector(&config, 6, t0);
    feed_interval(&d, 4, 6, 100);
    assert_eq!(
        ejected(&d.sweep(t0 + SECS(10), &rng)),
        vec![
            (5, Reason::FailurePercentage),
            (6, Reason::FailurePercentage)
        ]
    );
    assert_eq!(d.ejected_count(), 2);
}

#[test]
fn minimum_hosts_and_request_volume_gate_the_algorithms() {
    let t0 = Instant::now();
    let rng = AtomicRng::new(1);
    // Only four endpoints reach the 100-call volume: success rate does not run.
    let mut d = detector(&success_rate_config(), 6, t0);
    feed_interval(&d, 3, 4, 200);
    feed(&d, 5, 99, 0);
    feed(&d, 6, 99, 0);
    assert!(d.sweep(t0 + SECS(10), &rng).is_empty());
    // Five healthy endpoints qualify, but the bad one had too few calls to judge.
    feed_interval(&d, 5, 5, 200);
    feed(&d, 6, 10, 89);
    assert!(d.sweep(t0 + SECS(20), &rng).is_empty());
    // Same for failure percentage (volume 50).
    let mut d = detector(&failure_percentage_config(40), 6, t0);
    feed_interval(&d, 5, 5, 100);
    feed(&d, 6, 0, 49);
    assert!(d.sweep(t0 + SECS(10), &rng).is_empty());
}

#[test]
fn ejection_time_grows_with_the_multiplier_and_is_capped() {
    let config = OutlierDetection {
        base_ejection_time: SECS(10),
        max_ejection_time: SECS(25),
        ..success_rate_config()
    };
    assert_eq!(
        [1, 2, 3, 100].map(|m| ejection_time(&config, m)),
        [10, 20, 25, 25].map(SECS)
    );
    let t0 = Instant::now();
    let rng = AtomicRng::new(1);
    let mut d = detector(&config, 6, t0);
    let at = |s| t0 + SECS(s);
    // Eject at 10 s (×1 → 10 s): back at 20 s.
    feed_interval(&d, 5, 6, 200);
    assert_eq!(d.sweep(at(10), &rng), vec![eject(6, Reason::SuccessRate)]);
    assert_eq!(d.sweep(at(20), &rng), vec![uneject(6)]);
    // Misbehaves again: ×2 → 20 s, so still out at 40 s, back at 50 s.
    feed_interval(&d, 5, 6, 200);
    assert_eq!(d.sweep(at(30), &rng), vec![eject(6, Reason::SuccessRate)]);
    assert_eq!(d.multiplier(EndpointId(6)), Some(2));
    assert!(d.sweep(at(40), &rng).is_empty());
    assert_eq!(d.sweep(at(50), &rng), vec![uneject(6)]);
    // Third time: ×3 would be 30 s, capped at 25 s: out at 80 s, back at 90 s.
    feed_interval(&d, 5, 6, 200);
    assert_eq!(d.sweep(at(60), &rng), vec![eject(6, Reason::SuccessRate)]);
    assert!(d.sweep(at(70), &rng).is_empty());
    assert!(d.sweep(at(80), &rng).is_empty());
    assert_eq!(d.sweep(at(90), &rng), vec![uneject(6)]);
    // Healthy intervals decay the multiplier one step each.
    assert_eq!(d.multiplier(EndpointId(6)), Some(3));
    for (s, m) in [(100, 2), (110, 1), (120, 0), (130, 0)] {
        assert!(d.sweep(at(s), &rng).is_empty());
        assert_eq!(d.multiplier(EndpointId(6)), Some(m), "at {s} s");
    }
}

#[test]
fn turning_detection_off_unejects_everything_and_stops_counting() {
    let t0 = Instant::now();
    let rng = AtomicRng::new(1);
    let mut d = detector(&success_rate_config(), 6, t0);
    feed_interval(&d, 5, 6, 200);
    assert_eq!(ejected(&d.sweep(t0 + SECS(10), &rng)).len(), 1);
    let off = d.update_config(None, t0 + SECS(12));
    assert_eq!(
        off,
        vec![decision(EndpointId(6), Action::Uneject, Reason::Disabled)]
    );
    assert_eq!(d.multiplier(EndpointId(6)), Some(0));
    assert_eq!(d.next_sweep(), None);
    assert_eq!(
        d.counter(EndpointId(1)).unwrap().record(Code::Ok),
        Recorded::Ignored
    );
    assert!(d.sweep(t0 + SECS(20), &rng).is_empty());
    // Re-enabling restarts the timer from now with zeroed counters.
    assert!(
        d.update_config(Some(&success_rate_config()), t0 + SECS(13))
            .is_empty()
    );
    assert_eq!(d.next_sweep(), Some(t0 + SECS(23)));
}

#[test]
fn config_update_keeps_the_running_interval() {
    let t0 = Instant::now();
    let mut d = detector(&success_rate_config(), 3, t0);
    let shorter = OutlierDetection {
        interval: SECS(4),
        ..success_rate_config()
    };
    assert!(d.update_config(Some(&shorter), t0 + SECS(3)).is_empty());
    assert_eq!(d.next_sweep(), Some(t0 + SECS(4)));
}

#[test]
fn endpoint_updates_keep_counters_of_survivors() {
    let t0 = Instant::now();
    let mut d = detector(&success_rate_config(), 3, t0);
    let kept = d.counter(EndpointId(2)).unwrap();
    d.update_endpoints([EndpointId(2), EndpointId(7)]);
    assert!(Arc::ptr_eq(&kept, &d.counter(EndpointId(2)).unwrap()));
    assert!(d.counter(EndpointId(1)).is_none());
    assert_eq!(
        d.counter(EndpointId(7)).unwrap().record(Code::Ok),
        Recorded::Counted
    );
}

#[test]
fn enforcement_percentage_is_a_seeded_draw() {
    let config = OutlierDetection {
        failure_percentage: Some(FailurePercentageEjection {
            enforcement_percentage: 30,
            ..failure_percentage_config(40).failure_percentage.unwrap()
        }),
        ..failure_percentage_config(40)
    };
    let run = |seed| {
        let rng = AtomicRng::new(seed);
        let t0 = Instant::now();
        (0..400)
            .filter(|_| {
                let mut d = detector(&config, 6, t0);
                feed_interval(&d, 5, 6, 50);
                !d.sweep(t0 + SECS(10), &rng).is_empty()
            })
            .count()
    };
    let hits = run(17);
    assert!((90..150).contains(&hits), "~30 % of 400, got {hits}");
    assert_eq!(run(17), hits, "same seed, same decisions");
}

fn consecutive_config(threshold: u32) -> OutlierDetection {
    OutlierDetection {
        success_rate: None,
        failure_percentage: None,
        consecutive_5xx: Some(Consecutive5xx {
            threshold,
            enforcement_percentage: 100,
        }),
        ..success_rate_config()
    }
}

#[test]
fn consecutive_server_errors_eject_at_once_when_opted_in() {
    let t0 = Instant::now();
    let rng = AtomicRng::new(1);
    let mut d = OutlierDetector::new(OutlierOptions {
        consecutive_failures: true,
    });
    d.update_endpoints(ids(10));
    assert!(d.update_config(Some(&consecutive_config(5)), t0).is_empty());
    assert!(d.is_enabled());
    let counter = d.counter(EndpointId(3)).unwrap();
    for _ in 0..4 {
        assert_eq!(counter.record(Code::Unavailable), Recorded::Counted);
    }
    assert_eq!(counter.record(Code::Internal), Recorded::StreakReached);
    assert_eq!(
        d.on_consecutive_failures(EndpointId(3), t0 + SECS(1), &rng),
        Some(eject(3, Reason::ConsecutiveFailures))
    );
    assert_eq!(
        d.on_consecutive_failures(EndpointId(3), t0 + SECS(1), &rng),
        None
    );
    // A streak the owner did not act on is caught by the next sweep…
    let other = d.counter(EndpointId(4)).unwrap();
    for _ in 0..5 {
        let _ = other.record(Code::DeadlineExceeded);
    }
    // …but 10 % of ten endpoints is one and endpoint 3 is out, so the streak is dropped.
    assert!(ejected(&d.sweep(t0 + SECS(10), &rng)).is_empty());
    assert_eq!(other.streak(), 0);
    // Endpoint 3 returns after 30 s (timed from its ejection at 1 s, checked on sweeps).
    assert!(d.sweep(t0 + SECS(20), &rng).is_empty());
    assert_eq!(d.sweep(t0 + SECS(31), &rng), vec![uneject(3)]);
    // With room again, a fresh streak the owner ignores is caught by the sweep.
    for _ in 0..5 {
        let _ = other.record(Code::DeadlineExceeded);
    }
    assert_eq!(
        d.sweep(t0 + SECS(41), &rng),
        vec![eject(4, Reason::ConsecutiveFailures)]
    );
}

#[test]
fn consecutive_5xx_is_ignored_by_default_like_grpc() {
    let t0 = Instant::now();
    let mut d = OutlierDetector::new(OutlierOptions::default());
    d.update_endpoints(ids(3));
    assert!(d.update_config(Some(&consecutive_config(2)), t0).is_empty());
    assert!(!d.is_enabled());
    let counter = d.counter(EndpointId(1)).unwrap();
    for _ in 0..5 {
        assert_eq!(counter.record(Code::Unavailable), Recorded::Ignored);
    }
    assert_eq!(
        d.on_consecutive_failures(EndpointId(1), t0, &AtomicRng::new(1)),
        None
    );
}

/// The owner's loop on paused tokio time, applying decisions to a real balancer: the ejected
/// endpoint gets no traffic for the ejection time, then gets it again.
#[tokio::test(start_paused = true)]
async fn ejected_endpoint_gets_no_picks_until_its_time_is_up() {
    let addrs: Vec<std::net::SocketAddr> = (1..=6)
        .map(|i| format!("10.0.0.{i}:80").parse().unwrap())
        .collect();
    let options = BalancerOptions {
        seed: 3,
        ..BalancerOptions::default()
    };
    let mut lb = ClusterBalancer::from_addresses("c", addrs, LbPolicy::RoundRobin, options);
    let endpoint_ids: Vec<EndpointId> = lb.endpoints().iter().map(|e| e.handle.id()).collect();
    for id in &endpoint_ids {
        lb.update_connectivity(*id, Connectivity::Ready);
    }
    let bad = endpoint_ids[2];
    let start = Instant::now();
    let mut d = OutlierDetector::new(OutlierOptions::default());
    d.update_endpoints(endpoint_ids.iter().copied());
    assert!(
        d.update_config(Some(&success_rate_config()), start)
            .is_empty()
    );
    let rng = AtomicRng::new(9);
    let picks_of_bad = |lb: &ClusterBalancer| {
        (0..60)
            .filter(|_| {
                lb.picker()
                    .pick(&PickRequest::default())
                    .endpoint()
                    .map(|e| e.id())
                    == Some(bad)
            })
            .count()
    };
    let mut ejected_at = None;
    let mut returned_at = None;
    while returned_at.is_none() && start.elapsed() < SECS(120) {
        // Traffic during the interval: the bad endpoint fails half its calls.
        for id in &endpoint_ids {
            let counter = d.counter(*id).unwrap();
            for i in 0..200 {
                let code = if *id == bad && i % 2 == 0 {
                    Code::Unavailable
                } else {
                    Code::Ok
                };
                let _ = counter.record(code);
            }
        }
        tokio::time::sleep_until(d.next_sweep().unwrap()).await;
        for decision in d.sweep(Instant::now(), &rng) {
            lb.set_usable(decision.endpoint, decision.action == Action::Uneject);
            match decision.action {
                Action::Eject => ejected_at = Some(start.elapsed()),
                Action::Uneject => returned_at = Some(start.elapsed()),
            }
        }
        if ejected_at.is_some() && returned_at.is_none() {
            assert_eq!(picks_of_bad(&lb), 0);
        }
        // Once ejected, stop sending it traffic, as the picker would.
        if ejected_at.is_some() {
            break;
        }
    }
    assert_eq!(ejected_at, Some(SECS(10)));
    assert_eq!(picks_of_bad(&lb), 0);
    // No more traffic to it; sweeps continue until the 30 s ejection ends.
    while returned_at.is_none() && start.elapsed() < SECS(120) {
        tokio::time::sleep_until(d.next_sweep().unwrap()).await;
        for decision in d.sweep(Instant::now(), &rng) {
            lb.set_usable(decision.endpoint, decision.action == Action::Uneject);
            if decision.action == Action::Uneject {
                returned_at = Some(start.elapsed());
            }
        }
    }
    assert_eq!(returned_at, Some(SECS(40)));
    assert_eq!(
        picks_of_bad(&lb),
        10,
        "round robin over six endpoints again"
    );
}

#[test]
fn outliers_left_standing_are_reported_with_their_reason() {
    use crate::telemetry::UnenforcedReason::{EnforcementPercentage, MaxEjectionOverflow};
    let t0 = Instant::now();
    let rng = AtomicRng::new(1);
    // Two outliers, room for one: the second is an overflow.
    let mut d = detector(&failure_percentage_config(40), 6, t0);
    feed_interval(&d, 4, 6, 100);
    assert_eq!(ejected(&d.sweep(t0 + SECS(10), &rng)).len(), 1);
    assert_eq!(
        d.take_unenforced(),
        vec![(Reason::FailurePercentage, MaxEjectionOverflow)]
    );
    assert!(d.take_unenforced().is_empty(), "taken once");

    // Enforcement 0 %: every outlier is found and none ejected.
    let config = OutlierDetection {
        success_rate: None,
        failure_percentage: Some(FailurePercentageEjection {
            enforcement_percentage: 0,
            ..failure_percentage_config(40).failure_percentage.unwrap()
        }),
        ..failure_percentage_config(40)
    };
    let mut d = detector(&config, 6, t0);
    feed_interval(&d, 5, 6, 100);
    assert!(d.sweep(t0 + SECS(10), &rng).is_empty());
    assert_eq!(
        d.take_unenforced(),
        vec![(Reason::FailurePercentage, EnforcementPercentage)]
    );
}
