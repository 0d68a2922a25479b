use std::time::Duration;

use tonic::Code;

use super::*;

fn parse(values: &[&str]) -> Vec<RpcBehavior> {
    values
        .iter()
        .map(|v| v.parse().unwrap_or_else(|e| panic!("{v}: {e}")))
        .collect()
}

#[test]
fn parses_every_directive_in_order() {
    let parsed: RpcBehavior = "sleep-250, keep-open,error-code-14,succeed-on-retry-attempt-4"
        .parse()
        .unwrap();
    assert_eq!(parsed.hostname, None);
    assert_eq!(
        parsed.directives,
        vec![
            Directive::Sleep(Duration::from_millis(250)),
            Directive::KeepOpen,
            Directive::ErrorCode(Code::Unavailable),
            Directive::SucceedOnRetryAttempt(4),
        ]
    );
}

#[test]
fn hostname_prefix_limits_a_value_to_one_backend() {
    let values = parse(&["hostname=b1 error-code-2"]);
    assert_eq!(values[0].hostname.as_deref(), Some("b1"));
    assert_eq!(
        evaluate(&values, "b1", 0).verdict,
        Verdict::Fail(Code::Unknown)
    );
    assert_eq!(evaluate(&values, "b0", 0).verdict, Verdict::Continue);
}

#[test]
fn retry_case_of_the_interop_suite() {
    // The psm-interop retry test: 4 retries succeed, 3 do not.
    let values = parse(&["succeed-on-retry-attempt-4,error-code-14"]);
    for previous in 0..4 {
        assert_eq!(
            evaluate(&values, "b0", previous).verdict,
            Verdict::Fail(Code::Unavailable),
            "previous attempts {previous}"
        );
    }
    assert_eq!(evaluate(&values, "b0", 4).verdict, Verdict::Succeed);
}

#[test]
fn sleeps_add_up_until_the_verdict_across_values() {
    let values = parse(&["sleep-100", "sleep-20,error-code-4,sleep-1000"]);
    let eval = evaluate(&values, "b0", 0);
    assert_eq!(eval.delay, Duration::from_millis(120));
    assert_eq!(eval.verdict, Verdict::Fail(Code::DeadlineExceeded));
}

#[test]
fn error_code_zero_succeeds_and_empty_values_do_nothing() {
    assert_eq!(
        evaluate(&parse(&["error-code-0,error-code-3"]), "b0", 0).verdict,
        Verdict::Succeed
    );
    let empty = evaluate(&parse(&["", " , "]), "b0", 0);
    assert_eq!(empty.verdict, Verdict::Continue);
    assert_eq!(empty.delay, Duration::ZERO);
}

#[test]
fn tolerates_the_documents_spelling() {
    let values = parse(&["success-on-retry-attempt-1"]);
    assert_eq!(
        values[0].directives,
        vec![Directive::SucceedOnRetryAttempt(1)]
    );
}

#[test]
fn malformed_values_say_what_is_wrong() {
    for (value, needle) in [
        ("sleep-abc", "non-negative integer"),
        ("error-code-17", "0..=16"),
        ("error-code--1", "non-negative integer"),
        ("explode", "unknown directive `explode`"),
        ("hostname= error-code-2", "names no backend"),
    ] {
        let err = value.parse::<RpcBehavior>().unwrap_err();
        let text = err.to_string();
        assert!(text.contains(needle), "{value}: {text}");
        assert!(text.contains(value.trim()), "{value}: {text}");
    }
}

#[test]
fn directives_print_back_in_the_grammar() {
    let value = "sleep-5,keep-open,error-code-14,succeed-on-retry-attempt-2";
    let parsed: RpcBehavior = value.parse().unwrap();
    let printed: Vec<String> = parsed.directives.iter().map(|d| d.to_string()).collect();
    assert_eq!(printed.join(","), value);
}
