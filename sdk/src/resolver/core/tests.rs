//! Plain tests of the dependency core: watches follow the tree, snapshots appear only when it is
//! complete, and errors land where gRFC A74/A88 put them.

use std::time::Duration;

use super::*;
use crate::resolver::error::{ClusterError, ResolveError};
use crate::resolver::snapshot::{ClusterConfig, ClusterEndpoints, Snapshot};
use crate::xds::resource::cluster::{ClusterDiscovery, DEFAULT_MAX_REQUESTS, LbPolicy};
use crate::xds::resource::listener::{Listener, RouteSource};
use crate::xds::resource::route::{
    FilterOverrides, ForwardAction, PathMatcher, Route, RouteAction, RouteMatch, VirtualHost,
    WeightedCluster,
};
use crate::xds::resource::{Cluster, ClusterLoadAssignment, RouteConfiguration};

const LDS: ResourceKind = ResourceKind::Listener;
const RDS: ResourceKind = ResourceKind::RouteConfiguration;
const CDS: ResourceKind = ResourceKind::Cluster;
const EDS: ResourceKind = ResourceKind::ClusterLoadAssignment;
const TARGET: &str = "greeter:50051";

fn key(kind: ResourceKind, name: &str) -> ResourceKey {
    (kind, name.to_string())
}

fn listener(source: RouteSource) -> WatchEvent {
    WatchEvent::Changed(Resource::Listener(Arc::new(Listener {
        name: TARGET.to_string(),
        route_source: source,
        http_filters: Vec::new(),
        max_stream_duration: None,
    })))
}

fn rds_listener(route: &str) -> WatchEvent {
    listener(RouteSource::Rds {
        name: route.to_string(),
    })
}

/// A route configuration with one virtual host per `(domains, clusters)`; each virtual host has
/// one catch-all route whose weighted clusters are `clusters`.
fn route_config(name: &str, vhosts: &[(&[&str], &[&str])]) -> RouteConfiguration {
    let virtual_hosts = vhosts
        .iter()
        .enumerate()
        .map(|(i, (domains, clusters))| VirtualHost {
            name: format!("vh{i}"),
            domains: domains.iter().map(|d| d.to_string()).collect(),
            routes: vec![Route {
                name: String::new(),
                matcher: RouteMatch {
                    path: PathMatcher::Prefix(String::new()),
                    case_sensitive: true,
                    headers: Vec::new(),
                    runtime_fraction: None,
                },
                action: RouteAction::Forward(ForwardAction {
                    clusters: clusters
                        .iter()
                        .map(|c| WeightedCluster {
                            name: c.to_string(),
                            weight: 1,
                            filter_overrides: FilterOverrides::new(),
                        })
                        .collect(),
                    total_weight: u32::try_from(clusters.len()).unwrap_or(1),
                    max_stream_duration: None,
                    retry_policy: None,
                    hash_policies: Vec::new(),
                }),
                filter_overrides: FilterOverrides::new(),
            }],
            retry_policy: None,
            filter_overrides: FilterOverrides::new(),
        })
        .collect();
    RouteConfiguration {
        name: name.to_string(),
        virtual_hosts,
    }
}

fn routes(name: &str, clusters: &[&str]) -> WatchEvent {
    let rc = route_config(name, &[(&["*"], clusters)]);
    WatchEvent::Changed(Resource::RouteConfiguration(Arc::new(rc)))
}

fn cluster(name: &str, discovery: ClusterDiscovery) -> WatchEvent {
    WatchEvent::Changed(Resource::Cluster(Arc::new(Cluster {
        name: name.to_string(),
        discovery,
        lb_policy: LbPolicy::RoundRobin,
        max_requests: DEFAULT_MAX_REQUESTS,
        outlier_detection: None,
        tls: None,
        lrs_enabled: false,
        override_host_status: None,
    })))
}

fn eds_cluster(name: &str, service: &str) -> WatchEvent {
    cluster(
        name,
        ClusterDiscovery::Eds {
            service_name: service.to_string(),
        },
    )
}

