//! End to end over loopback: a tonic greeter server wrapped in `ServerMetricsLayer`, a tonic
//! client Channel wrapped in `CallMetricsLayer` + `AttemptMetricsLayer`, and an in-process OTLP
//! receiver (opentelemetry-proto's tonic MetricsService + TraceService). Checks every gRFC A66
//! instrument as exported (name, unit, attributes, buckets), the span links crossing client →
//! server through `traceparent` (with the telemetry's tracing layer as this binary's global
//! subscriber; the application's spans around a call and inside a handler nest with the RPC
//! spans), and the Prometheus text (own parser, and `promtool check
//! metrics` when installed: Debian package `prometheus`).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use meshwork::telemetry::names::*;
use meshwork::telemetry::{
    AttemptMetricsLayer, CallMetricsLayer, MethodRegistry, ServerMetricsLayer, Telemetry,
};
use meshwork_proto::helloworld::greeter_client::GreeterClient;
use meshwork_proto::helloworld::greeter_server::{Greeter, GreeterServer};
use meshwork_proto::helloworld::{HelloReply, HelloRequest};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric};
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Endpoint, Server};
use tonic::{Request, Response, Status};
use tracing::Instrument as _;
use tracing_subscriber::layer::SubscriberExt as _;

/// Everything the in-process collector received.
#[derive(Clone, Default)]
struct Sink {
    metrics: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
    spans: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
}

