//! Shell tests: a real `XdsClient` over loopback against the fake SotW control plane of
//! `resolver::test_support`. Every wait is bounded; nothing sleeps to let things settle.

use std::time::Duration;

use super::*;
use crate::resolver::snapshot::ClusterEndpoints;
use crate::resolver::test_support::{FakeControlPlane, bounded};
use crate::xds::resource::ResourceKind;
use crate::xds::test_fixtures as fx;
use crate::xds::{BackoffConfig, ClientOptions, ResourceStatus, WatchError};

const LDS: ResourceKind = ResourceKind::Listener;
const RDS: ResourceKind = ResourceKind::RouteConfiguration;
const CDS: ResourceKind = ResourceKind::Cluster;
const EDS: ResourceKind = ResourceKind::ClusterLoadAssignment;
const TARGET: &str = "xds:///greeter:50051";
const LISTENER: &str = "greeter:50051";

fn start(cp: &FakeControlPlane) -> (XdsClient, ResolverHandle) {
    let bootstrap = fx::bootstrap(&cp.addr().to_string(), &[]);
    let options = ClientOptions {
        backoff: BackoffConfig {
            base: Duration::from_millis(20),
            max: Duration::from_millis(200),
            ..BackoffConfig::default()
        },
        rng_seed: Some(7),
        connect_timeout: Duration::from_secs(2),
        resource_timeout: None,
    };
    let client = XdsClient::with_options(&bootstrap, options).expect("client");
    let handle = Resolver::start(client.clone(), &bootstrap, TARGET).expect("resolver");
    (client, handle)
}

/// Serves listener → `r` → cluster `c1` (EDS `c1`, endpoint port 9001).
fn serve_tree(cp: &FakeControlPlane) {
    cp.set(LDS, vec![fx::listener(LISTENER, "r")]);
    cp.set(RDS, vec![fx::route_configuration("r", "c1")]);
    cp.set(CDS, vec![fx::cluster("c1")]);
    cp.set(EDS, vec![fx::cluster_load_assignment("c1", 9001)]);
}

async fn wait_until(
    handle: &ResolverHandle,
    pred: impl Fn(&ResolverState) -> bool,
) -> ResolverState {
    let mut rx = handle.subscribe();
    let state = bounded(rx.wait_for(|s| pred(s))).await;
    state.expect("resolver running").clone()
}

fn endpoint_port(snapshot: &Snapshot, cluster: &str) -> Option<u16> {
    match snapshot.cluster(cluster)?.ok()?.endpoints {
        ClusterEndpoints::Eds {
            assignment: Ok(ref cla),
            ..
        } => Some(
            cla.priorities
                .first()?
                .localities
                .first()?
                .endpoints
                .first()?
                .address
                .port(),
        ),
        _ => None,
    }
}

#[tokio::test]
async fn the_snapshot_is_published_only_once_endpoints_arrive() {
    let cp = FakeControlPlane::start().await;
    cp.set(LDS, vec![fx::listener(LISTENER, "r")]);
    cp.set(RDS, vec![fx::route_configuration("r", "c1")]);
    cp.set(CDS, vec![fx::cluster("c1")]);
    let (_client, handle) = start(&cp);

    let state = wait_until(&handle, |s| s.waiting_for == [(EDS, "c1".to_string())]).await;
    assert!(state.snapshot.is_none(), "no snapshot without endpoints");

    cp.set(EDS, vec![fx::cluster_load_assignment("c1", 9001)]);
    let snapshot = bounded(handle.wait_for_snapshot(Duration::from_secs(5)))
        .await
        .expect("snapshot");
    assert_eq!(snapshot.generation, 1);
    assert_eq!(snapshot.listener.name, LISTENER);
    assert_eq!(snapshot.route_config.name, "r");
    assert_eq!(endpoint_port(&snapshot, "c1"), Some(9001));
}

