use std::collections::HashMap;
use std::time::Duration;

use meshwork_proto::envoy::config::core::v3::{RuntimeFractionalPercent, TypedExtensionConfig};
use meshwork_proto::envoy::config::route::v3::{
    ClusterSpecifierPlugin, FilterConfig, HeaderMatcher as PHeader, QueryParameterMatcher, RedirectAction,
    RetryPolicy as PRetry, Route as PRoute, RouteAction as PAction, RouteConfiguration as PRc,
    RouteMatch as PMatch, VirtualHost as PVh, WeightedCluster as PWeighted, header_matcher::HeaderMatchSpecifier,
    retry_policy::RetryBackOff, route, route_action, route_action::ClusterSpecifier, route_match::PathSpecifier,
    weighted_cluster::ClusterWeight,
};
use meshwork_proto::envoy::extensions::filters::http::fault::v3::HttpFault;
use meshwork_proto::envoy::r#type::matcher::v3::{RegexMatcher, StringMatcher as PString, string_matcher};
use meshwork_proto::envoy::r#type::v3::FractionalPercent;
use meshwork_proto::envoy_types::util::pack_any;
use meshwork_proto::google::protobuf::{Any, BoolValue, Duration as PDuration, UInt32Value};

use super::*;
use crate::xds::resource::common::{Fraction, HeaderMatch, HeaderMatcher, StringMatcher, StringPattern};
use crate::xds::resource::listener::FaultConfig;

fn action(spec: ClusterSpecifier) -> PAction {
    PAction { cluster_specifier: Some(spec), ..Default::default() }
}

fn prefix_route(prefix: &str, a: PAction) -> PRoute {
    PRoute {
        r#match: Some(PMatch { path_specifier: Some(PathSpecifier::Prefix(prefix.into())), ..Default::default() }),
        action: Some(route::Action::Route(a)),
        ..Default::default()
    }
}

fn rc(routes: Vec<PRoute>) -> PRc {
    PRc {
        name: "routes-1".into(),
        virtual_hosts: vec![PVh { name: "vh".into(), domains: vec!["greeter".into()], routes, ..Default::default() }],
        ..Default::default()
    }
}

fn decode(p: &PRc) -> std::result::Result<RouteConfiguration, String> {
    RouteConfiguration::try_from(p).map_err(|e| e.to_string())
}

fn forward(r: &Route) -> &ForwardAction {
    match &r.action {
        RouteAction::Forward(f) => f,
        other => panic!("expected a forwarding action, got {other:?}"),
    }
}

fn weighted(clusters: &[(&str, u32)]) -> ClusterSpecifier {
    ClusterSpecifier::WeightedClusters(PWeighted {
        clusters: clusters
            .iter()
            .map(|(n, w)| ClusterWeight { name: (*n).into(), weight: Some(UInt32Value { value: *w }), ..Default::default() })
            .collect(),
        ..Default::default()
    })
}