fn aggregate(name: &str, children: &[&str]) -> WatchEvent {
    cluster(
        name,
        ClusterDiscovery::Aggregate {
            clusters: children.iter().map(|c| c.to_string()).collect(),
        },
    )
}

fn endpoints(name: &str) -> WatchEvent {
    WatchEvent::Changed(Resource::ClusterLoadAssignment(Arc::new(
        ClusterLoadAssignment {
            cluster_name: name.to_string(),
            priorities: Vec::new(),
            drop_overloads: Vec::new(),
        },
    )))
}

fn not_found(kind: ResourceKind, name: &str) -> WatchError {
    WatchError::NotFound {
        kind,
        name: name.to_string(),
        server: "127.0.0.1:18000".to_string(),
        after: Duration::from_secs(15),
    }
}

fn nacked(kind: ResourceKind, name: &str) -> WatchError {
    WatchError::Invalid {
        kind,
        name: name.to_string(),
        version: "2".to_string(),
        server: "127.0.0.1:18000".to_string(),
        message: "bad".to_string(),
    }
}

fn new_core() -> DependencyCore {
    let (core, actions) = DependencyCore::new(TARGET, TARGET);
    assert_eq!(actions.watch, [key(LDS, TARGET)]);
    assert_eq!(core.state().waiting_for, [key(LDS, TARGET)]);
    core
}

/// A core with a complete tree: listener → `r` → cluster `c` → EDS `c`.
fn complete_core() -> DependencyCore {
    let mut core = new_core();
    core.on_event(LDS, TARGET, rds_listener("r"));
    core.on_event(RDS, "r", routes("r", &["c"]));
    core.on_event(CDS, "c", eds_cluster("c", "c"));
    let actions = core.on_event(EDS, "c", endpoints("c"));
    assert!(actions.state_changed);
    assert_eq!(generation(&core), Some(1));
    core
}

fn generation(core: &DependencyCore) -> Option<u64> {
    core.state().snapshot.as_ref().map(|s| s.generation)
}

fn snapshot(core: &DependencyCore) -> Arc<Snapshot> {
    core.state().snapshot.clone().expect("a snapshot")
}

#[test]
fn follows_the_tree_and_publishes_only_once_endpoints_arrive() {
    let mut core = new_core();
    let a = core.on_event(LDS, TARGET, rds_listener("r"));
    assert_eq!(a.watch, [key(RDS, "r")]);
    let a = core.on_event(RDS, "r", routes("r", &["c"]));
    assert_eq!(a.watch, [key(CDS, "c")]);
    let a = core.on_event(CDS, "c", eds_cluster("c", "c-eds"));
    assert_eq!(a.watch, [key(EDS, "c-eds")]);
    assert!(core.state().snapshot.is_none());
    assert_eq!(core.state().waiting_for, [key(EDS, "c-eds")]);

    let a = core.on_event(EDS, "c-eds", endpoints("c-eds"));
    assert!(a.state_changed && a.watch.is_empty() && a.unwatch.is_empty());
    let s = snapshot(&core);
    assert_eq!(s.generation, 1);
    assert_eq!(s.route_config.name, "r");
    assert_eq!(s.virtual_host().map(|vh| vh.name.as_str()), Some("vh0"));
    match s.cluster("c") {
        Some(Ok(ClusterConfig {
            endpoints:
                ClusterEndpoints::Eds {
                    service_name,
                    assignment: Ok(cla),
                },
            ..
        })) => {
            assert_eq!(service_name, "c-eds");
            assert_eq!(cla.cluster_name, "c-eds");
        }
        other => panic!("expected EDS endpoints for `c`, got {other:?}"),
    }
    assert!(core.state().waiting_for.is_empty());

    // The same endpoints again change nothing.
    let a = core.on_event(EDS, "c-eds", endpoints("c-eds"));
    assert!(!a.state_changed);
    assert_eq!(generation(&core), Some(1));
}