#[tokio::test]
async fn a_route_moving_to_a_new_cluster_publishes_it_and_drops_the_old_watch() {
    let mut cp = FakeControlPlane::start().await;
    serve_tree(&cp);
    let (client, handle) = start(&cp);
    let first = bounded(handle.wait_for_snapshot(Duration::from_secs(5)))
        .await
        .expect("first snapshot");

    cp.set(CDS, vec![fx::cluster("c1"), fx::cluster("c2")]);
    cp.set(
        EDS,
        vec![
            fx::cluster_load_assignment("c1", 9001),
            fx::cluster_load_assignment("c2", 9002),
        ],
    );
    cp.set(RDS, vec![fx::route_configuration("r", "c2")]);

    let state = wait_until(&handle, |s| {
        s.snapshot
            .as_ref()
            .is_some_and(|s| s.cluster("c2").is_some())
    })
    .await;
    let second = state.snapshot.expect("snapshot");
    assert!(second.generation > first.generation);
    assert!(second.cluster("c1").is_none(), "c1 is gone from the config");
    assert_eq!(endpoint_port(&second, "c2"), Some(9002));

    // The old cluster and its endpoints are no longer subscribed.
    let dump = client.config_dump();
    assert!(
        !dump.resources.iter().any(|r| r.name == "c1"),
        "c1 still subscribed: {dump:?}"
    );
    cp.wait_for_request(|r| r.type_url == CDS.type_url() && r.resource_names == ["c2"])
        .await;
}

#[tokio::test]
async fn a_nacked_update_keeps_the_last_snapshot() {
    let cp = FakeControlPlane::start().await;
    serve_tree(&cp);
    let (client, handle) = start(&cp);
    let first = bounded(handle.wait_for_snapshot(Duration::from_secs(5)))
        .await
        .expect("first snapshot");

    cp.set(LDS, vec![fx::invalid_listener(LISTENER)]);
    let state = wait_until(&handle, |s| !s.resource_errors.is_empty()).await;
    let error = &state.resource_errors[0];
    assert_eq!((error.kind, error.name.as_str()), (LDS, LISTENER));
    assert!(error.ambient, "the cached listener keeps serving");
    assert!(matches!(error.error, WatchError::Invalid { .. }));
    let kept = state.snapshot.expect("snapshot kept");
    assert!(Arc::ptr_eq(&kept, &first));
    assert!(state.error.is_none());
    let dump = client.config_dump();
    assert!(
        dump.resources
            .iter()
            .any(|r| r.status == ResourceStatus::Nacked)
    );
}

#[tokio::test]
async fn a_listener_that_never_arrives_yields_a_clear_error() {
    let mut cp = FakeControlPlane::start().await;
    let (_client, handle) = start(&cp);
    // The does-not-exist timer starts once the subscription is on the stream (gRFC A57); from
    // then on, paused time lets it fire without waiting 15 real seconds.
    cp.wait_for_request(|r| r.type_url == LDS.type_url() && r.resource_names == [LISTENER])
        .await;
    tokio::time::pause();
    let error = handle
        .wait_for_snapshot(Duration::from_secs(60))
        .await
        .expect_err("no listener");
    assert!(
        matches!(&error, ResolveError::Listener { error, .. }
            if matches!(**error, WatchError::NotFound { .. })),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("listener `greeter:50051`"), "{message}");
    assert!(
        message.contains("not found on xds server `127.0.0.1:"),
        "{message}"
    );
    assert!(message.contains("after 15s"), "{message}");
    assert!(handle.snapshot().is_none());
}

#[tokio::test]
async fn dropping_the_handle_drops_every_watch() {
    let mut cp = FakeControlPlane::start().await;
    serve_tree(&cp);
    let (client, handle) = start(&cp);
    bounded(handle.wait_for_snapshot(Duration::from_secs(5)))
        .await
        .expect("snapshot");
    drop(handle);
    cp.wait_for_request(|r| r.type_url == LDS.type_url() && r.resource_names.is_empty())
        .await;
    let dump = bounded(async {
        loop {
            let dump = client.config_dump();
            if dump.resources.is_empty() {
                return dump;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(dump.resources.is_empty());
}

#[tokio::test]
async fn waiting_times_out_naming_the_missing_resource() {
    let mut cp = FakeControlPlane::start().await;
    cp.set(LDS, vec![fx::listener(LISTENER, "r")]);
    cp.set(RDS, vec![fx::route_configuration("r", "c1")]);
    let (_client, handle) = start(&cp);
    cp.wait_for_request(|r| r.type_url == CDS.type_url() && r.resource_names == ["c1"])
        .await;
    let error = handle
        .wait_for_snapshot(Duration::from_millis(200))
        .await
        .expect_err("no cluster");
    let message = error.to_string();
    assert!(
        message.contains("CDS resource `c1` not received"),
        "{message}"
    );
    assert!(
        message.contains("check the routes' cluster names"),
        "{message}"
    );
}
