use std::time::Duration;

use tonic::codegen::http::{HeaderMap, HeaderValue};

use super::*;
use crate::xds::resource::common::StringPattern;
use crate::xds::resource::common::{Fraction, HeaderMatch, HeaderMatcher, StringMatcher};
use crate::xds::resource::route::{
    FilterOverride, FilterOverrides, ForwardAction, HashPolicy, HashSource, PathMatcher,
    RetryPolicy, Route, RouteMatch, WeightedCluster,
};

const AUTHORITY: &str = "greeter.svc:50051";

fn prefix(p: &str) -> RouteMatch {
    RouteMatch {
        path: PathMatcher::Prefix(p.to_string()),
        case_sensitive: true,
        headers: Vec::new(),
        runtime_fraction: None,
    }
}

fn exact(p: &str) -> RouteMatch {
    RouteMatch {
        path: PathMatcher::Path(p.to_string()),
        ..prefix("")
    }
}

fn forward(clusters: &[(&str, u32)]) -> RouteAction {
    RouteAction::Forward(ForwardAction {
        clusters: clusters
            .iter()
            .map(|(name, weight)| WeightedCluster {
                name: name.to_string(),
                weight: *weight,
                filter_overrides: FilterOverrides::new(),
            })
            .collect(),
        total_weight: clusters.iter().map(|(_, w)| w).sum(),
        max_stream_duration: None,
        retry_policy: None,
        hash_policies: Vec::new(),
    })
}

fn route(name: &str, matcher: RouteMatch, action: RouteAction) -> Route {
    Route {
        name: name.to_string(),
        matcher,
        action,
        filter_overrides: FilterOverrides::new(),
    }
}

fn vhost(name: &str, domains: &[&str], routes: Vec<Route>) -> VirtualHost {
    VirtualHost {
        name: name.to_string(),
        domains: domains.iter().map(|d| d.to_string()).collect(),
        routes,
        retry_policy: None,
        filter_overrides: FilterOverrides::new(),
    }
}

fn table(routes: Vec<Route>) -> RouteTable {
    RouteTable::new(AUTHORITY, &vhost("vh", &["*"], routes))
}

fn call(t: &RouteTable, path: &str, headers: &HeaderMap) -> Result<RouteDecision, RouteError> {
    t.route(
        &RequestInfo::new(path, headers),
        &mut fastrand::Rng::with_seed(3),
    )
}

fn opaque(tag: &str) -> FilterOverride {
    FilterOverride::Opaque {
        type_url: format!("type.googleapis.com/test.{tag}"),
        value: tag.as_bytes().to_vec(),
    }
}

#[test]
fn first_matching_route_wins_even_if_a_later_one_is_more_specific() {
    let t = table(vec![
        route("svc", prefix("/pkg.Greeter/"), forward(&[("broad", 1)])),
        route(
            "method",
            exact("/pkg.Greeter/SayHello"),
            forward(&[("narrow", 1)]),
        ),
        route("all", prefix(""), forward(&[("default", 1)])),
    ]);
    let h = HeaderMap::new();
    let d = call(&t, "/pkg.Greeter/SayHello", &h).unwrap();
    assert_eq!(
        (d.cluster(), d.route_index(), d.route_name()),
        ("broad", 0, "svc")
    );
    let d = call(&t, "/pkg.Other/Call", &h).unwrap();
    assert_eq!(
        (d.cluster(), d.route_index(), d.route_name()),
        ("default", 2, "all")
    );
}

#[test]
fn header_matchers_steer_canary_traffic() {
    let mut canary = prefix("/");
    canary.headers.push(HeaderMatcher {
        name: "x-canary".into(),
        matcher: HeaderMatch::String(StringMatcher {
            pattern: StringPattern::Exact("true".into()),
            ignore_case: true,
        }),
        invert: false,
    });
    let t = table(vec![
        route("canary", canary, forward(&[("greeter-v2", 1)])),
        route("stable", prefix("/"), forward(&[("greeter-v1", 1)])),
    ]);
    let mut h = HeaderMap::new();
    assert_eq!(
        call(&t, "/pkg.Greeter/SayHello", &h).unwrap().cluster(),
        "greeter-v1"
    );
    h.insert("x-canary", HeaderValue::from_static("TRUE"));
    assert_eq!(
        call(&t, "/pkg.Greeter/SayHello", &h).unwrap().cluster(),
        "greeter-v2"
    );
}

