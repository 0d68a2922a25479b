//! Span tests over in-memory services with the telemetry's tracing layer installed: names,
//! attributes, status, and parent links between application, call, attempt, server and handler
//! spans.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::Request;
use opentelemetry::Value;
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tower::{Layer, ServiceBuilder, ServiceExt, service_fn};
use tracing::Instrument as _;
use tracing_subscriber::layer::SubscriberExt as _;

use crate::telemetry::names::*;
use crate::telemetry::tests::{drain, handler, request};
use crate::telemetry::{
    AttemptMetricsLayer, CallMetricsLayer, OtelContext, ServerMetricsLayer, Telemetry,
};

/// Telemetry exporting spans to a fresh in-memory exporter.
fn traced() -> (Telemetry, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let t = Telemetry::builder()
        .tracer_provider(provider)
        .build()
        .unwrap_or_default();
    (t, exporter)
}

/// Runs one `path` call through call → attempt → in-memory server answering `code`; the
/// handler opens a span of its own. Returns whether the server saw a `traceparent`, and whether
/// the handler found an [`OtelContext`].
async fn one_call(t: &Telemetry, path: &str, code: &'static str) -> (bool, bool) {
    one_call_through(t, path, code, false).await
}

/// [`one_call`] through the client's two layers, or (`single`) through one
/// `AttemptMetricsLayer::with_call`.
async fn one_call_through(
    t: &Telemetry,
    path: &str,
    code: &'static str,
    single: bool,
) -> (bool, bool) {
    let seen = AtomicBool::new(false);
    let has_context = AtomicBool::new(false);
    let server = ServerMetricsLayer::new(t).layer(service_fn(|r: Request<tonic::body::Body>| {
        let cx = r.extensions().get::<OtelContext>().is_some();
        has_context.store(cx, Ordering::Relaxed);
        let inner = tracing::info_span!("app.handler_work");
        handler(r, Duration::ZERO, 1, code).instrument(inner)
    }));
    let transport = service_fn(|r: Request<tonic::body::Body>| {
        let server = server.clone();
        seen.store(r.headers().contains_key("traceparent"), Ordering::Relaxed);
        async move { server.oneshot(r).await }
    });
    let target = "dns:///svc:1";
    if single {
        let client = AttemptMetricsLayer::with_call(t, target).layer(transport);
        let Ok(response) = client.oneshot(request(path, 2)).await;
        drain(response.into_body()).await;
    } else {
        let client = ServiceBuilder::new()
            .layer(CallMetricsLayer::new(t, target))
            .layer(AttemptMetricsLayer::new(t, target))
            .service(transport);
        let Ok(response) = client.oneshot(request(path, 2)).await;
        drain(response.into_body()).await;
    }
    (
        seen.load(Ordering::Relaxed),
        has_context.load(Ordering::Relaxed),
    )
}

fn find<'a>(spans: &'a [SpanData], name: &str, kind: SpanKind) -> &'a SpanData {
    match spans.iter().find(|s| s.name == name && s.span_kind == kind) {
        Some(s) => s,
        None => panic!("no {kind:?} span `{name}` in {spans:?}"),
    }
}

