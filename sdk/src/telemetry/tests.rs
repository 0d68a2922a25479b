//! Layer tests over in-memory services: status, sizes and durations (paused time); span links
//! are tested in `spans/tests.rs`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::{Body, Frame};
use tower::{Layer, ServiceBuilder, ServiceExt, service_fn};

use super::*;

/// A body made of queued frames.
pub(super) struct Frames(VecDeque<Frame<Bytes>>);

impl Body for Frames {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(Ok))
    }
    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }
}

fn grpc_frame(len: usize) -> Frame<Bytes> {
    let mut v = vec![0u8];
    v.extend_from_slice(&(len as u32).to_be_bytes());
    v.extend(std::iter::repeat_n(7u8, len));
    Frame::data(Bytes::from(v))
}

fn trailers(code: &'static str) -> Frame<Bytes> {
    let mut t = HeaderMap::new();
    t.insert("grpc-status", HeaderValue::from_static(code));
    Frame::trailers(t)
}

pub(super) fn request(path: &str, body_len: usize) -> Request<Frames> {
    let mut req = Request::new(Frames(VecDeque::from([grpc_frame(body_len)])));
    *req.uri_mut() = format!("http://test{path}").parse().unwrap_or_default();
    req
}

pub(super) async fn drain<B: Body>(body: B) -> Option<HeaderMap> {
    let mut body = Box::pin(body);
    let mut trailers = None;
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        if let Ok(f) = frame
            && let Ok(t) = f.into_trailers()
        {
            trailers = Some(t);
        }
    }
    trailers
}

/// Reads the body (so request sizes are counted), waits `delay`, answers a `reply`-byte message
/// and `code` in the trailers.
pub(super) async fn handler(
    req: Request<tonic::body::Body>,
    delay: Duration,
    reply: usize,
    code: &'static str,
) -> Result<Response<Frames>, Infallible> {
    drain(req.into_body()).await;
    tokio::time::sleep(delay).await;
    Ok(Response::new(Frames(VecDeque::from([
        grpc_frame(reply),
        trailers(code),
    ]))))
}

/// Sends `req` through `svc` (which cannot fail) and reads the response body to its end;
/// returns the trailers.
async fn call_to_end<S, B>(svc: S, req: Request<Frames>) -> Option<HeaderMap>
where
    S: tower::Service<Request<Frames>, Response = Response<B>, Error = Infallible>,
    B: Body,
{
    let Ok(response) = svc.oneshot(req).await;
    drain(response.into_body()).await
}

fn telemetry() -> Telemetry {
    Telemetry::builder()
        .methods(MethodRegistry::none().service("pkg.Svc"))
        .build()
        .unwrap_or_default()
}

/// The value of the sample `name{...}` whose labels contain every `label`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(start_paused = true)]
async fn attempt_records_sizes_status_and_duration() {
    let t = telemetry();
    let svc = ServiceBuilder::new()
        .layer(AttemptMetricsLayer::new(&t, "dns:///svc:1"))
        .service(service_fn(|r| {
            handler(r, Duration::from_millis(30), 7, "0")
        }));
    let trailers = call_to_end(svc, request("/pkg.Svc/Do", 10)).await;
    assert!(trailers.is_some(), "trailers reach the caller unchanged");

    let text = t.prometheus_text();
    let ok = [
        "grpc_method=\"pkg.Svc/Do\"",
        "grpc_status=\"OK\"",
        "grpc_target=\"dns:///svc:1\"",
    ];
    let started = "grpc_client_attempt_started_total";
    assert_eq!(sample(&text, started, &ok[..1]), Some(1.0), "{text}");
    let sent = "grpc_client_attempt_sent_total_compressed_message_size_bytes_sum";
    let rcvd = "grpc_client_attempt_rcvd_total_compressed_message_size_bytes_sum";
    assert_eq!(sample(&text, sent, &ok), Some(10.0), "{text}");
    assert_eq!(sample(&text, rcvd, &ok), Some(7.0), "{text}");
    let duration = "grpc_client_attempt_duration_seconds_sum";
    assert_eq!(sample(&text, duration, &ok), Some(0.03), "{text}");
}

