use std::time::Duration;

use tonic::Code;
use tonic::metadata::{MetadataMap, MetadataValue};

use super::*;
use crate::balancer::Clock;

fn policy(num_retries: u32) -> RetryPolicy {
    RetryPolicy {
        retry_on: vec![Code::Unavailable, Code::Cancelled],
        num_retries,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
    }
}

fn failed(code: Code) -> AttemptOutcome {
    AttemptOutcome::Failed {
        code,
        pushback: None,
    }
}

fn unavailable_with(pushback: Pushback) -> AttemptOutcome {
    AttemptOutcome::Failed {
        code: Code::Unavailable,
        pushback: Some(pushback),
    }
}

fn retry_delay(decision: RetryDecision) -> Duration {
    match decision {
        RetryDecision::Retry {
            delay,
            transparent: false,
        } => delay,
        other => panic!("expected a counted retry, got {other:?}"),
    }
}

#[test]
fn backoff_stays_within_a6_bounds_over_many_draws() {
    let rng = AtomicRng::new(11);
    let backoff = Backoff::from_policy(&policy(4));
    let ceilings = [100, 200, 400, 800, 1000, 1000].map(Duration::from_millis);
    for (i, ceiling) in ceilings.iter().enumerate() {
        let n = i as u32 + 1;
        assert_eq!(backoff.ceiling(n), *ceiling, "retry {n}");
        let (mut lo, mut hi) = (Duration::MAX, Duration::ZERO);
        for _ in 0..2000 {
            let d = backoff.delay(n, &rng);
            assert!(
                d >= ceiling.mul_f64(0.8) && d < ceiling.mul_f64(1.2),
                "{d:?}"
            );
            (lo, hi) = (lo.min(d), hi.max(d));
        }
        // The draws really spread over the whole ±20 % band.
        assert!(
            lo < ceiling.mul_f64(0.81) && hi > ceiling.mul_f64(1.19),
            "{lo:?}..{hi:?}"
        );
    }
}

#[test]
fn full_jitter_draws_below_the_ceiling() {
    let rng = AtomicRng::new(3);
    let backoff = Backoff {
        jitter: Jitter::Full,
        ..Backoff::from_policy(&policy(4))
    };
    let ceiling = Duration::from_millis(400);
    let draws: Vec<_> = (0..2000).map(|_| backoff.delay(3, &rng)).collect();
    assert!(draws.iter().all(|d| *d < ceiling));
    assert!(draws.iter().any(|d| *d < Duration::from_millis(10)));
    assert!(draws.iter().any(|d| *d > Duration::from_millis(390)));
    let mean = draws.iter().sum::<Duration>() / 2000;
    assert!(mean > Duration::from_millis(180) && mean < Duration::from_millis(220));
}

#[test]
fn same_seed_gives_the_same_delays() {
    let backoff = Backoff::from_policy(&policy(4));
    let (a, b) = (AtomicRng::new(5), AtomicRng::new(5));
    for n in 1..6 {
        assert_eq!(backoff.delay(n, &a), backoff.delay(n, &b));
    }
}

#[test]
fn huge_exponents_stay_at_the_cap() {
    let backoff = Backoff::from_policy(&policy(4));
    assert_eq!(backoff.ceiling(u32::MAX), Duration::from_secs(1));
    assert_eq!(backoff.ceiling(0), Duration::from_millis(100));
}

#[test]
fn attempts_are_capped_at_five() {
    let rng = AtomicRng::new(1);
    let mut state = RetryState::new(&policy(10));
    assert_eq!(state.max_attempts(), 5);
    assert_eq!(state.previous_attempts(), None);
    for expected_previous in 1..5 {
        retry_delay(state.on_attempt_end(failed(Code::Unavailable), Gates::default(), &rng));
        assert_eq!(state.previous_attempts(), Some(expected_previous));
    }
    assert_eq!(
        state.on_attempt_end(failed(Code::Unavailable), Gates::default(), &rng),
        RetryDecision::GiveUp(GiveUp::AttemptsExhausted { attempts: 5 })
    );
}

#[test]
fn num_retries_one_allows_exactly_one_retry() {
    let rng = AtomicRng::new(1);
    let mut state = RetryState::new(&policy(1));
    retry_delay(state.on_attempt_end(failed(Code::Cancelled), Gates::default(), &rng));
    assert!(matches!(
        state.on_attempt_end(failed(Code::Cancelled), Gates::default(), &rng),
        RetryDecision::GiveUp(GiveUp::AttemptsExhausted { attempts: 2 })
    ));
}