#[test]
fn an_inline_route_configuration_needs_no_rds_watch() {
    let mut core = new_core();
    let rc = route_config("inline", &[(&[TARGET], &["c"])]);
    let a = core.on_event(LDS, TARGET, listener(RouteSource::Inline(Arc::new(rc))));
    assert_eq!(a.watch, [key(CDS, "c")]);
    core.on_event(CDS, "c", eds_cluster("c", "c"));
    core.on_event(EDS, "c", endpoints("c"));
    assert_eq!(snapshot(&core).route_config.name, "inline");
    assert!(core.watched().all(|(k, _)| *k != RDS));
}

#[test]
fn a_listener_that_does_not_exist_is_a_whole_config_error() {
    let mut core = new_core();
    let a = core.on_event(
        LDS,
        TARGET,
        WatchEvent::DoesNotExist(not_found(LDS, TARGET)),
    );
    assert!(a.state_changed);
    let state = core.state();
    assert!(state.snapshot.is_none());
    let message = state.error.as_ref().expect("an error").to_string();
    assert!(message.contains("listener `greeter:50051`"), "{message}");
    assert!(
        message.contains("not found on xds server `127.0.0.1:18000`"),
        "{message}"
    );
    assert_eq!(state.resource_errors.len(), 1);
    assert!(!state.resource_errors[0].ambient);
}

#[test]
fn a_server_listener_under_the_target_name_is_a_whole_config_error() {
    let mut core = new_core();
    let server = crate::xds::resource::ServerListener {
        name: TARGET.to_string(),
        address: "0.0.0.0:50051".parse().unwrap(),
        filter_chains: Vec::new(),
        default_filter_chain: None,
    };
    core.on_event(
        LDS,
        TARGET,
        WatchEvent::Changed(Resource::ServerListener(Arc::new(server))),
    );
    let state = core.state();
    assert!(state.snapshot.is_none());
    let message = state.error.as_ref().expect("an error").to_string();
    assert!(message.contains("is a server listener"), "{message}");
}

#[test]
fn losing_the_listener_clears_the_snapshot_and_drops_the_other_watches() {
    let mut core = complete_core();
    let a = core.on_event(LDS, TARGET, WatchEvent::Error(nacked(LDS, TARGET)));
    assert!(core.state().snapshot.is_none());
    assert!(matches!(
        core.state().error,
        Some(ResolveError::Listener { .. })
    ));
    assert_eq!(a.unwatch, [key(RDS, "r"), key(CDS, "c"), key(EDS, "c")]);
    // It comes back: the tree is followed again from the top.
    let a = core.on_event(LDS, TARGET, rds_listener("r"));
    assert_eq!(a.watch, [key(RDS, "r")]);
    assert!(core.state().error.is_none());
}

#[test]
fn a_nacked_update_keeps_the_snapshot_and_is_reported_as_ambient() {
    let mut core = complete_core();
    let before = snapshot(&core);
    let a = core.on_event(RDS, "r", WatchEvent::AmbientError(nacked(RDS, "r")));
    assert!(a.state_changed && a.watch.is_empty() && a.unwatch.is_empty());
    assert!(Arc::ptr_eq(&before, &snapshot(&core)));
    let errors = &core.state().resource_errors;
    assert_eq!(errors.len(), 1);
    assert!(errors[0].ambient && errors[0].kind == RDS && errors[0].name == "r");
    assert!(core.state().error.is_none());
    // The next good update clears the error.
    core.on_event(RDS, "r", routes("r", &["c"]));
    assert!(core.state().resource_errors.is_empty());
}

#[test]
fn a_route_configuration_rejected_before_any_value_is_a_whole_config_error() {
    let mut core = new_core();
    core.on_event(LDS, TARGET, rds_listener("r"));
    core.on_event(RDS, "r", WatchEvent::Error(nacked(RDS, "r")));
    let message = core.state().error.as_ref().expect("error").to_string();
    assert!(message.contains("route configuration `r`"), "{message}");
    assert!(message.contains("rejected: bad"), "{message}");
}

