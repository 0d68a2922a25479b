use std::time::Duration;

use tonic::Code;

use super::*;

fn plain() -> CallInfo<'static> {
    CallInfo::default()
}

fn code(plan: &Plan) -> Code {
    match &plan.end {
        End::Reply => Code::Ok,
        End::Fail { code, .. } => *code,
        End::Hang => Code::Cancelled,
    }
}

#[test]
fn well_behaved_by_default() {
    let plan = Behavior::default().plan("b0", &plain());
    assert_eq!(
        plan,
        Plan {
            delay: Duration::ZERO,
            end: End::Reply
        }
    );
}

#[test]
fn fail_next_fails_exactly_n_calls() {
    let behavior = Behavior::default();
    behavior.fail_next(2, Code::Internal);
    let codes: Vec<Code> = (0..4)
        .map(|_| code(&behavior.plan("b0", &plain())))
        .collect();
    assert_eq!(codes, [Code::Internal, Code::Internal, Code::Ok, Code::Ok]);
}

#[test]
fn succeed_on_attempt_counts_previous_attempts_header() {
    let behavior = Behavior::default();
    behavior.succeed_on_attempt(3, Code::Unavailable);
    let call = |previous| CallInfo {
        previous_attempts: previous,
        ..CallInfo::default()
    };
    assert_eq!(code(&behavior.plan("b0", &call(None))), Code::Unavailable);
    assert_eq!(
        code(&behavior.plan("b0", &call(Some(1)))),
        Code::Unavailable
    );
    assert_eq!(code(&behavior.plan("b0", &call(Some(2)))), Code::Ok);
    assert_eq!(code(&behavior.plan("b0", &call(Some(u32::MAX)))), Code::Ok);
}

#[test]
fn succeed_on_attempt_counts_per_request_id_without_the_header() {
    let behavior = Behavior::default();
    behavior.succeed_on_attempt(2, Code::Aborted);
    let call = |id| CallInfo {
        request_id: Some(id),
        ..CallInfo::default()
    };
    assert_eq!(code(&behavior.plan("b0", &call("a"))), Code::Aborted);
    assert_eq!(code(&behavior.plan("b0", &call("b"))), Code::Aborted);
    assert_eq!(code(&behavior.plan("b0", &call("a"))), Code::Ok);
    assert_eq!(code(&behavior.plan("b0", &call("b"))), Code::Ok);
}

#[test]
fn error_rate_is_reproducible_from_the_seed() {
    let run = |seed| {
        let behavior = Behavior::new(seed);
        behavior.set_error_rate(0.25, Code::Unavailable);
        (0..1000)
            .map(|_| code(&behavior.plan("b0", &plain())))
            .collect::<Vec<_>>()
    };
    let first = run(42);
    assert_eq!(first, run(42));
    let failures = first.iter().filter(|c| **c == Code::Unavailable).count();
    assert!((200..=300).contains(&failures), "{failures} failures");
    assert_ne!(first, run(43));
}

#[test]
fn error_rate_is_clamped() {
    let behavior = Behavior::default();
    behavior.set_error_rate(7.0, Code::Internal);
    assert_eq!(code(&behavior.plan("b0", &plain())), Code::Internal);
    behavior.set_error_rate(f64::NAN, Code::Internal);
    assert_eq!(code(&behavior.plan("b0", &plain())), Code::Ok);
}

#[test]
fn rpc_behavior_wins_and_latency_adds_up() {
    let behavior = Behavior::default();
    behavior.set_latency(Duration::from_millis(10));
    behavior.set_hang(true);
    let values = ["sleep-5,error-code-0".parse().unwrap()];
    let call = CallInfo {
        rpc_behavior: &values,
        ..CallInfo::default()
    };
    let plan = behavior.plan("b0", &call);
    assert_eq!(plan.delay, Duration::from_millis(15));
    assert_eq!(plan.end, End::Reply);
    assert_eq!(behavior.plan("b0", &plain()).end, End::Hang);
    behavior.reset();
    assert_eq!(behavior.plan("b0", &plain()).end, End::Reply);
}