#[test]
#[allow(deprecated)]
fn full_route_decodes_matchers_weights_timeouts_retry_and_hashing() {
    let mut a = action(weighted(&[("a", 3), ("b", 0), ("c", 1)]));
    a.max_stream_duration = Some(route_action::MaxStreamDuration {
        max_stream_duration: Some(PDuration { seconds: 9, nanos: 0 }),
        grpc_timeout_header_max: Some(PDuration { seconds: 3, nanos: 0 }),
        ..Default::default()
    });
    a.timeout = Some(PDuration { seconds: 99, nanos: 0 }); // ignored by gRPC
    a.hash_policy = vec![
        route_action::HashPolicy {
            terminal: true,
            policy_specifier: Some(route_action::hash_policy::PolicySpecifier::Header(route_action::hash_policy::Header {
                header_name: "X-User".into(),
                regex_rewrite: None,
            })),
        },
        route_action::HashPolicy {
            terminal: false,
            policy_specifier: Some(route_action::hash_policy::PolicySpecifier::FilterState(
                route_action::hash_policy::FilterState { key: "io.grpc.channel_id".into() },
            )),
        },
        route_action::HashPolicy {
            terminal: false,
            policy_specifier: Some(route_action::hash_policy::PolicySpecifier::FilterState(
                route_action::hash_policy::FilterState { key: "other".into() },
            )),
        },
    ];
    let mut r = prefix_route("/pkg.Svc/", a);
    let m = r.r#match.as_mut().unwrap();
    m.case_sensitive = Some(BoolValue { value: false });
    m.runtime_fraction = Some(RuntimeFractionalPercent {
        default_value: Some(FractionalPercent { numerator: 50, denominator: 0 }),
        runtime_key: "ignored".into(),
    });
    m.headers = vec![PHeader {
        name: "env".into(),
        header_match_specifier: Some(HeaderMatchSpecifier::ExactMatch("canary".into())),
        ..Default::default()
    }];
    let mut p = rc(vec![r]);
    p.virtual_hosts[0].retry_policy = Some(PRetry { retry_on: "unavailable, 5xx,cancelled".into(), ..Default::default() });
    let got = decode(&p).unwrap();
    let vh = &got.virtual_hosts[0];
    let route = &vh.routes[0];
    assert!(route.matcher.path_matches("/PKG.svc/Method"));
    assert_eq!(route.matcher.runtime_fraction, Some(Fraction::from_per_million(500_000)));
    assert_eq!(
        route.matcher.headers,
        vec![HeaderMatcher {
            name: "env".into(),
            matcher: HeaderMatch::String(StringMatcher { pattern: StringPattern::Exact("canary".into()), ignore_case: false }),
            invert: false,
        }]
    );
    let f = forward(route);
    assert_eq!(f.clusters.iter().map(|c| (c.name.as_str(), c.weight)).collect::<Vec<_>>(), [("a", 3), ("c", 1)]);
    assert_eq!(f.total_weight, 4);
    assert_eq!(f.max_stream_duration, Some(Duration::from_secs(3)));
    let retry = f.retry_policy.as_ref().expect("virtual host retry policy applies");
    assert_eq!(retry.retry_on, [tonic::Code::Unavailable, tonic::Code::Cancelled]);
    assert_eq!((retry.max_attempts(), retry.initial_backoff, retry.max_backoff), (2, Duration::from_millis(25), Duration::from_millis(250)));
    assert_eq!(
        f.hash_policies,
        vec![
            HashPolicy { source: HashSource::Header { name: "x-user".into(), rewrite: None }, terminal: true },
            HashPolicy { source: HashSource::ChannelId, terminal: false },
        ]
    );
}

#[test]
fn route_retry_policy_overrides_virtual_host_and_is_validated() {
    let mut a = action(ClusterSpecifier::Cluster("c".into()));
    a.retry_policy = Some(PRetry {
        retry_on: "internal".into(),
        num_retries: Some(UInt32Value { value: 9 }),
        retry_back_off: Some(RetryBackOff { base_interval: Some(PDuration { seconds: 0, nanos: 100 }), max_interval: None }),
        ..Default::default()
    });
    let mut p = rc(vec![prefix_route("", a.clone())]);
    p.virtual_hosts[0].retry_policy = Some(PRetry { retry_on: "unavailable".into(), ..Default::default() });
    let got = decode(&p).unwrap();
    let r = forward(&got.virtual_hosts[0].routes[0]).retry_policy.clone().unwrap();
    assert_eq!(r.retry_on, [tonic::Code::Internal]);
    assert_eq!(r.max_attempts(), 5, "capped at 5");
    assert_eq!(r.initial_backoff, Duration::from_millis(1), "sub-millisecond raised to 1 ms");

    a.retry_policy.as_mut().unwrap().num_retries = Some(UInt32Value { value: 0 });
    let e = decode(&rc(vec![prefix_route("", a.clone())])).unwrap_err();
    assert!(e.contains("routes[0].route.retry_policy.num_retries") && e.contains(">= 1"), "{e}");
    a.retry_policy.as_mut().unwrap().num_retries = None;
    a.retry_policy.as_mut().unwrap().retry_back_off = Some(RetryBackOff {
        base_interval: Some(PDuration { seconds: 1, nanos: 0 }),
        max_interval: Some(PDuration { seconds: 0, nanos: 5_000_000 }),
    });
    let e = decode(&rc(vec![prefix_route("", a)])).unwrap_err();
    assert!(e.contains("max_interval") && e.contains("below base_interval"), "{e}");
}

#[test]
fn weighted_cluster_sums_are_checked() {
    let e = decode(&rc(vec![prefix_route("", action(weighted(&[("a", 0)])))])).unwrap_err();
    assert!(e.contains("weighted_clusters.clusters") && e.contains("sum to 0"), "{e}");
    let e = decode(&rc(vec![prefix_route("", action(weighted(&[("a", u32::MAX), ("b", 1)])))])).unwrap_err();
    assert!(e.contains("above the maximum"), "{e}");
}

