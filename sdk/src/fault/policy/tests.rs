use std::collections::BTreeMap;
use std::time::Duration;

use meshwork_proto::envoy::extensions::filters::common::fault::v3::{
    FaultDelay as PDelay, fault_delay,
};
use meshwork_proto::envoy::extensions::filters::http::fault::v3::{
    FaultAbort as PAbort, HttpFault, fault_abort,
};
use meshwork_proto::envoy::r#type::v3::{FractionalPercent, fractional_percent::DenominatorType};
use meshwork_proto::google::protobuf::Duration as PDuration;
use tonic::Code;

use super::*;
use crate::xds::resource::common::{HeaderMatch, HeaderMatcher, StringMatcher, StringPattern};
use crate::xds::resource::listener::fault::{FaultAbort, FaultDelay};

const DRAWS: u32 = 10_000;

fn pct(p: u32) -> Fraction {
    Fraction::from_per_million(p * 10_000)
}

fn delay(ms: u64, share: Fraction) -> Option<FaultDelay> {
    Some(FaultDelay {
        source: DelaySource::Fixed(Duration::from_millis(ms)),
        percentage: share,
    })
}

fn abort(source: AbortSource, share: Fraction) -> Option<FaultAbort> {
    Some(FaultAbort {
        source,
        percentage: share,
    })
}

fn policy(config: FaultConfig) -> FaultPolicy {
    FaultPolicy::single("envoy.filters.http.fault", config)
}

/// How many of `DRAWS` RPCs got (a delay, an abort, either).
fn tally(p: &FaultPolicy, headers: &HeaderMap, seed: u64) -> (u32, u32, u32) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let active = ActiveFaults::new();
    let (mut d, mut a, mut any) = (0, 0, 0);
    for _ in 0..DRAWS {
        let decision = p.decide(headers, &active, &mut rng);
        d += u32::from(decision.delay.is_some());
        a += u32::from(decision.abort.is_some());
        any += u32::from(!decision.is_none());
    }
    (d, a, any)
}

fn assert_share(hits: u32, want_percent: f64, tolerance_points: f64) {
    let got = f64::from(hits) * 100.0 / f64::from(DRAWS);
    assert!(
        (got - want_percent).abs() <= tolerance_points,
        "{got:.2} % of RPCs faulted, expected {want_percent} ± {tolerance_points}"
    );
}

#[test]
fn half_of_rpcs_are_delayed_at_fifty_percent() {
    let p = policy(FaultConfig {
        delay: delay(10, pct(50)),
        ..Default::default()
    });
    let (d, a, _) = tally(&p, &HeaderMap::new(), 42);
    assert_share(d, 50.0, 2.0);
    assert_eq!(a, 0);
}

#[test]
fn zero_percent_never_and_hundred_percent_always() {
    let never = policy(FaultConfig {
        delay: delay(10, Fraction::ZERO),
        abort: abort(AbortSource::GrpcStatus(Code::Unavailable), Fraction::ZERO),
        ..Default::default()
    });
    assert_eq!(tally(&never, &HeaderMap::new(), 1), (0, 0, 0));
    let always = policy(FaultConfig {
        delay: delay(10, Fraction::ALWAYS),
        abort: abort(AbortSource::GrpcStatus(Code::Unavailable), Fraction::ALWAYS),
        ..Default::default()
    });
    assert_eq!(tally(&always, &HeaderMap::new(), 1), (DRAWS, DRAWS, DRAWS));
}

#[test]
fn million_and_ten_thousand_denominators_scale_the_share() {
    let from = |numerator, denominator: DenominatorType| {
        let share = Some(FractionalPercent {
            numerator,
            denominator: denominator as i32,
        });
        FaultConfig::from_proto(&HttpFault {
            delay: Some(PDelay {
                percentage: share,
                fault_delay_secifier: Some(fault_delay::FaultDelaySecifier::FixedDelay(
                    PDuration {
                        seconds: 0,
                        nanos: 5_000_000,
                    },
                )),
            }),
            abort: Some(PAbort {
                percentage: share,
                error_type: Some(fault_abort::ErrorType::HttpStatus(503)),
                ..Default::default()
            }),
            ..Default::default()
        })
        .unwrap()
    };
    let quarter = policy(from(250_000, DenominatorType::Million));
    let (d, a, _) = tally(&quarter, &HeaderMap::new(), 7);
    assert_share(d, 25.0, 2.0);
    assert_share(a, 25.0, 2.0);
    let tiny = policy(from(1, DenominatorType::Million));
    let (d, a, _) = tally(&tiny, &HeaderMap::new(), 7);
    assert!(d <= 2 && a <= 2, "1 in a million: {d} delays, {a} aborts");
    let tenth = policy(from(1_000, DenominatorType::TenThousand));
    assert_share(tally(&tenth, &HeaderMap::new(), 9).0, 10.0, 1.5);
}

