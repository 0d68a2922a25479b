use super::*;
use crate::balancer::ewma::Clock;
use crate::balancer::test_util::{fail, members, pick_counts};

fn env() -> PolicyEnv {
    PolicyEnv {
        clock: Clock::manual(),
        ring_size_cap: 4096,
        metrics: Default::default(),
    }
}

fn locality(zone: &str) -> Locality {
    Locality {
        zone: zone.into(),
        ..Default::default()
    }
}

#[test]
fn localities_get_traffic_in_proportion_to_weight() {
    let ms = members(4, Connectivity::Ready);
    let (a, b) = (locality("a"), locality("b"));
    let groups = [
        LocalityGroup {
            locality: &a,
            weight: 1,
            members: ms[..2].to_vec(),
        },
        LocalityGroup {
            locality: &b,
            weight: 3,
            members: ms[2..].to_vec(),
        },
    ];
    let mut wt = WeightedTarget::default();
    let built = wt.build(
        &groups,
        &LbPolicy::RoundRobin,
        &env(),
        &AtomicRng::new(11),
        &fail(),
    );
    let counts = pick_counts(&*built.picker, 10_000, None);
    let in_b: usize = ms[2..]
        .iter()
        .filter_map(|m| counts.get(&m.handle.id()))
        .sum();
    assert!(
        (7_300..7_700).contains(&in_b),
        "locality b got {in_b} of 10000, want ~7500"
    );
}

#[test]
fn a_locality_without_ready_endpoints_gets_nothing() {
    let mut ms = members(4, Connectivity::Ready);
    ms[0].state = Connectivity::TransientFailure;
    ms[1].state = Connectivity::Connecting;
    let (a, b) = (locality("a"), locality("b"));
    let groups = [
        LocalityGroup {
            locality: &a,
            weight: 100,
            members: ms[..2].to_vec(),
        },
        LocalityGroup {
            locality: &b,
            weight: 1,
            members: ms[2..].to_vec(),
        },
    ];
    let mut wt = WeightedTarget::default();
    let built = wt.build(
        &groups,
        &LbPolicy::RoundRobin,
        &env(),
        &AtomicRng::new(1),
        &fail(),
    );
    let counts = pick_counts(&*built.picker, 1_000, None);
    assert_eq!(counts.len(), 2);
    assert!(!counts.contains_key(&ms[0].handle.id()));
}

#[test]
fn no_ready_locality_reports_connecting_then_failure() {
    let mut ms = members(2, Connectivity::Connecting);
    let a = locality("a");
    let groups = |ms: &[Member]| {
        vec![LocalityGroup {
            locality: &a,
            weight: 1,
            members: ms.to_vec(),
        }]
    };
    let mut wt = WeightedTarget::default();
    let built = wt.build(
        &groups(&ms),
        &LbPolicy::RoundRobin,
        &env(),
        &AtomicRng::new(1),
        &fail(),
    );
    assert_eq!(built.state, Connectivity::Connecting);
    assert_eq!(
        built.picker.pick(&PickRequest::default()),
        PickResult::queue()
    );
    for m in &mut ms {
        m.state = Connectivity::TransientFailure;
    }
    let built = wt.build(
        &groups(&ms),
        &LbPolicy::RoundRobin,
        &env(),
        &AtomicRng::new(1),
        &fail(),
    );
    assert_eq!(built.state, Connectivity::TransientFailure);
    assert_eq!(built.picker.pick(&PickRequest::default()), fail());
}