#[test]
fn weighted_clusters_split_traffic_by_weight() {
    let t = table(vec![route(
        "split",
        prefix(""),
        forward(&[("a", 70), ("b", 20), ("c", 10)]),
    )]);
    let h = HeaderMap::new();
    let req = RequestInfo::new("/pkg.Greeter/SayHello", &h);
    let mut rng = fastrand::Rng::with_seed(2024);
    let n = 10_000;
    let mut counts = [0usize; 3];
    for _ in 0..n {
        let d = t.route(&req, &mut rng).unwrap();
        counts[match d.cluster() {
            "a" => 0,
            "b" => 1,
            _ => 2,
        }] += 1;
    }
    for (count, want) in counts.iter().zip([70.0, 20.0, 10.0]) {
        let pct = *count as f64 * 100.0 / n as f64;
        assert!((pct - want).abs() <= 1.0, "{counts:?}: {pct}% vs {want}%");
    }
}

#[test]
fn runtime_fraction_routes_only_their_share() {
    let mut sampled = prefix("/");
    sampled.runtime_fraction = Some(Fraction::from_per_million(300_000));
    let t = table(vec![
        route("sampled", sampled, forward(&[("shadow", 1)])),
        route("rest", prefix("/"), forward(&[("main", 1)])),
    ]);
    let h = HeaderMap::new();
    let req = RequestInfo::new("/pkg.Greeter/SayHello", &h);
    let mut rng = fastrand::Rng::with_seed(11);
    let n = 10_000;
    let shadow = (0..n)
        .filter(|_| t.route(&req, &mut rng).unwrap().cluster() == "shadow")
        .count();
    assert!((2_900..=3_100).contains(&shadow), "{shadow} of {n}");
}

#[test]
fn no_matching_route_names_path_and_authority() {
    let t = table(vec![route(
        "svc",
        prefix("/pkg.Greeter/"),
        forward(&[("a", 1)]),
    )]);
    let err = call(&t, "/pkg.Other/Call", &HeaderMap::new()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("/pkg.Other/Call") && msg.contains(AUTHORITY),
        "{msg}"
    );
    let status = err.to_status();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert_eq!(status.message(), msg);
}

#[test]
fn non_forwarding_and_unsupported_routes_win_the_match_and_fail() {
    let t = table(vec![
        route("server-only", exact("/a/A"), RouteAction::NonForwarding),
        route("redirect", exact("/b/B"), RouteAction::Unsupported),
        route("all", prefix(""), forward(&[("a", 1)])),
    ]);
    let h = HeaderMap::new();
    let err = call(&t, "/a/A", &h).unwrap_err();
    assert!(
        matches!(&err, RouteError::NonForwarding { index: 0, name, .. } if name == "server-only")
    );
    assert_eq!(err.to_status().code(), tonic::Code::Unavailable);
    let err = call(&t, "/b/B", &h).unwrap_err();
    assert!(
        matches!(&err, RouteError::Unsupported { index: 1, .. }),
        "{err}"
    );
    assert_eq!(call(&t, "/c/C", &h).unwrap().cluster(), "a");
}

