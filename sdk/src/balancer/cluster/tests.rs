use std::collections::HashMap;

use super::*;
use crate::balancer::picker::PickRequest;
use crate::xds::resource::common::Fraction;
use crate::xds::resource::endpoint::{DropOverload, Endpoint, LocalityEndpoints, Priority};

/// A locality: weight and endpoints as (last address octet, health).
type Loc<'a> = (u32, &'a [(u8, HealthStatus)]);

/// `priorities[p][l]` = (locality weight, [(last address octet, health)]).
fn cla(priorities: &[&[Loc<'_>]]) -> ClusterLoadAssignment {
    ClusterLoadAssignment {
        cluster_name: "greeter".into(),
        priorities: priorities
            .iter()
            .enumerate()
            .map(|(p, locs)| Priority {
                localities: locs
                    .iter()
                    .enumerate()
                    .map(|(l, (weight, eps))| LocalityEndpoints {
                        locality: Locality {
                            zone: format!("p{p}-z{l}"),
                            ..Default::default()
                        },
                        weight: *weight,
                        endpoints: eps
                            .iter()
                            .map(|(octet, health)| Endpoint {
                                address: SocketAddr::from(([10, 0, p as u8, *octet], 80)),
                                additional_addresses: Vec::new(),
                                health: *health,
                                weight: 1,
                                hash_key: None,
                                hostname: String::new(),
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
        drop_overloads: Vec::new(),
    }
}

const H: HealthStatus = HealthStatus::Healthy;
const U: HealthStatus = HealthStatus::Unhealthy;

fn options(clock: &Clock) -> BalancerOptions {
    BalancerOptions {
        seed: 42,
        clock: clock.clone(),
        ..BalancerOptions::default()
    }
}

fn rr() -> LbPolicy {
    LbPolicy::WrrLocality(Box::new(LbPolicy::RoundRobin))
}

fn all(lb: &mut ClusterBalancer, state: Connectivity) {
    let ids: Vec<EndpointId> = lb.endpoints().iter().map(|e| e.handle.id()).collect();
    let p1 = lb.picker();
    assert!(lb.update_connectivities(ids.iter().map(|&id| (id, state))));
    assert!(!Arc::ptr_eq(&p1, &lb.picker()), "one new picker");
    assert!(!lb.update_connectivities(ids.iter().map(|&id| (id, state))));
}

fn id_of(lb: &ClusterBalancer, addr: &str) -> EndpointId {
    let addr: SocketAddr = addr.parse().unwrap();
    lb.endpoints()
        .iter()
        .find(|e| e.spec.address == addr)
        .unwrap()
        .handle
        .id()
}

fn picked_addrs(lb: &ClusterBalancer, n: usize) -> HashMap<SocketAddr, usize> {
    let picker = lb.picker();
    let mut out = HashMap::new();
    for _ in 0..n {
        match picker.pick(&PickRequest::default()) {
            PickResult::Pick(h) => *out.entry(h.address()).or_default() += 1,
            other => panic!("expected a pick, got {other:?}"),
        }
    }
    out
}

fn pick(lb: &ClusterBalancer) -> PickResult {
    lb.picker().pick(&PickRequest::default())
}

#[test]
fn queues_until_assignment_and_until_something_is_ready() {
    let clock = Clock::manual();
    let mut lb = ClusterBalancer::new("greeter", rr(), options(&clock));
    assert_eq!(pick(&lb), PickResult::queue());
    let changes = lb.update_endpoints(&cla(&[&[(1, &[(1, H), (2, H)])]]));
    assert_eq!(changes.added.len(), 2);
    assert!(matches!(pick(&lb), PickResult::Queue { connect: Some(_) }));
    assert!(lb.connects_eagerly());
    let first = lb.endpoints()[0].handle.id();
    lb.update_connectivity(first, Connectivity::Connecting);
    lb.update_connectivity(lb.endpoints()[1].handle.id(), Connectivity::Connecting);
    assert_eq!(pick(&lb), PickResult::queue());
    lb.update_connectivity(first, Connectivity::Ready);
    assert_eq!(pick(&lb).endpoint().map(|h| h.id()), Some(first));
}

#[test]
fn eds_unhealthy_endpoints_get_no_traffic() {
    let clock = Clock::manual();
    let a = cla(&[&[(
        1,
        &[
            (1, H),
            (2, U),
            (3, HealthStatus::Unknown),
            (4, HealthStatus::Draining),
        ],
    )]]);
    let mut lb = ClusterBalancer::from_assignment(rr(), &a, options(&clock));
    all(&mut lb, Connectivity::Ready);
    let counts = picked_addrs(&lb, 100);
    let mut got: Vec<_> = counts.keys().map(|a| a.to_string()).collect();
    got.sort();
    assert_eq!(got, ["10.0.0.1:80", "10.0.0.3:80"]);
}

#[test]
fn fails_with_a_message_naming_the_cluster_and_the_causes() {
    let clock = Clock::manual();
    let a = cla(&[&[(1, &[(1, H), (2, U), (3, H)])]]);
    let mut lb = ClusterBalancer::from_assignment(rr(), &a, options(&clock));
    all(&mut lb, Connectivity::TransientFailure);
    lb.set_usable(id_of(&lb, "10.0.0.3:80"), false);
    let PickResult::Fail(e) = pick(&lb) else {
        panic!("expected a failure")
    };
    assert_eq!(
        e.message(),
        "all 3 endpoints of cluster `greeter` are unavailable: 1 unhealthy in EDS, 1 ejected \
         (outlier detection or health check), 1 failing to connect; check the backends and the \
         control plane's health reports"
    );
    lb.update_endpoints(&cla(&[]));
    let PickResult::Fail(e) = pick(&lb) else {
        panic!("expected a failure")
    };
    assert!(
        e.message()
            .starts_with("cluster `greeter` has no endpoints"),
        "{e}"
    );
}

#[test]
fn priority_fails_over_and_back() {
    let clock = Clock::manual();
    let a = cla(&[&[(1, &[(1, H), (2, H)])], &[(1, &[(1, H)])]]);
    let mut lb = ClusterBalancer::from_assignment(rr(), &a, options(&clock));
    all(&mut lb, Connectivity::Ready);
    assert!(
        picked_addrs(&lb, 10)
            .keys()
            .all(|a| a.ip().to_string().starts_with("10.0.0."))
    );
    // Primary goes down: everything to priority 1.
    for addr in ["10.0.0.1:80", "10.0.0.2:80"] {
        lb.update_connectivity(id_of(&lb, addr), Connectivity::TransientFailure);
    }
    assert_eq!(
        picked_addrs(&lb, 10).keys().collect::<Vec<_>>(),
        [&"10.0.1.1:80".parse().unwrap()]
    );
    // One primary endpoint back: fail back.
    lb.update_connectivity(id_of(&lb, "10.0.0.2:80"), Connectivity::Ready);
    assert_eq!(
        picked_addrs(&lb, 10).keys().collect::<Vec<_>>(),
        [&"10.0.0.2:80".parse().unwrap()]
    );
    // Ejection counts as failure too.
    lb.set_usable(id_of(&lb, "10.0.0.2:80"), false);
    assert_eq!(
        picked_addrs(&lb, 10).keys().collect::<Vec<_>>(),
        [&"10.0.1.1:80".parse().unwrap()]
    );
}

#[test]
fn all_unhealthy_priority_fails_over_at_once() {
    let clock = Clock::manual();
    let a = cla(&[&[(1, &[(1, U)])], &[(1, &[(1, H)])]]);
    let mut lb = ClusterBalancer::from_assignment(rr(), &a, options(&clock));
    all(&mut lb, Connectivity::Ready);
    assert_eq!(
        picked_addrs(&lb, 5).keys().collect::<Vec<_>>(),
        [&"10.0.1.1:80".parse().unwrap()]
    );
}

#[test]
fn connecting_priority_fails_over_after_the_timer() {
    let clock = Clock::manual();
    let a = cla(&[&[(1, &[(1, H)])], &[(1, &[(1, H)])]]);
    let mut lb = ClusterBalancer::from_assignment(rr(), &a, options(&clock));
    lb.update_connectivity(id_of(&lb, "10.0.1.1:80"), Connectivity::Ready);
    lb.update_connectivity(id_of(&lb, "10.0.0.1:80"), Connectivity::Connecting);
    assert_eq!(pick(&lb), PickResult::queue());
    assert_eq!(lb.next_timer(), Some(Duration::from_secs(10)));
    clock.advance(Duration::from_secs(5));
    assert!(!lb.on_timer());
    clock.advance(Duration::from_secs(5));
    assert!(lb.on_timer());
    assert_eq!(
        pick(&lb).endpoint().map(|h| h.address().to_string()),
        Some("10.0.1.1:80".into())
    );
    assert_eq!(lb.next_timer(), None);
}

#[test]
fn locality_weights_split_traffic() {
    let clock = Clock::manual();
    let a = cla(&[&[(1, &[(1, H), (2, H)]), (4, &[(3, H)])]]);
    let mut lb = ClusterBalancer::from_assignment(rr(), &a, options(&clock));
    all(&mut lb, Connectivity::Ready);
    let counts = picked_addrs(&lb, 10_000);
    let heavy = counts
        .get(&"10.0.0.3:80".parse().unwrap())
        .copied()
        .unwrap_or(0);
    assert!(
        (7_750..8_250).contains(&heavy),
        "locality of weight 4/5 got {heavy} of 10000"
    );
}

#[test]
fn drops_a_share_of_requests_per_category() {
    let clock = Clock::manual();
    let mut a = cla(&[&[(1, &[(1, H)])]]);
    a.drop_overloads = vec![DropOverload {
        category: "throttle".into(),
        fraction: Fraction::from_per_million(250_000),
    }];
    let mut lb = ClusterBalancer::from_assignment(rr(), &a, options(&clock));
    all(&mut lb, Connectivity::Ready);
    let picker = lb.picker();
    let dropped = (0..10_000)
        .filter(|_| {
            matches!(picker.pick(&PickRequest::default()),
                PickResult::Drop { category } if &*category == "throttle")
        })
        .count();
    assert!(
        (2_300..2_700).contains(&dropped),
        "dropped {dropped} of 10000, want ~2500"
    );
}

#[test]
fn updates_keep_ids_and_picker_changes_only_on_change() {
    let clock = Clock::manual();
    let mut lb =
        ClusterBalancer::from_assignment(rr(), &cla(&[&[(1, &[(1, H), (2, H)])]]), options(&clock));
    let kept = id_of(&lb, "10.0.0.2:80");
    lb.update_connectivity(kept, Connectivity::Ready);
    let p1 = lb.picker();
    assert!(!lb.update_connectivity(kept, Connectivity::Ready));
    assert!(!lb.set_usable(kept, true));
    assert!(Arc::ptr_eq(&p1, &lb.picker()));
    let changes = lb.update_endpoints(&cla(&[&[(1, &[(2, H), (3, H)])]]));
    assert_eq!(
        changes
            .added
            .iter()
            .map(|h| h.address().to_string())
            .collect::<Vec<_>>(),
        ["10.0.0.3:80"]
    );
    assert_eq!(
        changes
            .removed
            .iter()
            .map(|h| h.address().to_string())
            .collect::<Vec<_>>(),
        ["10.0.0.1:80"]
    );
    assert_eq!(id_of(&lb, "10.0.0.2:80"), kept);
    assert_eq!(
        pick(&lb).endpoint().map(|h| h.id()),
        Some(kept),
        "still READY"
    );
    assert!(!Arc::ptr_eq(&p1, &lb.picker()));
}

#[test]
fn static_ring_hash_is_lazy_and_sticky() {
    let clock = Clock::manual();
    let addrs = (1..=5).map(|i| SocketAddr::from(([127, 0, 0, 1], 9000 + i)));
    let config = LbPolicy::RingHash(crate::xds::resource::cluster::RingHashConfig {
        minimum_ring_size: 1024,
        maximum_ring_size: 4096,
    });
    let mut lb = ClusterBalancer::from_addresses("static", addrs, config, options(&clock));
    assert!(!lb.connects_eagerly());
    let req = PickRequest::with_hash(99);
    let PickResult::Queue {
        connect: Some(target),
    } = lb.picker().pick(&req)
    else {
        panic!("an idle ring entry asks for a connection")
    };
    lb.update_connectivity(target.id(), Connectivity::Ready);
    for _ in 0..10 {
        assert_eq!(
            lb.picker().pick(&req).endpoint().map(|h| h.id()),
            Some(target.id())
        );
    }
}

#[test]
fn p2c_through_the_cluster_prefers_the_fast_endpoint() {
    let clock = Clock::manual();
    let config = LbPolicy::PeakEwma(crate::xds::resource::cluster::PeakEwmaConfig {
        default_rtt: Duration::from_millis(30),
        decay: Duration::from_secs(10),
    });
    let addrs = [
        "127.0.0.1:1".parse().unwrap(),
        "127.0.0.1:2".parse().unwrap(),
    ];
    let mut lb = ClusterBalancer::from_addresses("static", addrs, config, options(&clock));
    all(&mut lb, Connectivity::Ready);
    let slow = lb.endpoints()[1].handle.clone();
    let guard = slow.load().start();
    guard.finish(Duration::from_millis(300), &clock, Duration::from_secs(10));
    let counts = picked_addrs(&lb, 100);
    assert_eq!(counts.get(&"127.0.0.1:1".parse().unwrap()), Some(&100));
}

#[tokio::test(start_paused = true)]
async fn failover_timer_runs_on_paused_tokio_time() {
    let options = BalancerOptions {
        seed: 1,
        clock: Clock::tokio(),
        ..BalancerOptions::default()
    };
    let a = cla(&[&[(1, &[(1, H)])], &[(1, &[(1, H)])]]);
    let mut lb = ClusterBalancer::from_assignment(rr(), &a, options);
    lb.update_connectivities([
        (id_of(&lb, "10.0.0.1:80"), Connectivity::Connecting),
        (id_of(&lb, "10.0.1.1:80"), Connectivity::Ready),
    ]);
    assert_eq!(pick(&lb), PickResult::queue());
    let wait = lb.next_timer().unwrap();
    assert_eq!(wait, DEFAULT_FAILOVER_TIMEOUT);
    tokio::time::sleep(wait).await;
    assert!(lb.on_timer());
    let picked = pick(&lb).endpoint().map(|h| h.address().to_string());
    assert_eq!(picked, Some("10.0.1.1:80".into()));
}

#[test]
fn latency_decay_and_endpoint_lookup() {
    let clock = Clock::manual();
    let addrs = ["127.0.0.1:1".parse().unwrap()];
    let p2c = LbPolicy::WrrLocality(Box::new(LbPolicy::PeakEwma(
        crate::xds::resource::cluster::PeakEwmaConfig {
            default_rtt: Duration::from_millis(30),
            decay: Duration::from_secs(3),
        },
    )));
    let lb = ClusterBalancer::from_addresses("s", addrs, p2c, options(&clock));
    assert_eq!(lb.latency_decay(), Duration::from_secs(3));
    let id = lb.endpoints()[0].handle.id();
    assert_eq!(lb.endpoint(id).map(|e| e.spec.address), Some(addrs[0]));
    let rr = ClusterBalancer::from_addresses("s", addrs, rr(), options(&clock));
    assert_eq!(rr.latency_decay(), Duration::from_secs(10));
}

#[test]
fn weighted_round_robin_refreshes_weights_on_its_timer() {
    let clock = Clock::manual();
    let wrr = crate::xds::resource::cluster::WrrConfig {
        enable_oob_load_report: false,
        oob_reporting_period: Duration::from_secs(10),
        blackout_period: Duration::from_secs(10),
        weight_expiration_period: Duration::from_secs(180),
        weight_update_period: Duration::from_secs(1),
        error_utilization_penalty: 1.0,
    };
    let config = LbPolicy::WrrLocality(Box::new(LbPolicy::WeightedRoundRobin(wrr)));
    let a = cla(&[&[(1, &[(1, H), (2, H)])]]);
    let mut lb = ClusterBalancer::from_assignment(config, &a, options(&clock));
    all(&mut lb, Connectivity::Ready);
    assert_eq!(lb.next_timer(), Some(Duration::from_secs(1)));
    for (e, qps) in lb.endpoints().iter().zip([100.0, 300.0]) {
        let report = crate::balancer::LoadReport {
            qps,
            eps: 0.0,
            utilization: 1.0,
        };
        e.handle.backend_weight().record(report, clock.now_nanos());
    }
    let heavy: SocketAddr = "10.0.0.2:80".parse().unwrap();
    assert_eq!(
        picked_addrs(&lb, 400).get(&heavy),
        Some(&200),
        "even before refresh"
    );
    clock.advance(Duration::from_secs(10)); // past the blackout
    assert!(lb.on_timer());
    let got = picked_addrs(&lb, 4_000).get(&heavy).copied().unwrap_or(0);
    assert!(
        (2_900..3_100).contains(&got),
        "heavy endpoint got {got} of 4000, want ~3000"
    );
}