#[tokio::test(start_paused = true)]
async fn unlisted_method_is_other_and_error_status_is_named() {
    let t = telemetry();
    let svc = ServiceBuilder::new()
        .layer(CallMetricsLayer::new(&t, "dns:///svc:1"))
        .service(service_fn(|r: Request<Frames>| async move {
            drain(r.into_body()).await;
            Ok::<_, Infallible>(Response::new(Frames(VecDeque::from([trailers("14")]))))
        }));
    call_to_end(svc, request("/evil.Scan/Probe", 1)).await;
    let text = t.prometheus_text();
    let labels = ["grpc_method=\"other\"", "grpc_status=\"UNAVAILABLE\""];
    let count = "grpc_client_call_duration_seconds_count";
    assert_eq!(sample(&text, count, &labels), Some(1.0), "{text}");
}

#[tokio::test(start_paused = true)]
async fn dropped_body_is_cancelled_and_trailers_only_keeps_its_status() {
    let t = telemetry();
    let layer = AttemptMetricsLayer::new(&t, "dns:///svc:1");
    // The caller drops the body before its end.
    let svc = layer.layer(service_fn(|r| handler(r, Duration::ZERO, 3, "0")));
    drop(svc.oneshot(request("/pkg.Svc/A", 1)).await);
    // A trailers-only response: status in the headers, empty body never polled.
    let svc = layer.layer(service_fn(|_r: Request<tonic::body::Body>| async {
        let mut response = Response::new(Frames(VecDeque::new()));
        response
            .headers_mut()
            .insert("grpc-status", HeaderValue::from_static("5"));
        Ok::<_, Infallible>(response)
    }));
    drop(svc.oneshot(request("/pkg.Svc/B", 1)).await);
    // The transport fails.
    let svc = layer.layer(service_fn(|_r: Request<tonic::body::Body>| async {
        Err::<Response<Frames>, _>(std::io::Error::other("connection refused"))
    }));
    assert!(svc.oneshot(request("/pkg.Svc/C", 1)).await.is_err());

    let text = t.prometheus_text();
    let count = "grpc_client_attempt_duration_seconds_count";
    let of = |m: &str, s: &str| {
        sample(
            &text,
            count,
            &[
                &format!("grpc_method=\"pkg.Svc/{m}\""),
                &format!("grpc_status=\"{s}\""),
            ],
        )
    };
    assert_eq!(of("A", "CANCELLED"), Some(1.0), "{text}");
    assert_eq!(of("B", "NOT_FOUND"), Some(1.0), "{text}");
    assert_eq!(of("C", "UNAVAILABLE"), Some(1.0), "{text}");
}

#[tokio::test]
async fn disabled_telemetry_only_forwards() {
    let t = Telemetry::disabled();
    let svc = ServiceBuilder::new()
        .layer(CallMetricsLayer::new(&t, "dns:///svc:1"))
        .layer(AttemptMetricsLayer::new(&t, "dns:///svc:1"))
        .service(service_fn(|r| handler(r, Duration::ZERO, 4, "0")));
    let trailers = call_to_end(svc, request("/pkg.Svc/Do", 2)).await;
    let status = trailers.as_ref().and_then(status::from_headers);
    assert_eq!(status, Some(tonic::Code::Ok));
    assert_eq!(t.prometheus_text(), "");
}

#[test]
fn otlp_outside_a_runtime_is_an_error_not_a_panic() {
    let built = Telemetry::builder()
        .otlp_endpoint("http://127.0.0.1:4317")
        .build();
    assert!(matches!(built, Err(TelemetryError::NoRuntime)), "{built:?}");
}

#[tokio::test]
async fn a_bad_otlp_endpoint_says_which_and_why() {
    let built = Telemetry::builder()
        .otlp_metrics_endpoint("not a url")
        .build();
    let Err(err) = built else {
        panic!("`not a url` must be refused");
    };
    let text = err.to_string();
    assert!(
        text.contains("`not a url`") && text.contains("metrics"),
        "{text}"
    );
}

