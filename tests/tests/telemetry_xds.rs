//! End to end over loopback: the non-per-call metrics and A72 attempt spans against the real
//! dev control plane (in-process) and real greeter backends.
//!
//! - gRFC A78/A88 xDS client metrics: a valid update counts in `resource_updates_valid`, a
//!   NACKed listener in `resource_updates_invalid`, and the `resources` gauge moves the listener
//!   from `acked` to `nacked_but_cached`;
//! - gRFC A91: a backend that fails every call is ejected and counted in `ejections_enforced`
//!   with `detection_method="failure_percentage"`;
//! - gRFC A79 optional labels: with `grpc.lb.locality` / `grpc.lb.backend_service` enabled, the
//!   attempt duration carries the picked endpoint's locality and cluster;
//! - gRFC A72: attempt spans carry `previous-rpc-attempts` 0, then 1 on a retry.
//!
//! Metrics are read from the Prometheus text of the test's own `Telemetry`; spans (`tracing`
//! spans, exported by the telemetry's tracing layer installed as this binary's global subscriber
//! by the one test that needs it) from an in-process OTLP trace receiver. Every wait is bounded.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt as _;

use anyhow::{Context, Result, ensure};
use meshwork::channel::ChannelOptions;
use meshwork::telemetry::names::XDS_SHARED_TARGET;
use meshwork::telemetry::{OptionalLabel, Telemetry};
use meshwork::xds::resource::ResourceKind;
use meshwork::xds::{XdsClient, XdsClientMetrics};
use meshwork::{Mesh, MeshOptions};
use meshwork_examples::xds_server::translate::to_any;
use meshwork_proto::envoy::config::listener::v3::Listener as ProtoListener;
use meshwork_proto::helloworld::HelloRequest;
use meshwork_proto::helloworld::greeter_client::GreeterClient;
use meshwork_tests::backend::{Backends, say_hello_batch};
use meshwork_tests::control_plane::{bootstrap_for, fast_reconnect, start_control_plane};
use meshwork_tests::greeter::{BACKOFF_BASE, GREETER, Spec, WAIT, subscribe_greeter};
use meshwork_tests::promtool::{sample, wait_for_text};
use meshwork_tests::resilience::{ServiceYaml, fast_connect, mesh_yaml, serve_yaml, until};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::Code;