#[test]
fn no_matching_virtual_host_is_a_whole_config_error() {
    let mut core = new_core();
    core.on_event(LDS, TARGET, rds_listener("r"));
    let rc = route_config("r", &[(&["other:80", "*.example.com"], &["c"])]);
    let a = core.on_event(
        RDS,
        "r",
        WatchEvent::Changed(Resource::RouteConfiguration(Arc::new(rc))),
    );
    assert!(a.watch.is_empty(), "no cluster is watched");
    let message = core.state().error.as_ref().expect("error").to_string();
    assert!(
        message.contains(
            "no virtual host matches authority `greeter:50051` in route configuration `r`"
        ),
        "{message}"
    );
    assert!(message.contains("other:80, *.example.com"), "{message}");
}

#[test]
fn the_most_specific_virtual_host_selects_the_clusters() {
    let mut core = new_core();
    core.on_event(LDS, TARGET, rds_listener("r"));
    let rc = route_config("r", &[(&["*"], &["fallback"]), (&["greeter:*"], &["c"])]);
    let a = core.on_event(
        RDS,
        "r",
        WatchEvent::Changed(Resource::RouteConfiguration(Arc::new(rc))),
    );
    assert_eq!(a.watch, [key(CDS, "c")]);
}

#[test]
fn a_missing_cluster_is_that_clusters_error_and_does_not_block_the_rest() {
    let mut core = new_core();
    core.on_event(LDS, TARGET, rds_listener("r"));
    let a = core.on_event(RDS, "r", routes("r", &["a", "b"]));
    assert_eq!(a.watch, [key(CDS, "a"), key(CDS, "b")]);
    core.on_event(CDS, "a", eds_cluster("a", "a"));
    core.on_event(EDS, "a", endpoints("a"));
    assert!(core.state().snapshot.is_none(), "`b` is still unknown");
    assert_eq!(core.state().waiting_for, [key(CDS, "b")]);

    core.on_event(CDS, "b", WatchEvent::DoesNotExist(not_found(CDS, "b")));
    let s = snapshot(&core);
    assert!(matches!(s.cluster("a"), Some(Ok(_))));
    match s.cluster("b") {
        Some(Err(e)) => assert!(e.to_string().contains("cluster `b` is not usable"), "{e}"),
        other => panic!("expected an error for `b`, got {other:?}"),
    }
    assert!(core.state().error.is_none());
}

#[test]
fn an_endpoint_error_is_a_resolution_note_on_a_usable_cluster() {
    let mut core = new_core();
    core.on_event(LDS, TARGET, rds_listener("r"));
    core.on_event(RDS, "r", routes("r", &["c"]));
    core.on_event(CDS, "c", eds_cluster("c", "c"));
    core.on_event(EDS, "c", WatchEvent::DoesNotExist(not_found(EDS, "c")));
    match snapshot(&core).cluster("c") {
        Some(Ok(ClusterConfig {
            endpoints:
                ClusterEndpoints::Eds {
                    assignment: Err(WatchError::NotFound { .. }),
                    ..
                },
            ..
        })) => {}
        other => panic!("expected a usable cluster without endpoints, got {other:?}"),
    }
}

#[test]
fn a_route_moving_to_another_cluster_keeps_the_old_one_until_the_new_one_is_complete() {
    let mut core = complete_core();
    let a = core.on_event(RDS, "r", routes("r", &["c2"]));
    assert_eq!(a.watch, [key(CDS, "c2")]);
    assert!(a.unwatch.is_empty(), "make before break");
    assert_eq!(generation(&core), Some(1));
    assert!(snapshot(&core).cluster("c").is_some());

    let a = core.on_event(CDS, "c2", eds_cluster("c2", "c2"));
    assert_eq!(a.watch, [key(EDS, "c2")]);
    let a = core.on_event(EDS, "c2", endpoints("c2"));
    let s = snapshot(&core);
    assert_eq!(s.generation, 2);
    assert!(s.cluster("c").is_none() && s.cluster("c2").is_some());
    assert_eq!(a.unwatch, [key(CDS, "c"), key(EDS, "c")]);
}

#[test]
fn a_listener_switching_route_configurations_follows_the_new_one() {
    let mut core = complete_core();
    let a = core.on_event(LDS, TARGET, rds_listener("r2"));
    assert_eq!(a.watch, [key(RDS, "r2")]);
    assert_eq!(generation(&core), Some(1));
    let a = core.on_event(RDS, "r2", routes("r2", &["c"]));
    assert_eq!(snapshot(&core).route_config.name, "r2");
    assert_eq!(a.unwatch, [key(RDS, "r")]);
}

