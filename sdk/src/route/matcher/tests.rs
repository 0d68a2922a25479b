use tonic::codegen::http::HeaderValue;

use super::*;

fn route_match(path: PathMatcher, case_sensitive: bool) -> RouteMatch {
    RouteMatch {
        path,
        case_sensitive,
        headers: Vec::new(),
        runtime_fraction: None,
    }
}

fn prefix(p: &str) -> PathMatcher {
    PathMatcher::Prefix(p.to_string())
}

/// A catch-all route with one header matcher.
fn with_header(name: &str, matcher: HeaderMatch, invert: bool) -> RequestMatcher {
    let mut m = route_match(prefix(""), true);
    m.headers.push(HeaderMatcher {
        name: name.to_string(),
        matcher,
        invert,
    });
    RequestMatcher::new(&m)
}

fn text(pattern: StringPattern, ignore_case: bool) -> HeaderMatch {
    HeaderMatch::String(StringMatcher {
        pattern,
        ignore_case,
    })
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_static(v));
    }
    h
}

/// Whether `m` matches a `/svc/M` request with `pairs` as headers.
fn hit(m: &RequestMatcher, pairs: &[(&'static str, &'static str)]) -> bool {
    let h = headers(pairs);
    m.matches(
        &RequestInfo::new("/svc/M", &h),
        &mut fastrand::Rng::with_seed(1),
    )
}

#[test]
fn path_prefix_exact_and_regex_respect_case_sensitivity() {
    let m = |p, cs| RequestMatcher::new(&route_match(p, cs));
    let path = |s: &str| PathMatcher::Path(s.to_string());
    let regex = |s: &str, cs: bool| PathMatcher::Regex(Regex::new(s, !cs).unwrap());

    assert!(m(prefix("/pkg.Greeter/"), true).path_matches("/pkg.Greeter/SayHello"));
    assert!(!m(prefix("/pkg.Greeter/"), true).path_matches("/PKG.greeter/SayHello"));
    assert!(m(prefix("/pkg.Greeter/"), false).path_matches("/PKG.greeter/SayHello"));
    assert!(!m(prefix("/pkg.Greeter/"), false).path_matches("/pkg.Gree"));
    assert!(m(prefix(""), true).path_matches("/anything/At"));

    assert!(m(path("/pkg.Greeter/SayHello"), true).path_matches("/pkg.Greeter/SayHello"));
    assert!(!m(path("/pkg.Greeter/SayHello"), true).path_matches("/pkg.Greeter/sayhello"));
    assert!(!m(path("/pkg.Greeter/Say"), true).path_matches("/pkg.Greeter/SayHello"));
    assert!(m(path("/pkg.Greeter/SayHello"), false).path_matches("/PKG.GREETER/SAYHELLO"));

    assert!(m(regex("/pkg\\.Greeter/Say.*", true), true).path_matches("/pkg.Greeter/SayHi"));
    assert!(!m(regex("/pkg\\.Greeter/Say.*", true), true).path_matches("/pkg.Greeter/sayHi"));
    assert!(m(regex("/pkg\\.Greeter/Say.*", false), false).path_matches("/pkg.Greeter/sayHi"));
    // The regex must match the whole path, not a part of it.
    assert!(!m(regex("Say.*", true), true).path_matches("/pkg.Greeter/SayHi"));
}

