use std::time::Duration;

use tonic::Code;

use super::*;
use crate::fault::rule::{MethodPattern, RuleScope};
use crate::xds::resource::listener::fault::{AbortSource, FaultAbort, FaultConfig};

fn registry() -> FaultRegistry {
    FaultRegistry::new(FaultRegistryConfig::default(), ActiveFaults::new())
}

fn abort_rule(scope: RuleScope, code: Code) -> FaultRuleSpec {
    FaultRuleSpec {
        scope,
        delay: None,
        abort: Some(code),
        percentage: 100.0,
        ttl: None,
    }
}

fn client(method: &str) -> RequestScope<'_> {
    RequestScope::Client {
        target: "xds:///greeter:50051",
        cluster: "greeter-v1",
        route: "default",
        method,
    }
}

fn code(d: &FaultDecision) -> Option<Code> {
    d.abort.as_ref().map(|s| s.code())
}

#[test]
fn first_matching_rule_wins_and_counts() {
    let reg = registry();
    let mut rng = fastrand::Rng::with_seed(1);
    let hi = MethodPattern::parse("/g.Greeter/Hi").unwrap();
    let first = reg
        .set(abort_rule(RuleScope::ClientMethod(hi), Code::NotFound))
        .unwrap();
    let second = reg
        .set(abort_rule(
            RuleScope::ClientCluster("greeter-v1".into()),
            Code::Unavailable,
        ))
        .unwrap();
    let d = reg
        .rule_decision(&client("/g.Greeter/Hi"), &mut rng)
        .unwrap();
    assert_eq!(code(&d), Some(Code::NotFound));
    let d = reg
        .rule_decision(&client("/g.Greeter/Bye"), &mut rng)
        .unwrap();
    assert_eq!(code(&d), Some(Code::Unavailable));
    assert!(
        reg.rule_decision(
            &RequestScope::Server {
                method: "/g.Greeter/Hi"
            },
            &mut rng
        )
        .is_none(),
        "client rules leave served RPCs alone"
    );
    let listed = reg.list();
    assert_eq!(
        listed.iter().map(|r| r.id).collect::<Vec<_>>(),
        [first, second]
    );
    assert_eq!((listed[0].matched, listed[0].injected), (1, 1));
    assert_eq!((listed[1].matched, listed[1].injected), (1, 1));
}

#[test]
fn runtime_rule_takes_precedence_over_xds_policy() {
    let reg = registry();
    let mut rng = fastrand::Rng::with_seed(1);
    let xds = FaultPolicy::single(
        "fault",
        FaultConfig {
            abort: Some(FaultAbort {
                source: AbortSource::GrpcStatus(Code::Internal),
                percentage: Fraction::ALWAYS,
            }),
            ..Default::default()
        },
    );
    let h = HeaderMap::new();
    let d = reg.decide(&client("/g.G/A"), Some(&xds), &h, &mut rng);
    assert_eq!(code(&d), Some(Code::Internal), "no rule: xDS applies");
    let mut quiet = abort_rule(
        RuleScope::ClientTarget("xds:///greeter:50051".into()),
        Code::Aborted,
    );
    quiet.percentage = 0.0;
    reg.set(quiet).unwrap();
    let d = reg.decide(&client("/g.G/A"), Some(&xds), &h, &mut rng);
    assert!(
        d.is_none(),
        "a matching rule decides even when it draws nothing"
    );
}

#[test]
fn share_of_rule_faults_follows_the_percentage() {
    let reg = registry();
    let mut rng = fastrand::Rng::with_seed(9);
    let mut spec = abort_rule(RuleScope::ClientRoute("default".into()), Code::Unavailable);
    spec.percentage = 50.0;
    reg.set(spec).unwrap();
    let hits = (0..10_000)
        .filter(|_| {
            reg.rule_decision(&client("/g.G/A"), &mut rng)
                .is_some_and(|d| d.abort.is_some())
        })
        .count();
    assert!(
        (4_800..=5_200).contains(&hits),
        "{hits} of 10000 aborted at 50 %"
    );
    assert_eq!(reg.list()[0].injected, hits as u64);
}

#[test]
fn rules_are_capped_and_cleared() {
    let reg = FaultRegistry::new(
        FaultRegistryConfig {
            max_rules: 2,
            ..Default::default()
        },
        ActiveFaults::new(),
    );
    let scope = || RuleScope::ClientTarget("t".into());
    let a = reg.set(abort_rule(scope(), Code::Unavailable)).unwrap();
    reg.set(abort_rule(scope(), Code::Unavailable)).unwrap();
    let err = reg.set(abort_rule(scope(), Code::Unavailable)).unwrap_err();
    assert_eq!(err, FaultRuleError::TooManyRules { max: 2 });
    assert!(err.to_string().contains("2 fault rules are already active"));
    assert_eq!(reg.clear(a).unwrap().id, a);
    assert_eq!(reg.clear(a).unwrap_err(), FaultRuleError::NotFound(a));
    reg.set(abort_rule(scope(), Code::Unavailable)).unwrap();
    assert_eq!(reg.list().len(), 2);
}

