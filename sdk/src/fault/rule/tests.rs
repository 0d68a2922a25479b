use super::*;

fn spec(scope: RuleScope) -> FaultRuleSpec {
    FaultRuleSpec {
        scope,
        delay: None,
        abort: Some(tonic::Code::Unavailable),
        percentage: 100.0,
        ttl: None,
    }
}

fn client<'a>(
    target: &'a str,
    cluster: &'a str,
    route: &'a str,
    method: &'a str,
) -> RequestScope<'a> {
    RequestScope::Client {
        target,
        cluster,
        route,
        method,
    }
}

#[test]
fn method_patterns_parse_exact_and_service_wildcards() {
    let exact = MethodPattern::parse("/helloworld.Greeter/SayHello").unwrap();
    assert_eq!(
        exact,
        MethodPattern::Exact("/helloworld.Greeter/SayHello".into())
    );
    assert!(exact.matches("/helloworld.Greeter/SayHello"));
    assert!(!exact.matches("/helloworld.Greeter/SayHi"));

    let service = MethodPattern::parse("helloworld.Greeter/*").unwrap();
    assert_eq!(service.to_string(), "helloworld.Greeter/*");
    assert!(service.matches("/helloworld.Greeter/SayHello"));
    assert!(!service.matches("/helloworld.GreeterAdmin/SayHello"));
    assert!(!service.matches("/helloworld.Greeter/"));

    for bad in ["", "Greeter", "/a/b/c", "/*/x", "pkg.Svc/", "pkg.Svc/Me*"] {
        let err = MethodPattern::parse(bad).unwrap_err();
        assert_eq!(err, FaultRuleError::BadMethod(bad.into()), "{bad:?}");
    }
}

#[test]
fn scopes_match_only_their_side_and_dimension() {
    let req = client("xds:///greeter:50051", "greeter-v2", "canary", "/g.G/Hi");
    assert!(RuleScope::ClientTarget("xds:///greeter:50051".into()).matches(&req));
    assert!(RuleScope::ClientCluster("greeter-v2".into()).matches(&req));
    assert!(!RuleScope::ClientCluster("greeter-v1".into()).matches(&req));
    assert!(RuleScope::ClientRoute("canary".into()).matches(&req));
    let method = MethodPattern::parse("g.G/*").unwrap();
    assert!(RuleScope::ClientMethod(method.clone()).matches(&req));
    assert!(
        !RuleScope::ServerMethod(method.clone()).matches(&req),
        "a server rule never touches client RPCs"
    );
    let served = RequestScope::Server { method: "/g.G/Hi" };
    assert!(RuleScope::ServerMethod(method.clone()).matches(&served));
    assert!(!RuleScope::ClientMethod(method).matches(&served));
    assert!(!RuleScope::ClientTarget("xds:///greeter:50051".into()).matches(&served));
}

#[test]
fn validation_says_what_is_wrong() {
    let target = || RuleScope::ClientTarget("t".into());
    let msg = |s: FaultRuleSpec| s.validate().unwrap_err().to_string();

    let mut s = spec(target());
    s.percentage = 150.0;
    assert_eq!(
        msg(s),
        "percentage 150 is out of range 0-100; give the share of matching RPCs to fault"
    );
    let mut s = spec(target());
    s.percentage = f64::NAN;
    assert!(msg(s).starts_with("percentage NaN is out of range"));
    let mut s = spec(target());
    s.abort = None;
    assert!(msg(s).contains("neither a delay nor an abort"));
    let mut s = spec(target());
    s.abort = Some(tonic::Code::Ok);
    assert!(msg(s).contains("abort code OK would not fail any RPC"));
    let mut s = spec(target());
    s.delay = Some(Duration::from_secs(7200));
    assert!(msg(s).contains("longer than the 3600s maximum"));
    let mut s = spec(target());
    s.ttl = Some(Duration::ZERO);
    assert!(msg(s).contains("ttl of 0"));
    assert_eq!(
        msg(spec(RuleScope::ClientCluster(" ".into()))),
        "the client cluster scope has an empty name; give the client cluster the rule applies to"
    );
    assert!(spec(target()).validate().is_ok());
}

#[test]
fn percentages_convert_to_parts_per_million() {
    let mut s = spec(RuleScope::ClientTarget("t".into()));
    for (percent, ppm) in [(0.0, 0), (0.0001, 1), (12.5, 125_000), (100.0, 1_000_000)] {
        s.percentage = percent;
        assert_eq!(s.per_million(), ppm, "{percent} %");
    }
}
