//! Live state: per-endpoint stats in the snapshot, draining with SetServing, channelz.

use super::*;

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

/// The admin port also serves channelz (gRFC A14): after RPCs through a mesh channel, the
/// channel is READY with a READY subchannel whose calls count them, and the ADS stream shows as
/// a READY channel to the control plane with one call in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channelz_on_the_admin_port_shows_the_channel_its_endpoint_and_the_ads_stream() -> Result<()>
{
    use meshwork_proto::channelz::v1 as cz;
    use meshwork_proto::channelz::v1::channel_connectivity_state::State;
    use meshwork_proto::channelz::v1::channelz_client::ChannelzClient;

    let backends = Backends::start(1).await?;
    let yaml = mesh_yaml(&[service("cz")], "cz", &[], &backends.addrs());
    let cp = serve_yaml(&yaml).await?;
    let mesh = sdk_mesh(&cp, "admin-channelz", ChannelOptions::default())?;
    let target = "xds:///cz:50051";
    let mut greeter = GreeterClient::new(mesh.channel(target).await?);
    for _ in 0..3 {
        greeter.say_hello(hello()).await?;
    }
    let (admin, _) = serve(&mesh).await?;
    let mut channelz = ChannelzClient::connect(format!("http://{}", admin.local_addr())).await?;
    let top = channelz
        .get_top_channels(cz::GetTopChannelsRequest::default())
        .await?
        .into_inner();
    let state = |data: &Option<cz::ChannelData>| {
        data.as_ref()
            .and_then(|d| d.state)
            .and_then(|s| State::try_from(s.state).ok())
    };
    let channel = top
        .channel
        .iter()
        .find(|c| c.data.as_ref().is_some_and(|d| d.target == target))
        .context("the mesh channel is listed")?;
    assert_eq!(state(&channel.data), Some(State::Ready), "{channel:?}");
    let data = channel.data.clone().context("channel data")?;
    assert_eq!(
        (data.calls_started, data.calls_succeeded, data.calls_failed),
        (3, 3, 0),
        "{data:?}"
    );
    let sub_ref = channel.subchannel_ref.first().context("a subchannel")?;
    let sub = channelz
        .get_subchannel(cz::GetSubchannelRequest {
            subchannel_id: sub_ref.subchannel_id,
        })
        .await?
        .into_inner()
        .subchannel
        .context("the subchannel")?;
    assert_eq!(state(&sub.data), Some(State::Ready), "{sub:?}");
    assert_eq!(
        sub.data.as_ref().map(|d| d.target.clone()),
        Some(backends[0].addr().to_string())
    );
    let ads = top
        .channel
        .iter()
        .find(|c| c.data.as_ref().is_some_and(|d| d.target != target))
        .context("the ADS channel is listed")?;
    let ads_data = ads.data.clone().context("ADS channel data")?;
    assert_eq!(state(&ads.data), Some(State::Ready), "{ads:?}");
    assert_eq!(
        ads_data.calls_started - ads_data.calls_succeeded - ads_data.calls_failed,
        1,
        "{ads_data:?}"
    );
    Ok(())
}