#[test]
fn delay_and_abort_draw_independently() {
    // A33: 20 % delay + 5 % abort affects 1 - 0.8 * 0.95 = 24 % of RPCs.
    let p = policy(FaultConfig {
        delay: delay(10, pct(20)),
        abort: abort(AbortSource::GrpcStatus(Code::Aborted), pct(5)),
        ..Default::default()
    });
    let (d, a, any) = tally(&p, &HeaderMap::new(), 3);
    assert_share(d, 20.0, 2.0);
    assert_share(a, 5.0, 1.0);
    assert_share(any, 24.0, 1.5);
}

#[test]
fn http_status_aborts_map_to_grpc_codes() {
    let table = [
        (400, Code::Internal),
        (401, Code::Unauthenticated),
        (403, Code::PermissionDenied),
        (404, Code::Unimplemented),
        (429, Code::Unavailable),
        (502, Code::Unavailable),
        (503, Code::Unavailable),
        (504, Code::Unavailable),
        (200, Code::Unknown),
        (418, Code::Unknown),
        (500, Code::Unknown),
    ];
    let mut rng = fastrand::Rng::with_seed(0);
    for (http, want) in table {
        let p = policy(FaultConfig {
            abort: abort(AbortSource::HttpStatus(http), Fraction::ALWAYS),
            ..Default::default()
        });
        let got = p.decide(&HeaderMap::new(), &ActiveFaults::new(), &mut rng);
        assert_eq!(got.abort.map(|s| s.code()), Some(want), "HTTP {http}");
    }
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, v.parse().unwrap());
    }
    h
}

#[test]
fn headers_control_faults_only_when_the_config_says_so() {
    let asking = headers(&[
        (headers::DELAY, "53"),
        (headers::ABORT_GRPC, "3"),
        (headers::ABORT_HTTP, "503"),
    ]);
    let mut rng = fastrand::Rng::with_seed(5);
    let active = ActiveFaults::new();

    let fixed = policy(FaultConfig {
        delay: delay(10, Fraction::ALWAYS),
        abort: abort(AbortSource::GrpcStatus(Code::Unavailable), Fraction::ALWAYS),
        ..Default::default()
    });
    let d = fixed.decide(&asking, &active, &mut rng);
    assert_eq!(d.delay, Some(Duration::from_millis(10)), "headers ignored");
    assert_eq!(d.abort.map(|s| s.code()), Some(Code::Unavailable));

    let by_header = policy(FaultConfig {
        delay: Some(FaultDelay {
            source: DelaySource::Header,
            percentage: Fraction::ALWAYS,
        }),
        abort: abort(AbortSource::Header, Fraction::ALWAYS),
        ..Default::default()
    });
    let d = by_header.decide(&asking, &active, &mut rng);
    assert_eq!(d.delay, Some(Duration::from_millis(53)));
    assert_eq!(d.abort.map(|s| s.code()), Some(Code::InvalidArgument));
    assert!(
        by_header
            .decide(&HeaderMap::new(), &active, &mut rng)
            .is_none(),
        "header-controlled faults without headers inject nothing"
    );

    let lowered = headers(&[
        (headers::ABORT_HTTP, "503"),
        (headers::ABORT_PERCENTAGE, "0"),
    ]);
    assert!(by_header.decide(&lowered, &active, &mut rng).is_none());
}