#[test]
fn a_cluster_changing_its_eds_service_name_follows_it() {
    let mut core = complete_core();
    let a = core.on_event(CDS, "c", eds_cluster("c", "c-v2"));
    assert_eq!(a.watch, [key(EDS, "c-v2")]);
    assert_eq!(generation(&core), Some(1));
    let a = core.on_event(EDS, "c-v2", endpoints("c-v2"));
    assert_eq!(generation(&core), Some(2));
    assert_eq!(a.unwatch, [key(EDS, "c")]);
}

#[test]
fn clusters_sharing_an_eds_service_share_one_watch() {
    let mut core = new_core();
    core.on_event(LDS, TARGET, rds_listener("r"));
    core.on_event(RDS, "r", routes("r", &["a", "b"]));
    let a = core.on_event(CDS, "a", eds_cluster("a", "shared"));
    assert_eq!(a.watch, [key(EDS, "shared")]);
    let a = core.on_event(CDS, "b", eds_cluster("b", "shared"));
    assert!(a.watch.is_empty());
    core.on_event(EDS, "shared", endpoints("shared"));
    assert_eq!(snapshot(&core).clusters.len(), 2);
}

#[test]
fn an_aggregate_cluster_lists_its_leaves_and_each_leaf_has_its_entry() {
    let mut core = new_core();
    core.on_event(LDS, TARGET, rds_listener("r"));
    core.on_event(RDS, "r", routes("r", &["agg"]));
    let a = core.on_event(CDS, "agg", aggregate("agg", &["primary", "dns"]));
    assert_eq!(a.watch, [key(CDS, "dns"), key(CDS, "primary")]);
    let dns = ClusterDiscovery::LogicalDns {
        host: "backup.example.com".to_string(),
        port: 443,
    };
    core.on_event(CDS, "dns", cluster("dns", dns));
    core.on_event(CDS, "primary", eds_cluster("primary", "primary"));
    assert!(core.state().snapshot.is_none());
    core.on_event(EDS, "primary", endpoints("primary"));
    let s = snapshot(&core);
    match s.cluster("agg") {
        Some(Ok(ClusterConfig {
            endpoints: ClusterEndpoints::Aggregate { leaf_clusters },
            ..
        })) => assert_eq!(leaf_clusters, &["primary", "dns"]),
        other => panic!("expected an aggregate, got {other:?}"),
    }
    assert!(matches!(
        s.cluster("dns"),
        Some(Ok(ClusterConfig {
            endpoints: ClusterEndpoints::LogicalDns { port: 443, .. },
            ..
        }))
    ));
    assert!(matches!(s.cluster("primary"), Some(Ok(_))));
}

#[test]
fn an_aggregate_loop_fails_that_cluster_only() {
    let mut core = new_core();
    core.on_event(LDS, TARGET, rds_listener("r"));
    core.on_event(RDS, "r", routes("r", &["agg", "plain"]));
    core.on_event(CDS, "agg", aggregate("agg", &["inner"]));
    core.on_event(CDS, "inner", aggregate("inner", &["agg"]));
    core.on_event(CDS, "plain", eds_cluster("plain", "plain"));
    core.on_event(EDS, "plain", endpoints("plain"));
    let s = snapshot(&core);
    assert!(matches!(
        s.cluster("agg"),
        Some(Err(ClusterError::AggregateLoop { .. }))
    ));
    assert!(matches!(s.cluster("plain"), Some(Ok(_))));
    assert!(
        core.watched().any(|k| *k == key(CDS, "inner")),
        "the loop stays watched"
    );
}

#[test]
fn events_for_resources_no_longer_watched_are_ignored() {
    let mut core = complete_core();
    let a = core.on_event(CDS, "gone", eds_cluster("gone", "gone"));
    assert_eq!(a, Actions::default());
    assert_eq!(generation(&core), Some(1));
}