#[test]
fn mesh_metrics_reach_the_prometheus_text() {
    let t = telemetry();
    let mesh = t.mesh();
    mesh.xds_connected("xds:///greeter", "xds.example:443", true);
    mesh.xds_resource_updates(
        "xds:///greeter",
        "xds.example:443",
        "envoy.config.listener.v3.Listener",
        2,
        1,
    );
    mesh.breaker_overflow("xds:///greeter", "greeter-v1");
    mesh.fault_injected("xds:///greeter", "greeter-v1", FaultKind::Abort);
    mesh.outlier_ejection("xds:///greeter", "greeter-v1");
    mesh.retry_budget_exhausted("xds:///greeter", "greeter-v1");
    let text = t.prometheus_text();
    let cluster = "meshwork_cluster=\"greeter-v1\"";
    assert_eq!(
        sample(
            &text,
            "grpc_xds_client_connected",
            &["grpc_xds_server=\"xds.example:443\""]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "grpc_xds_client_resource_updates_valid_total", &[]),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "grpc_xds_client_resource_updates_invalid_total", &[]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "meshwork_breaker_overflows_total", &[cluster]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "meshwork_fault_injected_total",
            &[cluster, "meshwork_fault_kind=\"abort\""]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "meshwork_outlier_ejections_total", &[cluster]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "meshwork_retry_budget_exhausted_total", &[cluster]),
        Some(1.0),
        "{text}"
    );
    // Disabled mesh metrics take the same calls and record nothing.
    Telemetry::disabled().mesh().breaker_overflow("t", "c");
}

#[tokio::test(start_paused = true)]
async fn call_and_attempt_layers_of_a_target_share_entries_and_the_start() {
    let t = telemetry();
    let target = "dns:///svc:1";
    let state = |target| handoff::client_state(&t, target).expect("telemetry is on");
    let (a, b) = (state(target), state(target));
    assert!(Arc::ptr_eq(&a, &b), "one state per target");
    assert!(!Arc::ptr_eq(&a, &state("dns:///other:1")));
    assert!(handoff::client_state(&Telemetry::disabled(), target).is_none());

    // A call-only stack exports no attempt series.
    let call_only = ServiceBuilder::new()
        .layer(CallMetricsLayer::new(&t, "dns:///call-only:1"))
        .service(service_fn(|r: Request<Frames>| {
            handler(r.map(tonic::body::Body::new), Duration::ZERO, 1, "0")
        }));
    call_to_end(call_only, request("/pkg.Svc/Do", 1)).await;
    let text = t.prometheus_text();
    let started_lines = text
        .lines()
        .filter(|l| l.starts_with("grpc_client_attempt_started_total{"))
        .count();
    assert_eq!(started_lines, 0, "{text}");

    let svc = ServiceBuilder::new()
        .layer(CallMetricsLayer::new(&t, target))
        .layer(AttemptMetricsLayer::new(&t, target))
        .service(service_fn(|r| {
            handler(r, Duration::from_millis(30), 7, "0")
        }));
    call_to_end(svc, request("/pkg.Svc/Do", 10)).await;
    let text = t.prometheus_text();
    let ok = [
        "grpc_method=\"pkg.Svc/Do\"",
        "grpc_status=\"OK\"",
        "grpc_target=\"dns:///svc:1\"",
    ];
    let call = sample(&text, "grpc_client_call_duration_seconds_sum", &ok);
    let attempt = sample(&text, "grpc_client_attempt_duration_seconds_sum", &ok);
    assert_eq!(call, Some(0.03), "{text}");
    assert_eq!(attempt, call, "the attempt started when its call did");
    let started = "grpc_client_attempt_started_total";
    assert_eq!(sample(&text, started, &ok[..1]), Some(1.0), "{text}");
}

#[tokio::test(start_paused = true)]
async fn one_layer_records_the_call_and_its_one_attempt() {
    let t = telemetry();
    let svc = AttemptMetricsLayer::with_call(&t, "dns:///one:1").layer(service_fn(|r| {
        handler(r, Duration::from_millis(30), 7, "5")
    }));
    call_to_end(svc, request("/pkg.Svc/Do", 10)).await;
    let text = t.prometheus_text();
    let labels = [
        "grpc_method=\"pkg.Svc/Do\"",
        "grpc_status=\"NOT_FOUND\"",
        "grpc_target=\"dns:///one:1\"",
    ];
    let call = sample(&text, "grpc_client_call_duration_seconds_sum", &labels);
    assert_eq!(call, Some(0.03), "{text}");
    let attempt = sample(&text, "grpc_client_attempt_duration_seconds_sum", &labels);
    assert_eq!(attempt, call, "{text}");
    let calls = sample(&text, "grpc_client_call_duration_seconds_count", &labels);
    assert_eq!(calls, Some(1.0), "{text}");
    let sent = "grpc_client_attempt_sent_total_compressed_message_size_bytes_sum";
    assert_eq!(sample(&text, sent, &labels), Some(10.0), "{text}");
    let started = "grpc_client_attempt_started_total";
    assert_eq!(sample(&text, started, &labels[..1]), Some(1.0), "{text}");
}