fn attr(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

#[tokio::test]
async fn app_call_attempt_server_and_handler_spans_form_one_trace() {
    one_trace(false).await;
}

#[tokio::test]
async fn one_layer_doing_call_and_attempt_makes_the_same_trace() {
    one_trace(true).await;
}

/// Checks the spans of one call through the two client layers, or one `with_call` layer.
async fn one_trace(single: bool) {
    let (t, exporter) = traced();
    let subscriber = tracing_subscriber::registry().with(t.tracing_layer());
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = tracing::info_span!("app.checkout");
    let (propagated, has_context) = one_call_through(&t, "/pkg.Svc/Do", "0", single)
        .instrument(app)
        .await;
    assert!(propagated, "the attempt injects traceparent");
    assert!(has_context, "handlers see the server span's OTel context");

    let spans = exporter.get_finished_spans().unwrap_or_default();
    let app = find(&spans, "app.checkout", SpanKind::Internal);
    let call = find(&spans, "pkg.Svc/Do", SpanKind::Client);
    let attempt = find(&spans, "Attempt.pkg.Svc.Do", SpanKind::Client);
    let server = find(&spans, "pkg.Svc/Do", SpanKind::Server);
    let work = find(&spans, "app.handler_work", SpanKind::Internal);

    assert_eq!(call.parent_span_id, app.span_context.span_id());
    assert_eq!(attempt.parent_span_id, call.span_context.span_id());
    assert_eq!(server.parent_span_id, attempt.span_context.span_id());
    assert_eq!(work.parent_span_id, server.span_context.span_id());
    for s in [call, attempt, server, work] {
        assert_eq!(s.span_context.trace_id(), app.span_context.trace_id());
    }

    assert_eq!(call.status, Status::Ok);
    assert_eq!(server.status, Status::Ok);
    assert_eq!(attr(call, SPAN_RPC_SYSTEM), Some("grpc".into()));
    assert_eq!(attr(call, SPAN_RPC_METHOD), Some("pkg.Svc/Do".into()));
    assert_eq!(attr(server, SPAN_RPC_STATUS), Some("OK".into()));
    assert_eq!(attr(attempt, SPAN_PREVIOUS_ATTEMPTS), Some(Value::I64(0)));
    assert_eq!(
        attr(attempt, SPAN_TRANSPARENT_RETRY),
        Some(Value::Bool(false))
    );
}

#[tokio::test]
async fn a_failed_call_has_error_status_with_the_code_name() {
    let (t, exporter) = traced();
    let subscriber = tracing_subscriber::registry().with(t.tracing_layer());
    let _guard = tracing::subscriber::set_default(subscriber);

    one_call(&t, "/pkg.Svc/Do", "5").await;

    let spans = exporter.get_finished_spans().unwrap_or_default();
    let call = find(&spans, "pkg.Svc/Do", SpanKind::Client);
    assert_eq!(call.status, Status::error("NOT_FOUND"));
    assert_eq!(attr(call, SPAN_RPC_STATUS), Some("NOT_FOUND".into()));
    let attempt = find(&spans, "Attempt.pkg.Svc.Do", SpanKind::Client);
    assert_eq!(attempt.status, Status::error("NOT_FOUND"));
    let server = find(&spans, "pkg.Svc/Do", SpanKind::Server);
    assert_eq!(server.status, Status::error("NOT_FOUND"));
}

#[tokio::test]
async fn without_the_layer_or_without_spans_nothing_is_recorded_or_propagated() {
    let (t, exporter) = traced();
    // No subscriber on this thread: the spans are disabled callsites.
    assert_eq!(one_call(&t, "/pkg.Svc/Do", "0").await, (false, false));
    assert!(exporter.get_finished_spans().unwrap_or_default().is_empty());

    // Spans off (metrics only): no layer to install, no span made.
    let metrics_only = Telemetry::builder().build().unwrap_or_default();
    assert!(
        metrics_only
            .tracing_layer::<tracing_subscriber::Registry>()
            .is_none()
    );
    assert!(
        Telemetry::disabled()
            .tracing_layer::<tracing_subscriber::Registry>()
            .is_none()
    );
    assert_eq!(
        one_call(&metrics_only, "/pkg.Svc/Do", "0").await,
        (false, false)
    );
}

/// The layer exports INFO spans (Meshwork's and the application's) but not the DEBUG/TRACE
/// spans transport libraries open per request.
#[test]
fn the_layer_skips_debug_and_trace_spans() {
    let (t, exporter) = traced();
    let subscriber = tracing_subscriber::registry().with(t.tracing_layer());
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("app.work").in_scope(|| {
            tracing::debug_span!(target: "h2::proto", "poll_ready").in_scope(|| {});
            tracing::trace_span!(target: "hyper::proto", "encode").in_scope(|| {});
        });
    });
    let names: Vec<String> = exporter
        .get_finished_spans()
        .unwrap_or_default()
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(names, ["app.work"]);
}