#[test]
fn only_listed_codes_retry_and_ok_is_done() {
    let rng = AtomicRng::new(1);
    let mut state = RetryState::new(&policy(3));
    assert_eq!(
        state.on_attempt_end(failed(Code::Internal), Gates::default(), &rng),
        RetryDecision::GiveUp(GiveUp::NotRetryable(Code::Internal))
    );
    assert_eq!(
        state.on_attempt_end(AttemptOutcome::Ok, Gates::default(), &rng),
        RetryDecision::Done
    );
    let mut none = RetryState::without_policy();
    assert_eq!(
        none.on_attempt_end(failed(Code::Unavailable), Gates::default(), &rng),
        RetryDecision::GiveUp(GiveUp::NotRetryable(Code::Unavailable))
    );
}

#[test]
fn pushback_waits_exactly_then_backoff_restarts() {
    let rng = AtomicRng::new(9);
    let mut state = RetryState::new(&policy(4));
    let first =
        retry_delay(state.on_attempt_end(failed(Code::Unavailable), Gates::default(), &rng));
    assert!(first >= Duration::from_millis(80) && first < Duration::from_millis(120));
    let second =
        retry_delay(state.on_attempt_end(failed(Code::Unavailable), Gates::default(), &rng));
    assert!(
        second >= Duration::from_millis(160),
        "second retry backs off further: {second:?}"
    );
    let pushed = state.on_attempt_end(
        unavailable_with(Pushback::RetryAfter(Duration::from_millis(1234))),
        Gates::default(),
        &rng,
    );
    assert_eq!(retry_delay(pushed), Duration::from_millis(1234));
    let after =
        retry_delay(state.on_attempt_end(failed(Code::Unavailable), Gates::default(), &rng));
    assert!(
        after < Duration::from_millis(120),
        "backoff restarted from initial: {after:?}"
    );
}

#[test]
fn pushback_cannot_exceed_max_attempts() {
    let rng = AtomicRng::new(9);
    let mut state = RetryState::new(&policy(1));
    retry_delay(state.on_attempt_end(failed(Code::Unavailable), Gates::default(), &rng));
    let pushed = state.on_attempt_end(
        unavailable_with(Pushback::RetryAfter(Duration::ZERO)),
        Gates::default(),
        &rng,
    );
    assert!(matches!(
        pushed,
        RetryDecision::GiveUp(GiveUp::AttemptsExhausted { .. })
    ));
}

#[test]
fn pushback_stop_ends_retries_and_costs_a_token() {
    let rng = AtomicRng::new(9);
    let throttle = RetryThrottle::new(10.0, 0.1).unwrap();
    let gates = Gates {
        throttle: Some(&throttle),
        budget: None,
    };
    let mut state = RetryState::new(&policy(4));
    // Even a code the policy would not retry: pushback "stop" counts as a throttle failure.
    let decision = state.on_attempt_end(
        AttemptOutcome::Failed {
            code: Code::InvalidArgument,
            pushback: Some(Pushback::Stop),
        },
        gates,
        &rng,
    );
    assert_eq!(decision, RetryDecision::GiveUp(GiveUp::PushbackStop));
    assert_eq!(throttle.tokens(), 9.0);
}

#[test]
fn pushback_header_parsing() {
    assert_eq!(Pushback::parse(b"0"), Pushback::RetryAfter(Duration::ZERO));
    assert_eq!(
        Pushback::parse(b"250"),
        Pushback::RetryAfter(Duration::from_millis(250))
    );
    assert_eq!(
        Pushback::parse(b"2147483647"),
        Pushback::RetryAfter(Duration::from_millis(2_147_483_647))
    );
    for bad in [
        &b"-1"[..],
        b"-0x",
        b"",
        b" 5",
        b"5 ",
        b"+5",
        b"1.5",
        b"abc",
        b"2147483648",
        b"\xff",
    ] {
        assert_eq!(Pushback::parse(bad), Pushback::Stop, "{bad:?}");
    }
    let mut md = MetadataMap::new();
    assert_eq!(Pushback::from_metadata(&md), None);
    md.insert(PUSHBACK_HEADER, MetadataValue::from_static("40"));
    assert_eq!(
        Pushback::from_metadata(&md),
        Some(Pushback::RetryAfter(Duration::from_millis(40)))
    );
    md.append(PUSHBACK_HEADER, MetadataValue::from_static("40"));
    assert_eq!(
        Pushback::from_metadata(&md),
        Some(Pushback::Stop),
        "two values are malformed"
    );
}