#[tonic::async_trait]
impl MetricsService for Sink {
    async fn export(
        &self,
        req: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        if let Ok(mut m) = self.metrics.lock() {
            m.push(req.into_inner());
        }
        Ok(Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        req: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        if let Ok(mut s) = self.spans.lock() {
            s.push(req.into_inner());
        }
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// Greets everyone except `nobody` (NOT_FOUND).
struct Greet;

#[tonic::async_trait]
impl Greeter for Greet {
    async fn say_hello(&self, req: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        let name = req.into_inner().name;
        // An application span inside the handler: a child of the server span.
        let _lookup = tracing::info_span!("greet.lookup").entered();
        if name == "nobody" {
            return Err(Status::not_found("nobody is not here"));
        }
        Ok(Response::new(HelloReply {
            message: format!("hello {name}"),
            backend: "e2e".into(),
        }))
    }

    type SayHelloStreamStream = tokio_stream::Empty<Result<HelloReply, Status>>;

    async fn say_hello_stream(
        &self,
        _req: Request<HelloRequest>,
    ) -> Result<Response<Self::SayHelloStreamStream>, Status> {
        Err(Status::unimplemented("not used here"))
    }
}

async fn listen() -> anyhow::Result<(std::net::SocketAddr, TcpListenerStream)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    Ok((listener.local_addr()?, TcpListenerStream::new(listener)))
}

fn attr_keys(attrs: &[KeyValue]) -> BTreeSet<String> {
    attrs.iter().map(|kv| kv.key.clone()).collect()
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .and_then(|v| match v {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
}

fn keys(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a66_metrics_and_cross_process_spans_reach_an_otlp_collector() -> anyhow::Result<()> {
    let sink = Sink::default();
    let (otlp_addr, otlp_incoming) = listen().await?;
    let collector = tokio::spawn(
        Server::builder()
            .add_service(MetricsServiceServer::new(sink.clone()))
            .add_service(TraceServiceServer::new(sink.clone()))
            .serve_with_incoming(otlp_incoming),
    );

    let telemetry = Telemetry::builder()
        .service_name("telemetry-e2e")
        .otlp_endpoint(format!("http://{otlp_addr}"))
        .export_interval(Duration::from_secs(3600))
        .methods(MethodRegistry::none().service("helloworld.Greeter"))
        .build()?;
    // The tests of this binary run on worker threads: the subscriber must be global (set once).
    let subscriber = tracing_subscriber::registry().with(telemetry.tracing_layer());
    tracing::subscriber::set_global_default(subscriber)?;

    let (addr, incoming) = listen().await?;
    let server = tokio::spawn(
        Server::builder()
            .layer(ServerMetricsLayer::new(&telemetry))
            .add_service(GreeterServer::new(Greet))
            .serve_with_incoming(incoming),
    );

    let target = format!("dns:///{addr}");
    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let channel = tower::ServiceBuilder::new()
        .layer(CallMetricsLayer::new(&telemetry, target.clone()))
        .layer(AttemptMetricsLayer::new(&telemetry, target.clone()))
        .service(channel);
    let mut client = GreeterClient::new(channel);
    for _ in 0..3 {
        // An application span around the call: the parent of the call span.
        let checkout = tracing::info_span!("client.checkout");
        let reply = client
            .say_hello(HelloRequest {
                name: "world".into(),
            })
            .instrument(checkout)
            .await?;
        ensure!(reply.into_inner().message == "hello world");
    }
    let err = client
        .say_hello(HelloRequest {
            name: "nobody".into(),
        })
        .await
        .err()
        .context("`nobody` must fail")?;
    ensure!(err.code() == tonic::Code::NotFound, "got {err:?}");

    // The server records a trailers-only answer when hyper drops its body, which may be just
    // after the client saw it: wait for all four server calls, with a bound.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while server_calls(&telemetry.prometheus_text()) < 4 {
        ensure!(
            tokio::time::Instant::now() < deadline,
            "server never recorded 4 calls"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let flushing = telemetry.clone();
    tokio::task::spawn_blocking(move || flushing.force_flush()).await??;

    check_metrics(&sink, &target)?;
    check_spans(&sink)?;
    check_prometheus_text(&telemetry.prometheus_text())?;

    server.abort();
    collector.abort();
    Ok(())
}

/// `grpc_server_call_duration_seconds_count` summed over statuses.
fn server_calls(text: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with("grpc_server_call_duration_seconds_count{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// The last exported version of every metric (cumulative temporality: the last one is whole).
fn latest_metrics(sink: &Sink) -> anyhow::Result<HashMap<String, Metric>> {
    let exports = sink
        .metrics
        .lock()
        .map_err(|_| anyhow::anyhow!("sink poisoned"))?;
    let mut out = HashMap::new();
    for export in exports.iter() {
        for rm in &export.resource_metrics {
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    out.insert(m.name.clone(), m.clone());
                }
            }
        }
    }
    Ok(out)
}

fn check_metrics(sink: &Sink, target: &str) -> anyhow::Result<()> {
    let metrics = latest_metrics(sink)?;
    let method = "helloworld.Greeter/SayHello";
    let mut sent_ok = None;
    let mut rcvd_ok = None;
    let expect: [(&str, &str, &[&str]); 9] = [
        (
            CLIENT_ATTEMPT_STARTED,
            "{attempt}",
            &[ATTR_METHOD, ATTR_TARGET],
        ),
        (
            CLIENT_ATTEMPT_DURATION,
            "s",
            &[ATTR_METHOD, ATTR_TARGET, ATTR_STATUS],
        ),
        (
            CLIENT_ATTEMPT_SENT_SIZE,
            "By",
            &[ATTR_METHOD, ATTR_TARGET, ATTR_STATUS],
        ),
        (
            CLIENT_ATTEMPT_RCVD_SIZE,
            "By",
            &[ATTR_METHOD, ATTR_TARGET, ATTR_STATUS],
        ),
        (
            CLIENT_CALL_DURATION,
            "s",
            &[ATTR_METHOD, ATTR_TARGET, ATTR_STATUS],
        ),
        (SERVER_CALL_STARTED, "{call}", &[ATTR_METHOD]),
        (SERVER_CALL_DURATION, "s", &[ATTR_METHOD, ATTR_STATUS]),
        (SERVER_CALL_SENT_SIZE, "By", &[ATTR_METHOD, ATTR_STATUS]),
        (SERVER_CALL_RCVD_SIZE, "By", &[ATTR_METHOD, ATTR_STATUS]),
    ];
    for (name, unit, attrs) in expect {
        let m = metrics
            .get(name)
            .with_context(|| format!("{name} not exported; got {:?}", metrics.keys()))?;
        ensure!(
            m.unit == unit,
            "{name}: unit {:?}, expected {unit:?}",
            m.unit
        );
        match &m.data {
            Some(metric::Data::Sum(sum)) => {
                ensure!(sum.is_monotonic, "{name} must be a counter");
                let total: u64 = sum
                    .data_points
                    .iter()
                    .map(|p| match p.value {
                        Some(
                            opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(
                                v,
                            ),
                        ) => v as u64,
                        _ => 0,
                    })
                    .sum();
                ensure!(total == 4, "{name}: {total} calls counted, expected 4");
                for p in &sum.data_points {
                    ensure!(
                        attr_keys(&p.attributes) == keys(attrs),
                        "{name}: {:?}",
                        p.attributes
                    );
                    ensure!(attr(&p.attributes, ATTR_METHOD) == Some(method));
                    if attrs.contains(&ATTR_TARGET) {
                        ensure!(attr(&p.attributes, ATTR_TARGET) == Some(target));
                    }
                }
            }
            Some(metric::Data::Histogram(h)) => {
                let bounds: &[f64] = if unit == "s" {
                    &LATENCY_BUCKETS
                } else {
                    &SIZE_BUCKETS
                };
                let mut statuses = BTreeSet::new();
                for p in &h.data_points {
                    ensure!(
                        p.explicit_bounds == bounds,
                        "{name}: bounds {:?}",
                        p.explicit_bounds
                    );
                    ensure!(
                        attr_keys(&p.attributes) == keys(attrs),
                        "{name}: {:?}",
                        p.attributes
                    );
                    ensure!(attr(&p.attributes, ATTR_METHOD) == Some(method));
                    let status = attr(&p.attributes, ATTR_STATUS).unwrap_or_default();
                    statuses.insert(status.to_owned());
                    let want = if status == "OK" { 3 } else { 1 };
                    ensure!(p.count == want, "{name} {status}: count {}", p.count);
                    if status == "OK" && name == CLIENT_ATTEMPT_SENT_SIZE {
                        sent_ok = p.sum;
                    }
                    if status == "OK" && name == SERVER_CALL_RCVD_SIZE {
                        rcvd_ok = p.sum;
                    }
                }
                ensure!(
                    statuses == keys(&["NOT_FOUND", "OK"]),
                    "{name}: statuses {statuses:?}"
                );
            }
            other => bail!("{name}: unexpected data {other:?}"),
        }
    }
    // Three `HelloRequest { name: "world" }` of 7 bytes each, counted alike on both sides.
    ensure!(
        sent_ok == Some(21.0),
        "client sent {sent_ok:?} bytes, expected 21"
    );
    ensure!(
        rcvd_ok == sent_ok,
        "server received {rcvd_ok:?}, client sent {sent_ok:?}"
    );
    Ok(())
}

fn check_spans(sink: &Sink) -> anyhow::Result<()> {
    let exports = sink
        .spans
        .lock()
        .map_err(|_| anyhow::anyhow!("sink poisoned"))?;
    let spans: Vec<&Span> = exports
        .iter()
        .flat_map(|e| &e.resource_spans)
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .collect();
    let servers: Vec<&&Span> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Server as i32)
        .collect();
    ensure!(
        servers.len() == 4,
        "expected 4 server spans, got {}",
        servers.len()
    );
    for server in servers {
        let attempt = spans
            .iter()
            .find(|s| s.span_id == server.parent_span_id)
            .context("a server span's parent is not a span the client exported")?;
        ensure!(
            attempt.name == "Attempt.helloworld.Greeter.SayHello",
            "{}",
            attempt.name
        );
        ensure!(
            attempt.trace_id == server.trace_id,
            "client and server in different traces"
        );
        let call = spans
            .iter()
            .find(|s| s.span_id == attempt.parent_span_id)
            .context("an attempt span has no call span parent")?;
        ensure!(call.name == "helloworld.Greeter/SayHello" && call.kind == SpanKind::Client as i32);
        ensure!(call.trace_id == server.trace_id);
        ensure!(
            spans
                .iter()
                .any(|s| s.name == "greet.lookup" && s.parent_span_id == server.span_id),
            "the handler's span is not a child of the server span"
        );
    }
    let checkouts: Vec<&&Span> = spans
        .iter()
        .filter(|s| s.name == "client.checkout")
        .collect();
    ensure!(checkouts.len() == 3, "expected 3 application spans");
    for checkout in checkouts {
        ensure!(
            spans.iter().any(|s| s.name == "helloworld.Greeter/SayHello"
                && s.kind == SpanKind::Client as i32
                && s.parent_span_id == checkout.span_id
                && s.trace_id == checkout.trace_id),
            "an application span around a call is not the call span's parent"
        );
    }
    Ok(())
}

/// Parses the exposition: every sample belongs to a family declared by a preceding `# TYPE`,
/// names and label names are valid, values are numbers. Then `promtool check metrics` if found.
fn check_prometheus_text(text: &str) -> anyhow::Result<()> {
    let valid = |n: &str| {
        !n.is_empty()
            && !n.starts_with(|c: char| c.is_ascii_digit())
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let mut families: HashMap<String, String> = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').context("TYPE line without a type")?;
            ensure!(valid(name), "bad family name {name}");
            ensure!(
                families.insert(name.into(), kind.into()).is_none(),
                "{name} typed twice"
            );
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').context("sample without a value")?;
        ensure!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "bad value in {line}"
        );
        let name = series.split('{').next().unwrap_or_default();
        ensure!(valid(name), "bad metric name in {line}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| families.get(*f).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        ensure!(
            families.contains_key(family),
            "{name} has no TYPE line before it"
        );
        if let Some(labels) = series.strip_prefix(name).filter(|l| !l.is_empty()) {
            let inner = labels
                .strip_prefix('{')
                .and_then(|l| l.strip_suffix('}'))
                .context("unbalanced braces")?;
            for pair in inner.split("\",").filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once("=\"").context("label without =\"")?;
                ensure!(valid(k) && !k.starts_with("__"), "bad label name {k}");
                ensure!(!v.contains('\n'), "raw newline in label value");
            }
        }
    }
    for name in [
        "grpc_client_attempt_started_total",
        "grpc_client_attempt_duration_seconds",
        "grpc_client_attempt_sent_total_compressed_message_size_bytes",
        "grpc_client_attempt_rcvd_total_compressed_message_size_bytes",
        "grpc_client_call_duration_seconds",
        "grpc_server_call_started_total",
        "grpc_server_call_duration_seconds",
        "grpc_server_call_sent_total_compressed_message_size_bytes",
        "grpc_server_call_rcvd_total_compressed_message_size_bytes",
    ] {
        ensure!(families.contains_key(name), "{name} missing from:\n{text}");
    }
    meshwork_tests::promtool::check_metrics(text)
}
