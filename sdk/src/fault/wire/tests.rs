use std::time::Duration;

use prost::Message;

use super::*;
use crate::fault::{ActiveFaults, FaultRegistry, FaultRegistryConfig};

fn spec(scope: Scope) -> pb::FaultRuleSpec {
    pb::FaultRuleSpec {
        scope: Some(pb::FaultScope { scope: Some(scope) }),
        delay_ms: 250,
        abort_code: Some(14),
        percentage: 12.5,
        ttl_ms: Some(60_000),
    }
}

#[test]
fn a_set_fault_request_parses_into_a_rule_and_back() {
    let wire = spec(Scope::ClientMethod("helloworld.Greeter/*".into()));
    let bytes = wire.encode_to_vec();
    let decoded = pb::FaultRuleSpec::decode(bytes.as_slice()).unwrap();
    let parsed = FaultRuleSpec::try_from(&decoded).unwrap();
    assert_eq!(
        parsed,
        FaultRuleSpec {
            scope: RuleScope::ClientMethod(MethodPattern::Service("helloworld.Greeter".into())),
            delay: Some(Duration::from_millis(250)),
            abort: Some(tonic::Code::Unavailable),
            percentage: 12.5,
            ttl: Some(Duration::from_secs(60)),
        }
    );
    assert_eq!(pb::FaultRuleSpec::from(&parsed), wire);
}

#[test]
fn bad_requests_are_refused_with_the_reason() {
    let err = |p: pb::FaultRuleSpec| FaultRuleSpec::try_from(&p).unwrap_err().to_string();
    let mut p = spec(Scope::ClientTarget("t".into()));
    p.scope = None;
    assert!(err(p).starts_with("the rule has no scope"));
    let mut p = spec(Scope::ClientTarget("t".into()));
    p.abort_code = Some(99);
    assert!(err(p).starts_with("abort code 99 is not a gRPC status code"));
    let mut p = spec(Scope::ClientTarget("t".into()));
    p.percentage = -1.0;
    assert!(err(p).starts_with("percentage -1 is out of range 0-100"));
    assert!(err(spec(Scope::ServerMethod("Greeter".into()))).contains("`Greeter`"));
}

#[tokio::test(start_paused = true)]
async fn rules_and_events_carry_wall_clock_times() {
    let reg = FaultRegistry::new(FaultRegistryConfig::default(), ActiveFaults::new());
    let mut events = reg.subscribe();
    let clock = WallClock::new(
        Instant::now(),
        UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    );
    tokio::time::advance(Duration::from_secs(5)).await;
    let parsed = FaultRuleSpec::try_from(&spec(Scope::ClientCluster("c".into()))).unwrap();
    let id = reg.set(parsed).unwrap();
    let shown = rule_to_proto(&reg.list()[0], &clock);
    assert_eq!(shown.id, id.0);
    assert_eq!(shown.created_at.map(|t| t.seconds), Some(1_700_000_005));
    assert_eq!(shown.expires_at.map(|t| t.seconds), Some(1_700_000_065));
    let event = event_to_proto(&events.recv().await.unwrap(), &clock);
    assert_eq!(event.change, pb::FaultRuleChange::Set as i32);
    assert_eq!(event.rule.map(|r| r.id), Some(id.0));
}