#[test]
fn committed_calls_are_not_retried() {
    let rng = AtomicRng::new(1);
    let mut state = RetryState::new(&policy(4));
    state.commit();
    assert!(state.is_committed());
    for outcome in [
        failed(Code::Unavailable),
        AttemptOutcome::NotSent,
        AttemptOutcome::Refused,
    ] {
        assert_eq!(
            state.on_attempt_end(outcome, Gates::default(), &rng),
            RetryDecision::GiveUp(GiveUp::Committed)
        );
    }
}

#[test]
fn transparent_retries_do_not_count() {
    let rng = AtomicRng::new(1);
    let throttle = RetryThrottle::new(2.0, 1.0).unwrap();
    let gates = Gates {
        throttle: Some(&throttle),
        budget: None,
    };
    let mut state = RetryState::without_policy();
    let transparent = RetryDecision::Retry {
        delay: Duration::ZERO,
        transparent: true,
    };
    for _ in 0..10 {
        assert_eq!(
            state.on_attempt_end(AttemptOutcome::NotSent, gates, &rng),
            transparent
        );
    }
    assert_eq!(
        state.on_attempt_end(AttemptOutcome::Refused, gates, &rng),
        transparent
    );
    // A second refusal is an ordinary UNAVAILABLE, which this call has no policy for.
    assert_eq!(
        state.on_attempt_end(AttemptOutcome::Refused, gates, &rng),
        RetryDecision::GiveUp(GiveUp::NotRetryable(Code::Unavailable))
    );
    assert_eq!((state.attempts(), throttle.tokens()), (1, 2.0));
}

#[test]
fn drops_are_never_retried() {
    let rng = AtomicRng::new(1);
    let mut state = RetryState::new(&policy(4));
    assert_eq!(
        state.on_attempt_end(AttemptOutcome::Dropped, Gates::default(), &rng),
        RetryDecision::GiveUp(GiveUp::Dropped)
    );
}

#[test]
fn throttling_stops_retries_across_calls() {
    let rng = AtomicRng::new(1);
    let throttle = RetryThrottle::new(4.0, 1.0).unwrap();
    let gates = Gates {
        throttle: Some(&throttle),
        budget: None,
    };
    // 4 → 3: still above 2, retry.
    retry_delay(RetryState::new(&policy(4)).on_attempt_end(failed(Code::Unavailable), gates, &rng));
    // 3 → 2: at half, throttled.
    let mut call = RetryState::new(&policy(4));
    assert_eq!(
        call.on_attempt_end(failed(Code::Unavailable), gates, &rng),
        RetryDecision::GiveUp(GiveUp::Throttled)
    );
    // Non-retryable failures do not drain tokens; a success refills.
    call.on_attempt_end(failed(Code::NotFound), gates, &rng);
    assert_eq!(throttle.tokens(), 2.0);
    call.on_attempt_end(AttemptOutcome::Ok, gates, &rng);
    assert_eq!(throttle.tokens(), 3.0);
    // The failure is counted before the check: 3 → 2 would still be throttled; one more
    // success (4 → 3) lets the next retry through.
    RetryState::new(&policy(4)).on_attempt_end(AttemptOutcome::Ok, gates, &rng);
    retry_delay(RetryState::new(&policy(4)).on_attempt_end(failed(Code::Cancelled), gates, &rng));
}

#[tokio::test(start_paused = true)]
async fn budget_limits_retries_and_refills() {
    let rng = AtomicRng::new(1);
    let budget = RetryBudget::new(Duration::from_secs(1), 2, 0.0, Clock::tokio()).unwrap();
    let gates = Gates {
        throttle: None,
        budget: Some(&budget),
    };
    let mut call = RetryState::new(&policy(4));
    retry_delay(call.on_attempt_end(failed(Code::Unavailable), gates, &rng));
    retry_delay(call.on_attempt_end(failed(Code::Unavailable), gates, &rng));
    assert_eq!(
        call.on_attempt_end(failed(Code::Unavailable), gates, &rng),
        RetryDecision::GiveUp(GiveUp::BudgetExhausted)
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    retry_delay(call.on_attempt_end(failed(Code::Unavailable), gates, &rng));
}
