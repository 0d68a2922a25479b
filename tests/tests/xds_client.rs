//! Meshwork's xDS client against the real dev control plane (`meshwork-xds`, in-process) over
//! loopback: subscribe to all four resource types, follow updates and deletions, NACK invalid
//! resources while serving the last good ones, survive a control-plane restart, and report a
//! resource that never comes.
//!
//! Envoy's "xDS REST and gRPC protocol" (SotW ADS, ACK/NACK) and gRFCs A27 (resource shapes),
//! A46 (keep the last good value on NACK), A57 (failures, the does-not-exist timer) and A88
//! (ambient errors, deletion keeps the cached value by default). Each test owns its control plane on
//! 127.0.0.1:0 and a client built from a bootstrap made in code. Every wait is bounded.

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use meshwork::xds::resource::ResourceKind;
use meshwork::xds::resource::cluster::LbPolicy;
use meshwork::xds::{
    ClientOptions, ConnectionState, ResourceStatus, WatchError, WatchEvent, XdsClient,
};
use meshwork_examples::xds_server::ServerHandle;
use meshwork_examples::xds_server::translate::to_any;
use meshwork_proto::envoy::config::endpoint::v3::ClusterLoadAssignment as ProtoCla;
use meshwork_proto::envoy::config::listener::v3::Listener as ProtoListener;
use meshwork_proto::google::protobuf::Any;
use meshwork_proto::type_url;
use meshwork_tests::greeter::{
    BACKOFF_BASE, ECHO, GREETER, Spec, WAIT, ambient_error, dumped, endpoints, greeter_setup,
    last_value, locality, split,
};
use meshwork_tests::watch::{changed, cluster, listener, load_assignment, route_configuration};
use meshwork_tests::{
    WatchLog, assert_all_acked, client_for, fast_reconnect, restart_control_plane,
    start_control_plane, wait_for_connection, wait_for_event,
};
use prost::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribes_to_all_four_types_and_acks_them() -> Result<()> {
    let (server, client, g) = greeter_setup("e2e-subscribe").await?;

    assert_all_acked(&server, "e2e-subscribe", server.version(), WAIT).await?;
    let version = server.version().to_string();
    for (kind, name) in [
        (ResourceKind::Listener, GREETER),
        (ResourceKind::RouteConfiguration, GREETER),
        (ResourceKind::Cluster, "blue"),
        (ResourceKind::Cluster, "green"),
        (ResourceKind::ClusterLoadAssignment, "blue"),
    ] {
        let entry = dumped(&client, kind, name)?;
        ensure!(
            entry.status == ResourceStatus::Acked && entry.version_info == version,
            "{kind} `{name}` should be ACKed at version {version}: {entry:#?}"
        );
        ensure!(
            entry.xds_config.is_some() && entry.error_state.is_none(),
            "{entry:#?}"
        );
    }
    let log = server.ack_log();
    for kind in ResourceKind::ALL {
        let opened = log
            .status("e2e-subscribe", kind.type_url())
            .and_then(|s| s.opened_with.clone());
        ensure!(
            opened.as_deref() == Some(""),
            "a new client holds no {kind} version: {opened:?}"
        );
    }
    let dump = client.config_dump();
    ensure!(dump.node.id == "e2e-subscribe", "dump node {:?}", dump.node);
    ensure!(
        dump.server_uri == server.local_addr().to_string(),
        "{}",
        dump.server_uri
    );
    drop(g);
    server.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesh_updates_reach_watchers_and_are_acked() -> Result<()> {
    let (server, client, mut g) = greeter_setup("e2e-update").await?;

    let version = server.set_mesh(
        &Spec {
            blue_weight: 50,
            extra_endpoint: true,
            ..Spec::default()
        }
        .mesh()?,
    )?;

    let endpoints_now = g.eds_blue.wait_for(WAIT, load_assignment).await?;
    let expected = vec![
        locality("a", 3, &[("127.0.0.1:50061", 5), ("127.0.0.1:50062", 1)]),
        locality("b", 1, &[("127.0.0.1:50063", 1), ("127.0.0.1:50064", 1)]),
    ];
    ensure!(endpoints(&endpoints_now) == expected, "{endpoints_now:#?}");
    let routes_now = g.rds.wait_for(WAIT, route_configuration).await?;
    ensure!(
        split(&routes_now)? == [("blue".to_string(), 50), ("green".to_string(), 20)],
        "{routes_now:#?}"
    );
    for kind in [
        ResourceKind::ClusterLoadAssignment,
        ResourceKind::RouteConfiguration,
    ] {
        server
            .wait_for_ack("e2e-update", kind.type_url(), version, WAIT)
            .await?;
    }
    let eds = dumped(&client, ResourceKind::ClusterLoadAssignment, "blue")?;
    ensure!(eds.version_info == version.to_string(), "{eds:#?}");
    // The listener and clusters did not change, so their watchers heard nothing new.
    ensure!(g.lds.all().len() == 1, "listener events {:#?}", g.lds.all());
    ensure!(
        g.cds_blue.all().len() == 1,
        "cluster events {:#?}",
        g.cds_blue.all()
    );
    server.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_listener_and_cluster_keep_serving_with_an_ambient_error() -> Result<()> {
    let server = start_control_plane(Spec::default().mesh()?).await?;
    let client = client_for(&server, "e2e-delete", fast_reconnect(BACKOFF_BASE))?;
    let mut lds = WatchLog::new(client.watch(ResourceKind::Listener, ECHO));
    let mut cds = WatchLog::new(client.watch(ResourceKind::Cluster, "echo"));
    let echo_listener = lds.wait_for(WAIT, listener).await?;
    let echo_cluster = cds.wait_for(WAIT, cluster).await?;
    ensure!(
        matches!(echo_cluster.lb_policy, LbPolicy::RingHash(_)),
        "{echo_cluster:#?}"
    );

    server.set_mesh(
        &Spec {
            echo: false,
            ..Spec::default()
        }
        .mesh()?,
    )?;

    // A88 default (no `fail_on_data_errors`): deletion is a data error on a cached resource, so
    // watchers get an ambient error and the cached value keeps serving.
    for (log, kind, name) in [
        (&mut lds, ResourceKind::Listener, ECHO),
        (&mut cds, ResourceKind::Cluster, "echo"),
    ] {
        let err = log.wait_for(WAIT, ambient_error).await?;
        ensure!(
            matches!(&err, WatchError::Deleted { kind: k, name: n, .. } if *k == kind && n == name),
            "expected a deletion of {kind} `{name}`, got {err:?}"
        );
        ensure!(err.to_string().contains(name), "message: {err}");
        let entry = dumped(&client, kind, name)?;
        ensure!(
            entry.status == ResourceStatus::DoesNotExist && entry.xds_config.is_some(),
            "deleted {kind} `{name}` should still be cached: {entry:#?}"
        );
    }
    ensure!(
        !lds.all()
            .iter()
            .any(|e| matches!(e, WatchEvent::DoesNotExist(_) | WatchEvent::Error(_))),
        "a cached listener must not fail: {:#?}",
        lds.all()
    );
    // A new watcher of the deleted name is handed the cached value.
    let mut late = WatchLog::new(client.watch(ResourceKind::Listener, ECHO));
    let cached = late.wait_for(WAIT, listener).await?;
    ensure!(cached == echo_listener, "cached {cached:#?}");
    server.shutdown().await;
    Ok(())
}

/// Pushes `bad` as `name` of `kind` to a client that holds a good value through `log`, and checks
/// gRFC A46 end to end: the NACK names the resource and `field`, the last good value keeps
/// serving (dump, new watchers), the watcher gets an ambient error, and a fix is ACKed again.
async fn nack_keeps_the_last_good_value(
    server: &ServerHandle,
    client: &XdsClient,
    log: &mut WatchLog,
    node_id: &str,
    (kind, name): (ResourceKind, &str),
    bad: Any,
    field: &str,
) -> Result<()> {
    let type_url = kind.type_url();
    let good_wire = server.snapshot().get(type_url, name).cloned();
    let good = dumped(client, kind, name)?;
    ensure!(
        good.status == ResourceStatus::Acked && good.xds_config == good_wire,
        "{good:#?}"
    );
    let good_value = last_value(log).context("the watcher has no value yet")?;

    let bad_version = server.set_raw(type_url, name, bad);
    let nack = server
        .wait_for_nack_of(node_id, type_url, bad_version, WAIT)
        .await?;
    ensure!(
        nack.version == bad_version.to_string()
            && nack.message.contains(&format!("`{name}`"))
            && nack.message.contains(field),
        "the NACK should name `{name}` and `{field}`: {nack:?}"
    );
    let err = log.wait_for(WAIT, ambient_error).await?;
    let WatchError::Invalid {
        name: n,
        version,
        message,
        ..
    } = &err
    else {
        bail!("expected an ambient validation error, got {err:?}");
    };
    ensure!(
        n == name && *version == bad_version.to_string() && message.contains(field),
        "{err:?}"
    );

    let entry = dumped(client, kind, name)?;
    ensure!(
        entry.status == ResourceStatus::Nacked
            && entry.version_info == good.version_info
            && entry.xds_config == good_wire,
        "the dump should show NACKED over the last good version {}: {entry:#?}",
        good.version_info
    );
    let failure = entry.error_state.context("NACKED without error_state")?;
    ensure!(
        failure.version_info == bad_version.to_string() && failure.details.contains(field),
        "{failure:#?}"
    );
    let mut late = WatchLog::new(client.watch(kind, name));
    let served = late.wait_for(WAIT, |e| changed(e).cloned()).await?;
    ensure!(
        served == good_value,
        "a new watcher should get the last good value: {served:#?}"
    );

    let fixed_version = server.remove_raw(type_url, name);
    server
        .wait_for_ack(node_id, type_url, fixed_version, WAIT)
        .await?;
    let back = log.wait_for(WAIT, |e| changed(e).cloned()).await?;
    ensure!(back == good_value, "{back:#?}");
    let entry = dumped(client, kind, name)?;
    ensure!(
        entry.status == ResourceStatus::Acked
            && entry.version_info == fixed_version.to_string()
            && entry.error_state.is_none(),
        "{entry:#?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_without_api_listener_is_nacked_and_the_last_good_one_serves() -> Result<()> {
    let node = "e2e-nack-lds";
    let (server, client, mut g) = greeter_setup(node).await?;
    let bad = to_any(&ProtoListener {
        name: GREETER.to_string(),
        ..Default::default()
    });

    let target = (ResourceKind::Listener, GREETER);
    nack_keeps_the_last_good_value(
        &server,
        &client,
        &mut g.lds,
        node,
        target,
        bad,
        "api_listener",
    )
    .await?;
    server.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_assignment_with_a_priority_gap_is_nacked_and_the_last_good_one_serves() -> Result<()>
{
    let node = "e2e-nack-eds";
    let (server, client, mut g) = greeter_setup(node).await?;
    let wire = server
        .snapshot()
        .get(type_url::CLUSTER_LOAD_ASSIGNMENT, "blue")
        .cloned()
        .context("blue's load assignment")?;
    let mut cla = ProtoCla::decode(wire.value.as_slice())?;
    // Localities at priorities 0 and 2: priority 1 is missing.
    cla.endpoints[1].priority = 2;

    let target = (ResourceKind::ClusterLoadAssignment, "blue");
    nack_keeps_the_last_good_value(
        &server,
        &client,
        &mut g.eds_blue,
        node,
        target,
        to_any(&cla),
        "priority",
    )
    .await?;
    server.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_config_serves_while_the_control_plane_is_down_and_resumes_after_restart()
-> Result<()> {
    let node = "e2e-restart";
    let (server, client, mut g) = greeter_setup(node).await?;
    assert_all_acked(&server, node, server.version(), WAIT).await?;
    let addr = server.local_addr();
    let accepted = server.version().to_string();

    server.shutdown().await;

    // A57: the stream ended after responses (not an error); the reconnect attempts then fail,
    // which is a transient error: ambient, since every watched resource is cached.
    let err = g.lds.wait_for(WAIT, ambient_error).await?;
    ensure!(matches!(err, WatchError::Unreachable { .. }), "{err:?}");
    ensure!(
        err.to_string().contains(&addr.to_string()),
        "message: {err}"
    );
    // While the server shuts down, a reconnect may still reach it and have its stream closed
    // ("stream closed by the server"); once it is gone, every attempt fails to connect.
    wait_for_connection(&client, WAIT, |s| {
        s.state == ConnectionState::BackingOff
            && s.last_error
                .as_deref()
                .is_some_and(|e| e.contains("connect failed"))
    })
    .await
    .context("backing off, saying that connecting failed")?;

    for (kind, name) in [
        (ResourceKind::Listener, GREETER),
        (ResourceKind::RouteConfiguration, GREETER),
        (ResourceKind::Cluster, "blue"),
        (ResourceKind::Cluster, "green"),
        (ResourceKind::ClusterLoadAssignment, "blue"),
    ] {
        let entry = dumped(&client, kind, name)?;
        ensure!(
            entry.status == ResourceStatus::Acked
                && entry.version_info == accepted
                && entry.xds_config.is_some(),
            "{kind} `{name}` should stay cached while the control plane is down: {entry:#?}"
        );
    }
    // A new watcher of a cached name is served at once, from the cache.
    let mut late = WatchLog::new(client.watch(ResourceKind::ClusterLoadAssignment, "blue"));
    let cached = late.wait_for(WAIT, load_assignment).await?;
    ensure!(cached == g.blue_endpoints, "{cached:#?}");
    ensure!(
        client.connection_status().state != ConnectionState::Connected,
        "{:?}",
        client.connection_status()
    );

    // Same port, same mesh: the client reconnects by itself and resubscribes every type.
    let server = restart_control_plane(addr, Spec::default().mesh()?, WAIT).await?;
    wait_for_connection(&client, WAIT, |s| s.state == ConnectionState::Connected).await?;
    assert_all_acked(&server, node, server.version(), WAIT).await?;
    // The resubscription announced, per type, the version accepted from the first server.
    let resumed = server.ack_log();
    for kind in ResourceKind::ALL {
        let opened = resumed
            .status(node, kind.type_url())
            .and_then(|s| s.opened_with.clone());
        ensure!(
            opened.as_deref() == Some(accepted.as_str()),
            "{kind} should resume from version {accepted}, announced {opened:?}: {resumed:?}"
        );
    }

    // Later updates flow again.
    let version = server.set_mesh(
        &Spec {
            extra_endpoint: true,
            ..Spec::default()
        }
        .mesh()?,
    )?;
    let updated = g.eds_blue.wait_for(WAIT, load_assignment).await?;
    let zone_b = &updated.priorities[0].localities[1].endpoints;
    ensure!(
        zone_b.len() == 2,
        "the added endpoint should arrive: {updated:#?}"
    );
    server
        .wait_for_ack(node, type_url::CLUSTER_LOAD_ASSIGNMENT, version, WAIT)
        .await?;
    ensure!(g.listener.name == GREETER && g.routes.name == GREETER && g.blue.name == "blue");
    server.shutdown().await;
    Ok(())
}

/// Real time (paused tokio time cannot drive real sockets), with the does-not-exist timer set to
/// 1 s through `ClientOptions::resource_timeout` (gRFC A57's 15 s default is unit-tested with
/// injected time in `xds::core`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_the_mesh_lacks_does_not_exist_after_the_timer() -> Result<()> {
    const TIMER: Duration = Duration::from_secs(1);
    let server = start_control_plane(Spec::default().mesh()?).await?;
    let options = ClientOptions {
        resource_timeout: Some(TIMER),
        ..fast_reconnect(BACKOFF_BASE)
    };
    let client = client_for(&server, "e2e-missing", options)?;
    let started = tokio::time::Instant::now();
    let mut watcher = client.watch(ResourceKind::Listener, "missing:1");

    let err = wait_for_event(&mut watcher, Duration::from_secs(10), |e| match e {
        WatchEvent::DoesNotExist(err) => Some(err.clone()),
        _ => None,
    })
    .await?;

    let waited = started.elapsed();
    ensure!(
        waited >= TIMER - Duration::from_millis(100),
        "does-not-exist after only {waited:?}; the timer is {TIMER:?}"
    );
    let WatchError::NotFound {
        name,
        server: uri,
        after,
        ..
    } = &err
    else {
        bail!("expected NotFound, got {err:?}");
    };
    ensure!(
        name == "missing:1" && *uri == server.local_addr().to_string() && *after == TIMER,
        "{err:?}"
    );
    let message = err.to_string();
    ensure!(
        message.contains("`missing:1`") && message.contains(uri),
        "message: {message}"
    );
    let entry = dumped(&client, ResourceKind::Listener, "missing:1")?;
    ensure!(entry.status == ResourceStatus::DoesNotExist, "{entry:#?}");
    server.shutdown().await;
    Ok(())
}