const LISTENER: &str = "envoy.config.listener.v3.Listener";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xds_client_metrics_count_updates_and_show_cache_states() -> Result<()> {
    let node = "telemetry-xds";
    let server = start_control_plane(Spec::default().mesh()?).await?;
    let telemetry = Telemetry::builder().build()?;
    let target = "xds:///greeter-metrics";
    let metrics = XdsClientMetrics::new(telemetry.mesh(), target);
    let client = XdsClient::with_metrics(
        &bootstrap_for(server.local_addr(), node),
        fast_reconnect(BACKOFF_BASE),
        metrics,
    )?;
    let _greeter = subscribe_greeter(&client).await?;
    server
        .wait_for_ack(
            node,
            ResourceKind::Listener.type_url(),
            server.version(),
            WAIT,
        )
        .await?;

    let xds_server = format!("grpc_xds_server=\"{}\"", server.local_addr());
    let target_label = format!("grpc_target=\"{target}\"");
    let listener_type = format!("grpc_xds_resource_type=\"{LISTENER}\"");
    let labels = [
        target_label.as_str(),
        xds_server.as_str(),
        listener_type.as_str(),
    ];
    let valid = "grpc_xds_client_resource_updates_valid_total";
    let text = wait_for_text(&telemetry, WAIT, "a valid listener update", |t| {
        sample(t, valid, &labels).is_some_and(|v| v >= 1.0)
    })
    .await?;
    ensure!(
        sample(
            &text,
            "grpc_xds_client_resource_updates_invalid_total",
            &labels
        )
        .is_none(),
        "nothing was invalid yet:\n{text}"
    );
    let gauge = "grpc_xds_client_resources";
    let state = |s: &str| format!("grpc_xds_cache_state=\"{s}\"");
    let (acked, nacked_cached) = (state("acked"), state("nacked_but_cached"));
    let old = "grpc_xds_authority=\"#old\"";
    let listener_in = |s: &str| {
        [
            target_label.clone(),
            old.to_owned(),
            listener_type.clone(),
            s.to_owned(),
        ]
    };
    let has = |t: &str, s: &str, want: f64| {
        let l = listener_in(s);
        let l: Vec<&str> = l.iter().map(String::as_str).collect();
        sample(t, gauge, &l) == Some(want)
    };
    ensure!(has(&text, &acked, 1.0), "one acked listener:\n{text}");

    // A listener without api_listener is invalid: NACKed, the old one stays cached.
    let bad = to_any(&ProtoListener {
        name: GREETER.to_string(),
        ..Default::default()
    });
    let bad_version = server.set_raw(ResourceKind::Listener.type_url(), GREETER, bad);
    server
        .wait_for_nack_of(node, ResourceKind::Listener.type_url(), bad_version, WAIT)
        .await?;
    let text = wait_for_text(&telemetry, WAIT, "an invalid listener update", |t| {
        sample(t, "grpc_xds_client_resource_updates_invalid_total", &labels) == Some(1.0)
    })
    .await?;
    ensure!(
        has(&text, &nacked_cached, 1.0),
        "the listener is nacked_but_cached:\n{text}"
    );
    ensure!(
        !has(&text, &acked, 1.0),
        "no listener is acked any more:\n{text}"
    );
    server.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mesh_records_xds_metrics_under_its_shared_target() -> Result<()> {
    let node = "telemetry-xds-mesh";
    let server = start_control_plane(Spec::default().mesh()?).await?;
    let telemetry = Telemetry::builder().build()?;
    let mesh = Mesh::builder()
        .bootstrap(bootstrap_for(server.local_addr(), node))
        .telemetry(telemetry.clone())
        .build()?;
    let _channel = mesh.channel(&format!("xds:///{GREETER}")).await?;
    let target = format!("grpc_target=\"{XDS_SHARED_TARGET}\"");
    wait_for_text(&telemetry, WAIT, "the mesh's listener update", |t| {
        sample(
            t,
            "grpc_xds_client_resource_updates_valid_total",
            &[&target, LISTENER],
        )
        .is_some()
    })
    .await?;
    server.shutdown().await;
    Ok(())
}

/// Every span the in-process collector received.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<ExportTraceServiceRequest>>>);

#[tonic::async_trait]
impl TraceService for Spans {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        if let Ok(mut s) = self.0.lock() {
            s.push(req.into_inner());
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// (trace id, `previous-rpc-attempts`, `transparent-retry`) of every attempt span.
fn attempt_spans(spans: &Spans) -> Vec<(Vec<u8>, i64, bool)> {
    let Ok(requests) = spans.0.lock() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for span in requests
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .filter(|s| s.name == "Attempt.helloworld.Greeter.SayHello")
    {
        let value = |key: &str| {
            span.attributes
                .iter()
                .find(|kv| kv.key == key)
                .and_then(|kv| kv.value.as_ref()?.value.clone())
        };
        let previous = match value("previous-rpc-attempts") {
            Some(any_value::Value::IntValue(n)) => n,
            _ => -1,
        };
        let transparent = matches!(
            value("transparent-retry"),
            Some(any_value::Value::BoolValue(true))
        );
        out.push((span.trace_id.clone(), previous, transparent));
    }
    out
}

fn service(host: &str, route: &[&str]) -> ServiceYaml {
    ServiceYaml {
        host: host.into(),
        cluster: host.into(),
        route: route.iter().map(|s| s.to_string()).collect(),
    }
}

/// A mesh with `telemetry` on `server`, fixed seed, fast reconnects.
fn mesh_with(
    server: &meshwork_examples::xds_server::ServerHandle,
    node: &str,
    telemetry: Telemetry,
) -> Result<Mesh> {
    let options = MeshOptions {
        channel: ChannelOptions {
            seed: Some(11),
            ..ChannelOptions::default()
        },
        connect: fast_connect(),
        xds: fast_reconnect(Duration::from_millis(100)),
    };
    Ok(Mesh::builder()
        .bootstrap(bootstrap_for(server.local_addr(), node))
        .options(options)
        .telemetry(telemetry)
        .build()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ejections_locality_labels_and_attempt_spans_are_recorded() -> Result<()> {
    let collector = Spans::default();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let otlp = listener.local_addr()?;
    let receiver = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let telemetry = Telemetry::builder()
        .otlp_traces_endpoint(format!("http://{otlp}"))
        .optional_label(OptionalLabel::Locality)
        .optional_label(OptionalLabel::BackendService)
        .build()?;
    // Attempt spans are `tracing` spans: export them through this telemetry (worker threads, so
    // a global subscriber; no other test of this binary sets one).
    let subscriber = tracing_subscriber::registry().with(telemetry.tracing_layer());
    tracing::subscriber::set_global_default(subscriber)?;

    let backends = Backends::start(3).await?;
    let outlier = "outlier_detection: {interval: 300ms, base_ejection_time: 30s, \
                   max_ejection_percent: 50, enforcing_success_rate: 0, \
                   failure_percentage_threshold: 30, enforcing_failure_percentage: 100, \
                   failure_percentage_minimum_hosts: 3, failure_percentage_request_volume: 5}";
    let retry = "retry: {retry_on: [unavailable], num_retries: 3, \
                 backoff: {base_interval: 5ms, max_interval: 20ms}}";
    let yaml = mesh_yaml(
        &[service("telo", &[retry])],
        "telo",
        &[outlier],
        &backends.addrs(),
    );
    let server = serve_yaml(&yaml).await?;
    let mesh = mesh_with(&server, "telemetry-outlier", telemetry.clone())?;
    let mut client = GreeterClient::new(mesh.channel("xds:///telo:50051").await?);

    // One clean call: a single attempt span with previous-rpc-attempts 0.
    client.say_hello(HelloRequest { name: "a".into() }).await?;
    // Every backend fails its next call: the call's first attempt fails wherever it lands, and
    // a retry succeeds at the latest on the fourth attempt.
    for b in backends.iter() {
        b.behavior().fail_next(1, Code::Unavailable);
    }
    client.say_hello(HelloRequest { name: "b".into() }).await?;
    for b in backends.iter() {
        b.behavior().reset();
    }

    // b0 fails everything: retries hide it from the caller, outlier detection ejects it.
    backends[0]
        .behavior()
        .set_error_rate(1.0, Code::Unavailable);
    until("b0 is ejected", WAIT, || {
        let mut client = client.clone();
        async move { Ok(say_hello_batch(&mut client, 20).await.backend("b0") == 0) }
    })
    .await?;

    let text = wait_for_text(&telemetry, WAIT, "an enforced ejection", |t| {
        sample(
            t,
            "grpc_lb_outlier_detection_ejections_enforced_total",
            &[
                "grpc_target=\"xds:///telo:50051\"",
                "grpc_lb_backend_service=\"telo\"",
                "grpc_lb_outlier_detection_detection_method=\"failure_percentage\"",
            ],
        )
        .is_some_and(|n| n >= 1.0)
    })
    .await?;
    ensure!(
        sample(&text, "meshwork_outlier_ejections_total", &["telo"]).is_some_and(|n| n >= 1.0),
        "meshwork.outlier.ejections:\n{text}"
    );
    let locality = r#"grpc_lb_locality="{region=\"\", zone=\"local\", sub_zone=\"\"}""#;
    ensure!(
        sample(
            &text,
            "grpc_client_attempt_duration_seconds_count",
            &[
                locality,
                "grpc_lb_backend_service=\"telo\"",
                "grpc_status=\"OK\""
            ],
        )
        .is_some_and(|n| n >= 1.0),
        "attempt duration with the locality label:\n{text}"
    );

    let flushing = telemetry.clone();
    tokio::task::spawn_blocking(move || flushing.force_flush()).await??;
    let attempts = attempt_spans(&collector);
    let first = attempts.first().context("no attempt span exported")?;
    ensure!(
        first.1 == 0 && !first.2,
        "the first call's only attempt: {first:?}"
    );
    let second = &attempts.get(1).context("the retried call has no span")?.0;
    let mut retried: Vec<_> = attempts.iter().filter(|a| &a.0 == second).collect();
    retried.sort_by_key(|a| a.1);
    let previous: Vec<i64> = retried.iter().map(|a| a.1).collect();
    let expected: Vec<i64> = (0..previous.len() as i64).collect();
    ensure!(
        previous.len() >= 2 && previous == expected && retried.iter().all(|a| !a.2),
        "the retried call's attempts carry previous-rpc-attempts 0, 1, ...: {retried:?}"
    );
    receiver.abort();
    server.shutdown().await;
    Ok(())
}

/// gRFC A78 `grpc.xds_client.server_failure`: a server that was working and is then gone (its
/// streams end without a response) counts one failure, not one per reconnect attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_plane_that_goes_away_counts_one_server_failure() -> Result<()> {
    let node = "telemetry-xds-failure";
    let server = start_control_plane(Spec::default().mesh()?).await?;
    let addr = server.local_addr();
    let telemetry = Telemetry::builder().build()?;
    let target = "xds:///greeter-failure";
    let client = XdsClient::with_metrics(
        &bootstrap_for(addr, node),
        fast_reconnect(BACKOFF_BASE),
        XdsClientMetrics::new(telemetry.mesh(), target),
    )?;
    let _greeter = subscribe_greeter(&client).await?;
    let failure = "grpc_xds_client_server_failure_total";
    let labels = [format!("grpc_xds_server=\"{addr}\"")];
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    let text = telemetry.prometheus_text();
    ensure!(
        sample(&text, failure, &labels).is_none(),
        "no failure while the server answers:\n{text}"
    );
    drop(server);
    let mut changes = client.watch_connection();
    tokio::time::timeout(
        WAIT,
        changes.wait_for(|s| !s.working && s.streams_ended >= 3),
    )
    .await
    .context("the client did not retry the vanished server three times")??;
    wait_for_text(&telemetry, WAIT, "one server failure", |t| {
        sample(t, failure, &labels) == Some(1.0)
    })
    .await?;
    Ok(())
}