#[test]
fn a_route_override_replaces_the_listener_config() {
    let listener = FaultConfig {
        abort: abort(AbortSource::GrpcStatus(Code::Unavailable), Fraction::ALWAYS),
        ..Default::default()
    };
    let chain = [
        HttpFilter {
            name: "fault".into(),
            config: HttpFilterConfig::Fault(listener),
        },
        HttpFilter {
            name: "router".into(),
            config: HttpFilterConfig::Router,
        },
    ];
    let mut rng = fastrand::Rng::with_seed(5);
    let active = ActiveFaults::new();
    let h = HeaderMap::new();

    let plain = FaultPolicy::new(&chain, &BTreeMap::new());
    assert_eq!(
        plain.decide(&h, &active, &mut rng).abort.map(|s| s.code()),
        Some(Code::Unavailable)
    );

    let delay_only = FaultConfig {
        delay: delay(30, Fraction::ALWAYS),
        ..Default::default()
    };
    let over = BTreeMap::from([("fault".to_string(), FilterOverride::Fault(delay_only))]);
    let d = FaultPolicy::new(&chain, &over).decide(&h, &active, &mut rng);
    assert_eq!(d.delay, Some(Duration::from_millis(30)));
    assert!(
        d.abort.is_none(),
        "the override replaced the abort, not merged"
    );

    let off = BTreeMap::from([("fault".to_string(), FilterOverride::Disabled)]);
    assert!(FaultPolicy::new(&chain, &off).is_empty());
}

#[test]
fn max_active_faults_caps_rpcs_under_a_fault() {
    let p = policy(FaultConfig {
        delay: delay(10, Fraction::ALWAYS),
        max_active_faults: Some(2),
        ..Default::default()
    });
    let mut rng = fastrand::Rng::with_seed(5);
    let active = ActiveFaults::new();
    let h = HeaderMap::new();
    let first = p.decide(&h, &active, &mut rng);
    let second = p.decide(&h, &active, &mut rng);
    assert!(first.delay.is_some() && second.delay.is_some());
    assert!(p.decide(&h, &active, &mut rng).is_none(), "third over cap");
    drop(first);
    assert!(
        p.decide(&h, &active, &mut rng).delay.is_some(),
        "slot freed"
    );

    let disabled = policy(FaultConfig {
        delay: delay(10, Fraction::ALWAYS),
        max_active_faults: Some(0),
        ..Default::default()
    });
    assert!(
        disabled
            .decide(&h, &ActiveFaults::new(), &mut rng)
            .is_none()
    );
}

#[test]
fn header_selector_limits_faults_to_matching_requests() {
    let p = policy(FaultConfig {
        abort: abort(AbortSource::GrpcStatus(Code::Internal), Fraction::ALWAYS),
        headers: vec![HeaderMatcher {
            name: "x-canary".into(),
            matcher: HeaderMatch::String(StringMatcher {
                pattern: StringPattern::Exact("yes".into()),
                ignore_case: false,
            }),
            invert: false,
        }],
        ..Default::default()
    });
    let mut rng = fastrand::Rng::with_seed(5);
    let active = ActiveFaults::new();
    assert!(p.decide(&HeaderMap::new(), &active, &mut rng).is_none());
    let hit = p.decide(&headers(&[("x-canary", "yes")]), &active, &mut rng);
    assert_eq!(hit.abort.map(|s| s.code()), Some(Code::Internal));
}

#[test]
fn chained_filters_add_delays_and_stop_at_the_first_abort() {
    let f = |name: &str, config| HttpFilter {
        name: name.into(),
        config: HttpFilterConfig::Fault(config),
    };
    let chain = [
        f(
            "a",
            FaultConfig {
                delay: delay(10, Fraction::ALWAYS),
                ..Default::default()
            },
        ),
        f(
            "b",
            FaultConfig {
                delay: delay(20, Fraction::ALWAYS),
                abort: abort(AbortSource::GrpcStatus(Code::DataLoss), Fraction::ALWAYS),
                ..Default::default()
            },
        ),
        f(
            "c",
            FaultConfig {
                delay: delay(40, Fraction::ALWAYS),
                ..Default::default()
            },
        ),
    ];
    let active = ActiveFaults::new();
    let d = FaultPolicy::new(&chain, &BTreeMap::new()).decide(
        &HeaderMap::new(),
        &active,
        &mut fastrand::Rng::with_seed(1),
    );
    assert_eq!(d.delay, Some(Duration::from_millis(30)));
    assert_eq!(d.abort.as_ref().map(|s| s.code()), Some(Code::DataLoss));
    assert_eq!(active.current(), 1, "the RPC counts once");
    drop(d);
    assert_eq!(active.current(), 0);
}