#[test]
fn invalid_rules_are_refused_with_the_reason() {
    let reg = registry();
    let mut spec = abort_rule(RuleScope::ClientTarget("t".into()), Code::Unavailable);
    spec.percentage = 150.0;
    let err = reg.set(spec).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("percentage 150 is out of range 0-100")
    );
    assert!(reg.list().is_empty());
}

#[test]
fn active_fault_cap_applies_to_rules() {
    let reg = FaultRegistry::new(
        FaultRegistryConfig {
            max_active_faults: Some(1),
            ..Default::default()
        },
        ActiveFaults::new(),
    );
    let mut rng = fastrand::Rng::with_seed(1);
    reg.set(abort_rule(
        RuleScope::ClientTarget("xds:///greeter:50051".into()),
        Code::Unavailable,
    ))
    .unwrap();
    let held = reg.rule_decision(&client("/g.G/A"), &mut rng).unwrap();
    assert!(held.abort.is_some());
    let over = reg.rule_decision(&client("/g.G/A"), &mut rng).unwrap();
    assert!(over.is_none(), "over the cap the RPC runs unfaulted");
    assert_eq!(reg.active_faults().current(), 1);
    drop(held);
    assert_eq!(reg.active_faults().current(), 0);
}

#[tokio::test(start_paused = true)]
async fn rules_expire_after_their_ttl_with_an_event() {
    let reg = registry();
    let mut events = reg.subscribe();
    let mut rng = fastrand::Rng::with_seed(1);
    let mut spec = abort_rule(
        RuleScope::ServerMethod(MethodPattern::parse("g.G/*").unwrap()),
        Code::Unavailable,
    );
    spec.ttl = Some(Duration::from_secs(30));
    let id = reg.set(spec).unwrap();
    assert!(matches!(events.recv().await, Ok(FaultEvent::Set(r)) if r.id == id));
    let served = RequestScope::Server { method: "/g.G/A" };

    tokio::time::advance(Duration::from_secs(29)).await;
    assert!(
        reg.rule_decision(&served, &mut rng).is_some(),
        "alive at 29 s"
    );

    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(
        reg.rule_decision(&served, &mut rng).is_none(),
        "skipped from the expiry instant on"
    );
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("expiry event within 5 s");
    assert!(matches!(event, Ok(FaultEvent::Expired(r)) if r.id == id && r.matched == 1));
    assert!(reg.list().is_empty());
}

#[tokio::test(start_paused = true)]
async fn clearing_is_announced_and_stops_faults_at_once() {
    let reg = registry();
    let mut events = reg.subscribe();
    let mut rng = fastrand::Rng::with_seed(1);
    let mut spec = abort_rule(
        RuleScope::ClientCluster("greeter-v1".into()),
        Code::Unavailable,
    );
    spec.ttl = Some(Duration::from_secs(600));
    let id = reg.set(spec).unwrap();
    reg.clear(id).unwrap();
    assert!(reg.rule_decision(&client("/g.G/A"), &mut rng).is_none());
    assert!(matches!(events.recv().await, Ok(FaultEvent::Set(_))));
    assert!(matches!(events.recv().await, Ok(FaultEvent::Cleared(r)) if r.id == id));
    tokio::time::advance(Duration::from_secs(700)).await;
    assert!(
        events.try_recv().is_err(),
        "a cleared rule never expires again"
    );
}

#[test]
fn a_ttl_over_the_cap_is_refused_and_none_or_the_cap_itself_is_allowed() {
    assert_eq!(FaultRegistryConfig::default().max_ttl, DEFAULT_MAX_TTL);
    let reg = registry();
    let scope = || RuleScope::ClientTarget("t".into());
    let mut too_long = abort_rule(scope(), Code::Unavailable);
    too_long.ttl = Some(Duration::from_secs(48 * 3600));
    let err = reg.set(too_long).unwrap_err();
    assert_eq!(
        err,
        FaultRuleError::TtlTooLong {
            got: Duration::from_secs(48 * 3600),
            max: DEFAULT_MAX_TTL,
        }
    );
    assert!(
        err.to_string()
            .starts_with("ttl 48h exceeds the maximum 24h; "),
        "{err}"
    );
    assert!(reg.list().is_empty(), "nothing was installed");

    let mut at_cap = abort_rule(scope(), Code::Unavailable);
    at_cap.ttl = Some(DEFAULT_MAX_TTL);
    reg.set(at_cap).unwrap();
    reg.set(abort_rule(scope(), Code::Unavailable)).unwrap();
    assert_eq!(reg.list().len(), 2);

    let small = FaultRegistry::new(
        FaultRegistryConfig {
            max_ttl: Duration::from_secs(90),
            ..Default::default()
        },
        ActiveFaults::new(),
    );
    let mut over = abort_rule(scope(), Code::Unavailable);
    over.ttl = Some(Duration::from_millis(90_500));
    let err = small.set(over).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("ttl 90500ms exceeds the maximum 90s; "),
        "{err}"
    );
}