#[test]
fn string_header_matchers_each_kind_and_ignore_case() {
    let exact = with_header(
        "x-env",
        text(StringPattern::Exact("prod".into()), false),
        false,
    );
    assert!(hit(&exact, &[("x-env", "prod")]));
    assert!(!hit(&exact, &[("x-env", "PROD")]));
    let exact_ic = with_header(
        "x-env",
        text(StringPattern::Exact("prod".into()), true),
        false,
    );
    assert!(hit(&exact_ic, &[("x-env", "PROD")]));

    let pre = with_header(
        "x-env",
        text(StringPattern::Prefix("pr".into()), false),
        false,
    );
    assert!(hit(&pre, &[("x-env", "prod")]) && !hit(&pre, &[("x-env", "Prod")]));
    let pre_ic = with_header(
        "x-env",
        text(StringPattern::Prefix("PR".into()), true),
        false,
    );
    assert!(hit(&pre_ic, &[("x-env", "prod")]) && !hit(&pre_ic, &[("x-env", "p")]));

    let suf = with_header(
        "x-env",
        text(StringPattern::Suffix("od".into()), false),
        false,
    );
    assert!(hit(&suf, &[("x-env", "prod")]) && !hit(&suf, &[("x-env", "prOD")]));
    let suf_ic = with_header(
        "x-env",
        text(StringPattern::Suffix("OD".into()), true),
        false,
    );
    assert!(hit(&suf_ic, &[("x-env", "prod")]) && !hit(&suf_ic, &[("x-env", "d")]));

    let con = with_header(
        "x-env",
        text(StringPattern::Contains("ro".into()), false),
        false,
    );
    assert!(hit(&con, &[("x-env", "prod")]) && !hit(&con, &[("x-env", "pRod")]));
    let con_ic = with_header(
        "x-env",
        text(StringPattern::Contains("RO".into()), true),
        false,
    );
    assert!(hit(&con_ic, &[("x-env", "prod")]) && !hit(&con_ic, &[("x-env", "pr-od")]));

    // ignore_case does not apply to regexes (A63).
    let re = Regex::new("pr[a-z]+", false).unwrap();
    let re_m = with_header("x-env", text(StringPattern::Regex(re), true), false);
    assert!(hit(&re_m, &[("x-env", "prod")]));
    assert!(!hit(&re_m, &[("x-env", "PROD")]));
    assert!(!hit(&re_m, &[("x-env", "xprod")]));
}

#[test]
fn range_matches_integers_in_half_open_interval() {
    let m = with_header("x-n", HeaderMatch::Range { start: -10, end: 0 }, false);
    assert!(hit(&m, &[("x-n", "-1")]));
    assert!(hit(&m, &[("x-n", "-10")]));
    assert!(!hit(&m, &[("x-n", "0")]));
    assert!(!hit(&m, &[("x-n", "-1x")]));
    assert!(!hit(&m, &[("x-n", "-0.5")]));
    assert!(!hit(&m, &[]));
}

#[test]
fn invert_flips_value_tests_but_a_missing_header_never_matches_them() {
    let not_v1 = with_header(
        "x-ver",
        text(StringPattern::Exact("v1".into()), false),
        true,
    );
    assert!(hit(&not_v1, &[("x-ver", "v2")]));
    assert!(!hit(&not_v1, &[("x-ver", "v1")]));
    assert!(
        !hit(&not_v1, &[]),
        "A41: inverted value tests need the header"
    );

    let not_in_range = with_header("x-n", HeaderMatch::Range { start: -10, end: 0 }, true);
    assert!(!hit(&not_in_range, &[("x-n", "-1")]));
    assert!(hit(&not_in_range, &[("x-n", "5")]));
    assert!(!hit(&not_in_range, &[]));
}

#[test]
fn present_match_with_and_without_invert() {
    let present = with_header("x-a", HeaderMatch::Present(true), false);
    let absent = with_header("x-a", HeaderMatch::Present(false), false);
    let not_present = with_header("x-a", HeaderMatch::Present(true), true);
    let not_absent = with_header("x-a", HeaderMatch::Present(false), true);
    let with = [("x-a", "")];
    assert!(hit(&present, &with) && !hit(&present, &[]));
    assert!(!hit(&absent, &with) && hit(&absent, &[]));
    assert!(!hit(&not_present, &with) && hit(&not_present, &[]));
    assert!(hit(&not_absent, &with) && !hit(&not_absent, &[]));
}

