//! The Watch stream (fault changes, NACKs, ejections, breaker overflows) and CSDS.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_reports_fault_changes_and_nacks_and_csds_shows_per_resource_status() -> Result<()> {
    let backends = Backends::start(1).await?;
    let cp = start_control_plane(backends.mesh().build()?).await?;
    let mesh = mesh_for(&cp, "admin-watch", 9)?;
    let target = backends.mesh().target();
    let mut greeter = GreeterClient::new(mesh.channel(&target).await?);
    greeter.say_hello(hello()).await?;
    let (admin_handle, mut admin) = serve(&mesh).await?;
    let mut csds = ClientStatusDiscoveryServiceClient::connect(format!(
        "http://{}",
        admin_handle.local_addr()
    ))
    .await?;

    // After the update: every resource ACKed.
    let status = csds
        .fetch_client_status(ClientStatusRequest::default())
        .await?
        .into_inner();
    let listener_status =
        |response: &meshwork_proto::envoy::service::status::v3::ClientStatusResponse| {
            response.config.first().and_then(|c| {
                c.generic_xds_configs
                    .iter()
                    .find(|g| g.type_url == ResourceKind::Listener.type_url() && g.name == LISTENER)
                    .cloned()
            })
        };
    let entry = listener_status(&status).context("the listener is in the dump")?;
    assert_eq!(entry.client_status, 3, "ACKED: {entry:?}");
    assert_eq!(
        status.config[0].node.as_ref().map(|n| n.id.as_str()),
        Some("admin-watch")
    );

    // The snapshot shows the target and its endpoint.
    let snapshot = admin
        .get_snapshot(pb::GetSnapshotRequest::default())
        .await?
        .into_inner();
    let t = snapshot
        .targets
        .iter()
        .find(|t| t.name == target)
        .context("target")?;
    assert_eq!(t.state, pb::TargetState::Ready as i32);
    assert_eq!(
        t.clusters[0].endpoints[0].address,
        backends[0].addr().to_string()
    );

    let interval = Duration::from_millis(200);
    let mut watch = admin
        .watch(pb::WatchRequest {
            interval: Some(meshwork_proto::google::protobuf::Duration {
                seconds: 0,
                nanos: 200_000_000,
            }),
            snapshot: None,
        })
        .await?
        .into_inner();

    let scope = pb::fault_scope::Scope::ClientCluster("greeter".into());
    admin
        .set_fault(authed(rule(scope, Code::Aborted, Some(60_000)), TOKEN))
        .await?;
    let change = next_event(&mut watch, interval * 2, |k| match k {
        pb::event::Kind::FaultRuleChanged(c) => Some(c.clone()),
        _ => None,
    })
    .await?;
    assert_eq!(change.change, pb::FaultRuleChange::Set as i32);

    let bad = to_any(&ProtoListener {
        name: LISTENER.to_string(),
        ..Default::default()
    });
    let version = cp.set_raw(ResourceKind::Listener.type_url(), LISTENER, bad);
    let nack = next_event(&mut watch, WAIT, |k| match k {
        pb::event::Kind::XdsNack(n) if n.name == LISTENER => Some(n.clone()),
        _ => None,
    })
    .await?;
    assert_eq!(nack.version, version.to_string());
    assert!(nack.message.contains(LISTENER), "{nack:?}");

    let entry = listener_status(
        &csds
            .fetch_client_status(ClientStatusRequest::default())
            .await?
            .into_inner(),
    )
    .context("listener after the NACK")?;
    assert_eq!(entry.client_status, 4, "NACKED: {entry:?}");
    let error = entry.error_state.context("a NACK has an error state")?;
    assert_eq!(error.version_info, version.to_string());
    assert!(
        entry.xds_config.is_some(),
        "the last good listener is still served"
    );
    Ok(())
}

