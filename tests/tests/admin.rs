//! The admin endpoint end to end: a tonic admin client against `Mesh::serve_admin` over
//! loopback, with the dev control plane and real greeter backends.
//!
//! Covers runtime fault rules (client side through a channel, server side through the server
//! layer), their time-to-live and its cap, authentication of mutations (bearer token, or a
//! client certificate over mutual TLS with rcgen-minted certificates), the Watch stream's fault
//! and NACK events, CSDS after an update and a NACK, the refusal of a non-loopback bind without a
//! token or mutual TLS, per-endpoint live stats (rate, error rate, latency quantiles), Watch ejection and
//! breaker-overflow events, and draining a service with SetServing. Waits are bounded polls,
//! never fixed sleeps.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use meshwork::Mesh;
use meshwork::admin::{AdminError, AdminHandle, AdminOptions, AdminTls};
use meshwork::channel::ChannelOptions;
use meshwork::xds::resource::ResourceKind;
use meshwork_examples::greeter::GreeterBackend;
use meshwork_examples::xds_server::translate::to_any;
use meshwork_proto::admin::v1 as pb;
use meshwork_proto::admin::v1::admin_client::AdminClient;
use meshwork_proto::envoy::config::listener::v3::Listener as ProtoListener;
use meshwork_proto::envoy::service::status::v3::ClientStatusRequest;
use meshwork_proto::envoy::service::status::v3::client_status_discovery_service_client::ClientStatusDiscoveryServiceClient;
use meshwork_proto::helloworld::HelloRequest;
use meshwork_proto::helloworld::greeter_client::GreeterClient;
use meshwork_tests::backend::Backends;
use meshwork_tests::resilience::{ServiceYaml, mesh_yaml, sdk_mesh, serve_yaml};
use meshwork_tests::{mesh_for, start_control_plane};
use tokio::time::Instant;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

const TOKEN: &str = "test-admin-token";
const WAIT: Duration = Duration::from_secs(10);
const LISTENER: &str = "greeter:50051";

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn serve(mesh: &Mesh) -> Result<(AdminHandle, AdminClient<Channel>)> {
    let options = AdminOptions {
        token: Some(TOKEN.into()),
        ..AdminOptions::default()
    };
    let handle = mesh.serve_admin(loopback(), options).await?;
    let client = AdminClient::connect(format!("http://{}", handle.local_addr())).await?;
    Ok((handle, client))
}

fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value = MetadataValue::try_from(format!("Bearer {token}"))
        .unwrap_or_else(|_| MetadataValue::from_static("Bearer not-ascii"));
    request.metadata_mut().insert("authorization", value);
    request
}

fn rule(scope: pb::fault_scope::Scope, code: Code, ttl_ms: Option<u64>) -> pb::SetFaultRequest {
    pb::SetFaultRequest {
        spec: Some(pb::FaultRuleSpec {
            scope: Some(pb::FaultScope { scope: Some(scope) }),
            delay_ms: 0,
            abort_code: Some(code as i32),
            percentage: 100.0,
            ttl_ms,
        }),
    }
}

/// A service `host:50051` routed to the cluster of the same name, without route policies.
fn service(host: &str) -> ServiceYaml {
    ServiceYaml {
        host: host.into(),
        cluster: host.into(),
        route: Vec::new(),
    }
}

fn hello() -> HelloRequest {
    HelloRequest {
        name: "admin-test".into(),
    }
}