#[test]
fn binary_and_pseudo_headers_are_never_present() {
    let bin = [("x-token-bin", "AAEC")];
    assert!(!hit(
        &with_header("x-token-bin", HeaderMatch::Present(true), false),
        &bin
    ));
    assert!(hit(
        &with_header("x-token-bin", HeaderMatch::Present(false), false),
        &bin
    ));
    let exact = text(StringPattern::Exact("AAEC".into()), false);
    assert!(!hit(
        &with_header("x-token-bin", exact.clone(), false),
        &bin
    ));
    assert!(!hit(&with_header("x-token-bin", exact, true), &bin));
    assert!(!hit(
        &with_header(":authority", HeaderMatch::Present(true), false),
        &[]
    ));
}

#[test]
fn content_type_is_always_application_grpc() {
    let m = with_header(
        "Content-Type",
        text(StringPattern::Exact("application/grpc".into()), false),
        false,
    );
    assert!(hit(&m, &[]));
    assert!(hit(&m, &[("content-type", "application/grpc+proto")]));
}

#[test]
fn multiple_values_are_joined_with_commas() {
    let m = with_header(
        "x-tag",
        text(StringPattern::Exact("a,b".into()), false),
        false,
    );
    assert!(hit(&m, &[("x-tag", "a"), ("x-tag", "b")]));
    assert!(!hit(&m, &[("x-tag", "a")]));
    // Header names are case-insensitive in the config.
    let upper = with_header(
        "X-Tag",
        text(StringPattern::Exact("a".into()), false),
        false,
    );
    assert!(hit(&upper, &[("x-tag", "a")]));
}

#[test]
fn every_header_matcher_must_pass() {
    let mut m = route_match(prefix("/svc/"), true);
    m.headers = vec![
        HeaderMatcher {
            name: "x-a".into(),
            matcher: HeaderMatch::Present(true),
            invert: false,
        },
        HeaderMatcher {
            name: "x-b".into(),
            matcher: text(StringPattern::Exact("1".into()), false),
            invert: false,
        },
    ];
    let m = RequestMatcher::new(&m);
    assert!(hit(&m, &[("x-a", "z"), ("x-b", "1")]));
    assert!(!hit(&m, &[("x-a", "z"), ("x-b", "2")]));
    assert!(!hit(&m, &[("x-b", "1")]));
}

fn fraction_route(per_million: u32) -> RequestMatcher {
    let mut m = route_match(prefix("/svc/"), true);
    m.runtime_fraction = Some(Fraction::from_per_million(per_million));
    RequestMatcher::new(&m)
}

#[test]
fn runtime_fraction_admits_its_share_with_a_seeded_rng() {
    let m = fraction_route(250_000);
    let h = HeaderMap::new();
    let req = RequestInfo::new("/svc/M", &h);
    let mut rng = fastrand::Rng::with_seed(42);
    let n = 100_000;
    let hits = (0..n).filter(|_| m.matches(&req, &mut rng)).count();
    // 25 % ± 1 point; with this seed the count is deterministic.
    assert!((24_000..=26_000).contains(&hits), "{hits} of {n}");

    assert!((0..1000).all(|_| !fraction_route(0).matches(&req, &mut rng)));
    assert!((0..1000).all(|_| fraction_route(1_000_000).matches(&req, &mut rng)));
}

#[test]
fn fraction_is_drawn_only_after_path_and_headers_match() {
    let m = fraction_route(500_000);
    let h = HeaderMap::new();
    let mut rng = fastrand::Rng::with_seed(5);
    let mut twin = fastrand::Rng::with_seed(5);
    assert!(!m.matches(&RequestInfo::new("/other/M", &h), &mut rng));
    // A mismatch on the path consumed no randomness; a 100 % fraction consumes none either.
    assert!(fraction_route(1_000_000).matches(&RequestInfo::new("/svc/M", &h), &mut rng));
    assert_eq!(rng.u64(..), twin.u64(..));
}