/// The time from now until `at` (negative when it is past), in seconds.
fn seconds_until(at: &meshwork_proto::google::protobuf::Timestamp) -> f64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    at.seconds as f64 + f64::from(at.nanos) / 1e9 - now
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_reports_an_ejection_with_its_end_and_the_return() -> Result<()> {
    const INTERVAL: f64 = 0.5;
    const EJECTION: f64 = 2.0;
    let backends = Backends::start(2).await?;
    let outlier = "outlier_detection: {interval: 500ms, base_ejection_time: 2s, \
                   max_ejection_percent: 50, enforcing_success_rate: 0, \
                   failure_percentage_threshold: 50, enforcing_failure_percentage: 100, \
                   failure_percentage_minimum_hosts: 2, failure_percentage_request_volume: 5}";
    let yaml = mesh_yaml(
        &[service("od-events")],
        "od-events",
        &[outlier],
        &backends.addrs(),
    );
    let cp = serve_yaml(&yaml).await?;
    let mesh = sdk_mesh(&cp, "admin-od", ChannelOptions::default())?;
    let greeter = GreeterClient::new(mesh.channel("xds:///od-events:50051").await?);
    let (_admin, mut admin) = serve(&mesh).await?;
    let mut watch = admin.watch(pb::WatchRequest::default()).await?.into_inner();
    backends[0]
        .behavior()
        .set_error_rate(1.0, Code::Unavailable);
    let traffic = tokio::spawn(async move {
        let mut greeter = greeter;
        loop {
            let _ = greeter.say_hello(hello()).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });

    let ejected = next_event(&mut watch, WAIT, |k| match k {
        pb::event::Kind::Ejection(e) => Some(e.clone()),
        _ => None,
    })
    .await?;
    let left = seconds_until(ejected.until.as_ref().context("until")?);
    assert_eq!(
        ejected.endpoint,
        backends[0].addr().to_string(),
        "{ejected:?}"
    );
    assert_eq!(ejected.cluster, "od-events");
    assert!(ejected.reason.contains("failure percentage"), "{ejected:?}");
    assert!(
        (EJECTION - INTERVAL..=EJECTION).contains(&left),
        "the event came {:.3} s after the ejection (until is {left:.3} s away)",
        EJECTION - left
    );
    let snapshot = admin
        .get_snapshot(pb::GetSnapshotRequest::default())
        .await?
        .into_inner();
    let shown = endpoint_of(&snapshot, backends[0].addr()).context("b0 is shown")?;
    assert_eq!(
        shown.health_state,
        pb::HealthState::Ejected as i32,
        "{shown:?}"
    );
    assert_eq!(shown.ejected_until, ejected.until, "{shown:?}");
    let cluster = &snapshot.targets[0].clusters[0];
    assert_eq!(
        cluster.outlier_detection.as_ref().map(|o| o.ejected),
        Some(1)
    );

    let returned = next_event(&mut watch, WAIT, |k| match k {
        pb::event::Kind::Unejection(u) => Some(u.clone()),
        _ => None,
    })
    .await?;
    assert_eq!(returned.endpoint, backends[0].addr().to_string());
    assert_eq!(returned.reason, "ejection time over");
    traffic.abort();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_reports_breaker_overflows_with_the_cluster_and_its_limit() -> Result<()> {
    const MAX: u32 = 3;
    let backends = Backends::start(1).await?;
    let yaml = mesh_yaml(
        &[service("breaker-events")],
        "breaker-events",
        &["max_requests: 3"],
        &backends.addrs(),
    );
    let cp = serve_yaml(&yaml).await?;
    let mesh = sdk_mesh(&cp, "admin-breaker", ChannelOptions::default())?;
    let greeter = GreeterClient::new(mesh.channel("xds:///breaker-events:50051").await?);
    greeter.clone().say_hello(hello()).await?;
    let (_admin, mut admin) = serve(&mesh).await?;
    let mut watch = admin.watch(pb::WatchRequest::default()).await?.into_inner();
    backends[0].behavior().set_hang(true);
    let held: Vec<_> = (0..MAX)
        .map(|_| {
            let mut greeter = greeter.clone();
            tokio::spawn(async move { greeter.say_hello(hello()).await })
        })
        .collect();
    eventually(WAIT, "the held calls reaching the backend", || async {
        (backends[0].served().in_flight() >= u64::from(MAX)).then_some(())
    })
    .await?;
    let refused = greeter
        .clone()
        .say_hello(hello())
        .await
        .expect_err("over the limit");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");

    let overflow = next_event(&mut watch, WAIT, |k| match k {
        pb::event::Kind::BreakerOverflow(o) => Some(o.clone()),
        _ => None,
    })
    .await?;
    assert_eq!(overflow.cluster, "breaker-events");
    assert_eq!(overflow.max_requests, MAX);
    assert_eq!(overflow.refused, 1);
    let snapshot = admin
        .get_snapshot(pb::GetSnapshotRequest::default())
        .await?
        .into_inner();
    let breaker = snapshot.targets[0].clusters[0]
        .breaker
        .context("the breaker is shown")?;
    assert_eq!((breaker.in_flight, breaker.max_requests), (MAX, MAX));
    assert!(breaker.overflows >= 1, "{breaker:?}");
    for h in held {
        h.abort();
    }
    Ok(())
}