/// Polls `check` every 20 ms until it yields a value, for at most `within`.
async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("{what} did not happen within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next Watch event matching `pick`, within `within`.
async fn next_event<T>(
    stream: &mut tonic::Streaming<pb::WatchUpdate>,
    within: Duration,
    mut pick: impl FnMut(&pb::event::Kind) -> Option<T>,
) -> Result<T> {
    tokio::time::timeout(within, async {
        while let Some(update) = stream.next().await {
            if let Some(pb::watch_update::Update::Event(pb::Event { kind: Some(k), .. })) =
                update?.update
                && let Some(found) = pick(&k)
            {
                return Ok(found);
            }
        }
        bail!("the watch stream ended")
    })
    .await
    .context("no matching watch event in time")?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_rule_applies_to_the_next_rpc_and_expires_at_its_ttl() -> Result<()> {
    let backends = Backends::start(2).await?;
    let cp = start_control_plane(backends.mesh().build()?).await?;
    let mesh = mesh_for(&cp, "admin-ttl", 5)?;
    let target = backends.mesh().target();
    let mut greeter = GreeterClient::new(mesh.channel(&target).await?);
    greeter.say_hello(hello()).await?;
    let (_admin, mut admin) = serve(&mesh).await?;

    let scope = pb::fault_scope::Scope::ClientTarget(target.clone());
    let set_at = Instant::now();
    let set = admin
        .set_fault(authed(
            rule(scope, Code::ResourceExhausted, Some(1500)),
            TOKEN,
        ))
        .await?
        .into_inner();
    let id = set.rule.context("SetFault returns the rule")?.id;
    let status = greeter.say_hello(hello()).await.expect_err("faulted");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let listed = admin
        .list_faults(pb::ListFaultsRequest {})
        .await?
        .into_inner();
    assert_eq!(listed.rules.len(), 1);
    assert_eq!(listed.rules[0].id, id);
    assert!(listed.rules[0].injected >= 1);

    eventually(WAIT, "the rule expiring", || {
        let mut g = greeter.clone();
        async move { g.say_hello(hello()).await.ok() }
    })
    .await?;
    let lived = set_at.elapsed();
    assert!(
        lived >= Duration::from_millis(1400),
        "expired after {lived:?}"
    );
    let listed = admin
        .list_faults(pb::ListFaultsRequest {})
        .await?
        .into_inner();
    assert!(listed.rules.is_empty(), "{listed:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_side_rule_makes_callers_see_the_fault() -> Result<()> {
    // A server process without a control plane: the Mesh gives it the server layer and admin.
    let server_mesh = Mesh::builder().service_name("greeter-server").build()?;
    let listener = tokio::net::TcpListener::bind(loopback()).await?;
    let addr = listener.local_addr()?;
    let router = tonic::transport::Server::builder()
        .layer(server_mesh.server_layer())
        .add_service(server_mesh.health().service())
        .add_service(GreeterBackend::new("s0").into_service());
    let server = tokio::spawn(
        router.serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let (_admin, mut admin) = serve(&server_mesh).await?;
    let mut caller = GreeterClient::connect(format!("http://{addr}")).await?;
    caller.say_hello(hello()).await?;

    let scope = pb::fault_scope::Scope::ServerMethod("helloworld.Greeter/*".into());
    let set = admin
        .set_fault(authed(rule(scope, Code::Unavailable, None), TOKEN))
        .await?
        .into_inner();
    let status = caller.say_hello(hello()).await.expect_err("faulted");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("runtime rule"), "{status:?}");

    let id = set.rule.context("rule")?.id;
    admin
        .clear_fault(authed(pb::ClearFaultRequest { id }, TOKEN))
        .await?;
    caller.say_hello(hello()).await?;
    let info = admin.get_info(pb::GetInfoRequest {}).await?.into_inner();
    assert_eq!(info.service_name, "greeter-server");
    assert!(info.xds_servers.is_empty());
    server.abort();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_without_the_right_token_are_refused_and_change_nothing() -> Result<()> {
    let mesh = Mesh::builder().build()?;
    let (_admin, mut admin) = serve(&mesh).await?;
    let scope = || pb::fault_scope::Scope::ClientMethod("/helloworld.Greeter/SayHello".into());

    let anonymous = admin
        .set_fault(rule(scope(), Code::Unavailable, None))
        .await
        .expect_err("no token");
    assert_eq!(anonymous.code(), Code::Unauthenticated, "{anonymous:?}");
    let wrong = admin
        .set_fault(authed(rule(scope(), Code::Unavailable, None), "guess"))
        .await
        .expect_err("wrong token");
    assert_eq!(wrong.code(), Code::PermissionDenied, "{wrong:?}");
    let clear = admin
        .clear_fault(authed(pb::ClearFaultRequest { id: 1 }, "guess"))
        .await
        .expect_err("wrong token");
    assert_eq!(clear.code(), Code::PermissionDenied);
    assert!(mesh.faults().list().is_empty(), "nothing was installed");

    // Reads are open, and a bad request names its field.
    let listed = admin
        .list_faults(pb::ListFaultsRequest {})
        .await?
        .into_inner();
    assert!(listed.rules.is_empty());
    admin
        .get_snapshot(pb::GetSnapshotRequest::default())
        .await?;
    let mut bad = rule(scope(), Code::Unavailable, None);
    if let Some(spec) = bad.spec.as_mut() {
        spec.percentage = 150.0;
    }
    let invalid = admin.set_fault(authed(bad, TOKEN)).await.expect_err("bad");
    assert_eq!(invalid.code(), Code::InvalidArgument);
    assert!(invalid.message().contains("spec.percentage"), "{invalid:?}");
    Ok(())
}

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

#[tokio::test]
async fn a_non_loopback_bind_without_a_token_is_refused() -> Result<()> {
    let mesh = Mesh::builder().build()?;
    let addr = SocketAddr::from(([0, 0, 0, 0], 0));
    match mesh.serve_admin(addr, AdminOptions::default()).await {
        Err(error @ AdminError::InsecureBind { .. }) => {
            let text = error.to_string();
            assert!(
                text.contains("0.0.0.0:0") && text.contains("MESHWORK_ADMIN_TOKEN"),
                "{text}"
            );
            Ok(())
        }
        Err(other) => bail!("refused for the wrong reason: {other}"),
        Ok(_) => bail!("a non-loopback admin endpoint without a token was started"),
    }
}

/// The endpoint `address` of `target` in a snapshot.
fn endpoint_of(snapshot: &pb::Snapshot, address: SocketAddr) -> Option<pb::Endpoint> {
    let address = address.to_string();
    snapshot
        .targets
        .iter()
        .flat_map(|t| &t.clusters)
        .flat_map(|c| &c.endpoints)
        .find(|e| e.address == address)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_snapshot_shows_each_endpoints_request_rate_error_rate_and_latency() -> Result<()> {
    const CALLS: usize = 20;
    const FAILING: u32 = 5;
    const LATENCY: Duration = Duration::from_millis(25);
    let backends = Backends::start(1).await?;
    let yaml = mesh_yaml(&[service("stats")], "stats", &[], &backends.addrs());
    let cp = serve_yaml(&yaml).await?;
    let mesh = sdk_mesh(&cp, "admin-stats", ChannelOptions::default())?;
    let mut greeter = GreeterClient::new(mesh.channel("xds:///stats:50051").await?);
    let (_admin, mut admin) = serve(&mesh).await?;
    backends[0].behavior().set_latency(LATENCY);
    backends[0].behavior().fail_next(FAILING, Code::Unavailable);
    let mut failed = 0;
    for _ in 0..CALLS {
        failed += usize::from(greeter.say_hello(hello()).await.is_err());
    }
    assert_eq!(failed, FAILING as usize, "no retries are configured");

    let snapshot = admin
        .get_snapshot(pb::GetSnapshotRequest::default())
        .await?
        .into_inner();
    let e = endpoint_of(&snapshot, backends[0].addr()).context("the endpoint is shown")?;
    assert!(e.requests_per_sec > 0.0, "{e:?}");
    let expected = f64::from(FAILING) / CALLS as f64;
    assert!((e.error_rate - expected).abs() < 1e-9, "{e:?}");
    let injected = LATENCY.as_secs_f64() * 1e3;
    assert!(e.latency_p99_ms >= injected, "{e:?}");
    assert!(e.latency_p50_ms >= injected, "every call waited: {e:?}");
    assert!(e.ewma_ms > 0.0, "{e:?}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_drains_a_service_through_the_admin_endpoint() -> Result<()> {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    const SERVICE: &str = "helloworld.Greeter";
    let mesh = Mesh::builder().service_name("drain").build()?;
    mesh.health().set_service_serving(SERVICE, true).await;
    let listener = tokio::net::TcpListener::bind(loopback()).await?;
    let addr = listener.local_addr()?;
    let router = tonic::transport::Server::builder()
        .add_service(mesh.health().service())
        .add_service(GreeterBackend::new("d0").into_service());
    let server = tokio::spawn(
        router.serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let (_admin, mut admin) = serve(&mesh).await?;
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let mut health = HealthClient::new(channel);
    let check = |service: &str| HealthCheckRequest {
        service: service.into(),
    };
    let status = health.check(check(SERVICE)).await?.into_inner().status;
    assert_eq!(status, ServingStatus::Serving as i32);

    let drain = pb::SetServingRequest {
        service: SERVICE.into(),
        serving: false,
    };
    let anonymous = admin
        .set_serving(drain.clone())
        .await
        .expect_err("no token");
    assert_eq!(anonymous.code(), Code::Unauthenticated, "{anonymous:?}");
    let wrong = admin
        .set_serving(authed(drain.clone(), "guess"))
        .await
        .expect_err("wrong token");
    assert_eq!(wrong.code(), Code::PermissionDenied, "{wrong:?}");
    let status = health.check(check(SERVICE)).await?.into_inner().status;
    assert_eq!(status, ServingStatus::Serving as i32, "refused: unchanged");

    let set = admin.set_serving(authed(drain, TOKEN)).await?.into_inner();
    assert_eq!(set.was_serving, Some(true));
    let status = health.check(check(SERVICE)).await?.into_inner().status;
    assert_eq!(status, ServingStatus::NotServing as i32);
    let whole = health.check(check("")).await?.into_inner().status;
    assert_eq!(
        whole,
        ServingStatus::Serving as i32,
        "only that service drains"
    );

    let info = admin.get_info(pb::GetInfoRequest {}).await?.into_inner();
    let shown: Vec<_> = info
        .services
        .iter()
        .map(|s| (s.service.as_str(), s.serving))
        .collect();
    assert_eq!(shown, [("", true), (SERVICE, false)]);
    server.abort();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_with_a_ttl_over_the_cap_is_refused_naming_the_field() -> Result<()> {
    let mesh = Mesh::builder().build()?;
    let (_admin, mut admin) = serve(&mesh).await?;
    let scope = || pb::fault_scope::Scope::ClientMethod("/helloworld.Greeter/SayHello".into());
    let two_days = 48 * 3600 * 1000;
    let refused = admin
        .set_fault(authed(
            rule(scope(), Code::Unavailable, Some(two_days)),
            TOKEN,
        ))
        .await
        .expect_err("a 48h ttl is over the 24h cap");
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(
        refused
            .message()
            .starts_with("spec.ttl_ms: ttl 48h exceeds the maximum 24h"),
        "{refused:?}"
    );
    assert!(mesh.faults().list().is_empty(), "nothing was installed");
    admin
        .set_fault(authed(
            rule(scope(), Code::Unavailable, Some(60_000)),
            TOKEN,
        ))
        .await?;
    assert_eq!(mesh.faults().list().len(), 1);
    Ok(())
}

/// A CA, a server certificate for 127.0.0.1 / localhost and a client certificate, as PEM files in
/// a fresh temporary directory (removed on drop).
struct AdminPki {
    dir: std::path::PathBuf,
    ca: String,
    client_cert: String,
    client_key: String,
}

impl AdminPki {
    fn new(name: &str) -> Result<AdminPki> {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let dir =
            std::env::temp_dir().join(format!("meshwork-admin-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
        let leaf = |sans: &[&str]| -> Result<(String, String)> {
            let key = KeyPair::generate()?;
            let sans = sans.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            let cert = CertificateParams::new(sans)?.signed_by(&key, &ca)?;
            Ok((cert.pem(), key.serialize_pem()))
        };
        let (server_cert, server_key) = leaf(&["127.0.0.1", "localhost"])?;
        let (client_cert, client_key) = leaf(&["operator.meshwork.test"])?;
        let pki = AdminPki {
            dir,
            ca: ca.pem(),
            client_cert,
            client_key,
        };
        std::fs::write(pki.path("ca.pem"), &pki.ca)?;
        std::fs::write(pki.path("server.pem"), server_cert)?;
        std::fs::write(pki.path("server.key"), server_key)?;
        Ok(pki)
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.join(name)
    }

    fn mutual(&self) -> AdminTls {
        AdminTls::new(self.path("server.pem"), self.path("server.key"))
            .with_client_ca(self.path("ca.pem"))
    }

    /// A TLS client trusting the CA, presenting the client certificate when `with_cert`.
    fn client_tls(&self, with_cert: bool) -> ClientTlsConfig {
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca))
            .domain_name("localhost");
        if with_cert {
            tls.identity(Identity::from_pem(&self.client_cert, &self.client_key))
        } else {
            tls
        }
    }
}

impl Drop for AdminPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn tls_admin(addr: SocketAddr, tls: ClientTlsConfig) -> Result<AdminClient<Channel>> {
    let channel = Endpoint::from_shared(format!("https://{addr}"))?
        .tls_config(tls)?
        .connect_timeout(WAIT)
        .connect()
        .await?;
    Ok(AdminClient::new(channel))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_client_certificate_authorizes_mutations_without_a_token() -> Result<()> {
    let pki = AdminPki::new("mutual")?;
    let mesh = Mesh::builder().build()?;
    let options = AdminOptions {
        tls: Some(pki.mutual()),
        ..AdminOptions::default()
    };
    let handle = mesh.serve_admin(loopback(), options).await?;
    let addr = handle.local_addr();

    let mut operator = tls_admin(addr, pki.client_tls(true)).await?;
    let scope = pb::fault_scope::Scope::ClientMethod("/helloworld.Greeter/SayHello".into());
    let set = operator
        .set_fault(rule(scope, Code::Unavailable, Some(60_000)))
        .await?
        .into_inner();
    let id = set
        .rule
        .map(|r| r.id)
        .context("SetFault returns the rule")?;
    assert_eq!(mesh.faults().list().len(), 1);
    let listed = operator
        .list_faults(pb::ListFaultsRequest {})
        .await?
        .into_inner();
    assert_eq!(listed.rules.len(), 1);
    operator.get_info(pb::GetInfoRequest {}).await?;
    operator.clear_fault(pb::ClearFaultRequest { id }).await?;
    assert!(mesh.faults().list().is_empty());

    // Without a client certificate the handshake is refused: no call gets through.
    let anonymous = tokio::time::timeout(WAIT, async {
        let mut client = tls_admin(addr, pki.client_tls(false)).await?;
        client.get_info(pb::GetInfoRequest {}).await?;
        anyhow::Ok(())
    })
    .await
    .context("the refused client did not finish within the wait")?;
    assert!(
        anonymous.is_err(),
        "a client without a certificate was served"
    );
    // Plain text is not served either.
    let plain = tokio::time::timeout(WAIT, async {
        let mut client = AdminClient::connect(format!("http://{addr}")).await?;
        client.get_info(pb::GetInfoRequest {}).await?;
        anyhow::Ok(())
    })
    .await
    .context("the plain-text client did not finish within the wait")?;
    assert!(plain.is_err(), "a plain-text client was served");
    assert!(mesh.faults().list().is_empty());
    handle.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn mutual_tls_allows_a_non_loopback_bind_and_bad_pem_files_are_named() -> Result<()> {
    let pki = AdminPki::new("files")?;
    let mesh = Mesh::builder().build()?;
    let any = SocketAddr::from(([0, 0, 0, 0], 0));
    let options = AdminOptions {
        tls: Some(pki.mutual()),
        ..AdminOptions::default()
    };
    let handle = mesh.serve_admin(any, options).await?;
    handle.shutdown().await;

    let missing = pki.path("missing.pem");
    let options = AdminOptions {
        tls: Some(pki.mutual().with_client_ca(&missing)),
        ..AdminOptions::default()
    };
    match mesh.serve_admin(loopback(), options).await {
        Err(error @ AdminError::TlsFile { .. }) => {
            let text = error.to_string();
            assert!(
                text.contains("client CA") && text.contains(&missing.display().to_string()),
                "{text}"
            );
        }
        Err(other) => bail!("refused for the wrong reason: {other}"),
        Ok(_) => bail!("served with a missing client CA file"),
    }

    let garbage = pki.path("garbage.key");
    std::fs::write(&garbage, "not a key")?;
    let options = AdminOptions {
        tls: Some(AdminTls::new(pki.path("server.pem"), &garbage)),
        token: Some(TOKEN.into()),
        ..AdminOptions::default()
    };
    match mesh.serve_admin(loopback(), options).await {
        Err(error @ AdminError::NotPem { .. }) => {
            let text = error.to_string();
            assert!(
                text.contains("private key") && text.contains(&garbage.display().to_string()),
                "{text}"
            );
        }
        Err(other) => bail!("refused for the wrong reason: {other}"),
        Ok(_) => bail!("served with a key file that is not PEM"),
    }
    Ok(())
}