#[test]
fn ignored_routes_are_dropped_and_unsupported_actions_kept() {
    let mut query = prefix_route("/q", action(ClusterSpecifier::Cluster("c".into())));
    query.r#match.as_mut().unwrap().query_parameters = vec![QueryParameterMatcher { name: "x".into(), ..Default::default() }];
    let header = prefix_route("/h", action(ClusterSpecifier::ClusterHeader("x-cluster".into())));
    let redirect = PRoute {
        r#match: Some(PMatch { path_specifier: Some(PathSpecifier::Path("/r".into())), ..Default::default() }),
        action: Some(route::Action::Redirect(RedirectAction::default())),
        ..Default::default()
    };
    let plugin = prefix_route("/p", action(ClusterSpecifier::ClusterSpecifierPlugin("rls".into())));
    let mut p = rc(vec![query, header, redirect, plugin, prefix_route("", action(ClusterSpecifier::Cluster("c".into())))]);
    p.cluster_specifier_plugins = vec![ClusterSpecifierPlugin {
        extension: Some(TypedExtensionConfig { name: "rls".into(), typed_config: Some(Any { type_url: "type.googleapis.com/grpc.lookup.v1.RouteLookupClusterSpecifier".into(), value: vec![] }) }),
        is_optional: true,
    }];
    let got = decode(&p).unwrap();
    let routes = &got.virtual_hosts[0].routes;
    assert_eq!(routes.len(), 2);
    assert_eq!(routes[0].action, RouteAction::Unsupported);
    assert!(matches!(routes[1].action, RouteAction::Forward(_)));

    p.cluster_specifier_plugins[0].is_optional = false;
    let e = decode(&p).unwrap_err();
    assert!(e.contains("cluster_specifier_plugins[0]") && e.contains("RouteLookupClusterSpecifier"), "{e}");
    p.cluster_specifier_plugins.clear();
    let e = decode(&p).unwrap_err();
    assert!(e.contains("routes[3]") && e.contains("`rls` is not declared"), "{e}");
}

#[test]
fn bad_matchers_are_rejected_with_their_path() {
    let mut r = prefix_route("", action(ClusterSpecifier::Cluster("c".into())));
    r.r#match.as_mut().unwrap().path_specifier =
        Some(PathSpecifier::SafeRegex(RegexMatcher { regex: "(unclosed".into(), engine_type: None }));
    let e = decode(&rc(vec![r.clone()])).unwrap_err();
    assert!(e.starts_with("virtual_hosts[0].routes[0].match.safe_regex.regex:"), "{e}");
    r.r#match.as_mut().unwrap().path_specifier = None;
    assert!(decode(&rc(vec![r.clone()])).unwrap_err().contains("no path specifier"));
    r.r#match.as_mut().unwrap().path_specifier = Some(PathSpecifier::Prefix("/".into()));
    r.r#match.as_mut().unwrap().headers = vec![PHeader {
        name: "h".into(),
        header_match_specifier: Some(HeaderMatchSpecifier::StringMatch(PString {
            match_pattern: Some(string_matcher::MatchPattern::SafeRegex(RegexMatcher { regex: "a{99999999}".into(), engine_type: None })),
            ignore_case: false,
        })),
        ..Default::default()
    }];
    let e = decode(&rc(vec![r])).unwrap_err();
    assert!(e.contains("match.headers[0].string_match.safe_regex.regex"), "{e}");
}

#[test]
fn filter_overrides_decode_fault_and_keep_others() {
    let mut r = prefix_route("", action(ClusterSpecifier::Cluster("c".into())));
    let opaque = Any { type_url: "type.googleapis.com/acme.Thing".into(), value: vec![1, 2] };
    r.typed_per_filter_config = HashMap::from([
        ("fault".to_string(), pack_any(HttpFault { max_active_faults: Some(UInt32Value { value: 0 }), ..Default::default() })),
        ("acme".to_string(), opaque.clone()),
        ("opt".to_string(), pack_any(FilterConfig { config: Some(opaque), is_optional: true, disabled: false })),
        ("off".to_string(), pack_any(FilterConfig { config: None, is_optional: false, disabled: true })),
    ]);
    let got = decode(&rc(vec![r])).unwrap();
    let o = &got.virtual_hosts[0].routes[0].filter_overrides;
    assert_eq!(o.get("fault"), Some(&FilterOverride::Fault(FaultConfig { max_active_faults: Some(0), ..Default::default() })));
    assert_eq!(o.get("acme"), Some(&FilterOverride::Opaque { type_url: "type.googleapis.com/acme.Thing".into(), value: vec![1, 2] }));
    assert_eq!(o.get("opt"), None);
    assert_eq!(o.get("off"), Some(&FilterOverride::Disabled));
}