#[test]
fn decision_carries_the_route_policies() {
    let retry = RetryPolicy {
        retry_on: vec![tonic::Code::Unavailable],
        num_retries: 2,
        initial_backoff: Duration::from_millis(25),
        max_backoff: Duration::from_millis(250),
    };
    let hash = HashPolicy {
        source: HashSource::Header {
            name: "user".into(),
            rewrite: None,
        },
        terminal: false,
    };
    let RouteAction::Forward(mut action) = forward(&[("a", 1)]) else {
        unreachable!()
    };
    action.max_stream_duration = Some(Duration::from_secs(3));
    action.retry_policy = Some(retry.clone());
    action.hash_policies = vec![hash.clone()];
    let t = table(vec![route("r", prefix(""), RouteAction::Forward(action))]);
    let mut h = HeaderMap::new();
    h.insert("user", HeaderValue::from_static("alice"));
    let d = call(&t, "/x/Y", &h).unwrap();
    assert_eq!(d.max_stream_duration(), Some(Duration::from_secs(3)));
    assert_eq!(d.retry_policy(), Some(&retry));
    assert_eq!(d.hash_policies(), &[hash]);
    let alice = d.request_hash(&h, 0);
    assert!(alice.is_some());
    assert_eq!(
        alice,
        d.request_hash(&h, 99),
        "header hash ignores the channel id"
    );
    assert_eq!(d.request_hash(&HeaderMap::new(), 0), None);
}

#[test]
fn filter_overrides_merge_from_virtual_host_to_route_to_cluster() {
    let mut vh = vhost("vh", &["*"], Vec::new());
    vh.filter_overrides
        .insert("fault".into(), opaque("vh-fault"));
    vh.filter_overrides.insert("rbac".into(), opaque("vh-rbac"));
    let RouteAction::Forward(mut action) = forward(&[("c1", 1), ("c2", 1)]) else {
        unreachable!()
    };
    action.clusters[0]
        .filter_overrides
        .insert("fault".into(), FilterOverride::Disabled);
    let mut r = route("r", prefix(""), RouteAction::Forward(action));
    r.filter_overrides
        .insert("fault".into(), opaque("route-fault"));
    r.filter_overrides
        .insert("session".into(), opaque("route-session"));
    vh.routes.push(r);
    let t = RouteTable::new(AUTHORITY, &vh);

    let h = HeaderMap::new();
    let req = RequestInfo::new("/x/Y", &h);
    let mut rng = fastrand::Rng::with_seed(8);
    let mut seen = [false; 2];
    for _ in 0..100 {
        let d = t.route(&req, &mut rng).unwrap();
        let o = d.filter_overrides();
        assert_eq!(o.get("rbac"), Some(&opaque("vh-rbac")));
        assert_eq!(o.get("session"), Some(&opaque("route-session")));
        if d.cluster() == "c1" {
            assert_eq!(o.get("fault"), Some(&FilterOverride::Disabled));
            seen[0] = true;
        } else {
            assert_eq!(o.get("fault"), Some(&opaque("route-fault")));
            seen[1] = true;
        }
    }
    assert_eq!(seen, [true, true]);
}

#[test]
fn from_config_picks_the_virtual_host_for_the_authority() {
    let config = RouteConfiguration {
        name: "rc".into(),
        virtual_hosts: vec![
            vhost(
                "other",
                &["*"],
                vec![route("o", prefix(""), forward(&[("other", 1)]))],
            ),
            vhost(
                "greeter",
                &[AUTHORITY],
                vec![route("g", prefix(""), forward(&[("greeter", 1)]))],
            ),
        ],
    };
    let t = RouteTable::from_config(&config, "GREETER.svc:50051").unwrap();
    assert_eq!((t.virtual_host(), t.len()), ("greeter", 1));
    assert_eq!(
        call(&t, "/a/B", &HeaderMap::new()).unwrap().cluster(),
        "greeter"
    );

    let config = RouteConfiguration {
        name: "rc".into(),
        virtual_hosts: vec![vhost("a", &["a.svc", "*.a.svc"], Vec::new())],
    };
    let err = RouteTable::from_config(&config, AUTHORITY).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(AUTHORITY) && msg.contains("*.a.svc") && msg.contains("`rc`"),
        "{msg}"
    );
    assert_eq!(err.to_status().code(), tonic::Code::Unavailable);
}

#[test]
fn empty_virtual_host_routes_nothing() {
    let t = table(Vec::new());
    assert!(t.is_empty());
    assert!(matches!(
        call(&t, "/a/B", &HeaderMap::new()),
        Err(RouteError::NoRoute { routes: 0, .. })
    ));
}

#[test]
fn tables_and_decisions_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RouteTable>();
    assert_send_sync::<RouteDecision>();
}
