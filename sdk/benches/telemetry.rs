//! Cost of telemetry per RPC: the client call + attempt layers and the server layer around an
//! in-memory tower service that answers a canned gRPC response (one 64-byte message + OK
//! trailers), with telemetry on (A66 metrics into a Prometheus reader), on with spans (SDK
//! tracer, no exporter), and off (`Telemetry::disabled()`), interleaved in the same run.
//!
//! Run: `cargo bench -p meshwork --bench telemetry` (release). Prints ns per RPC (best of several
//! rounds; one thread, busy loop, so wall time ≈ CPU time) and the on/off ratios. Goal
//! (performance-anchors.md G10): metrics cost ≤ 1 µs per RPC. Without `--bench` (e.g. under
//! `cargo test --all-targets`) a quick smoke run checks that the loop works.
//! `MESHWORK_BENCH_ARM=off|metrics|metrics+spans` runs a single arm, for profiling.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::{Body, Frame};
use meshwork::telemetry::{
    AttemptMetricsLayer, CallMetricsLayer, MethodRegistry, ServerMetricsLayer, Telemetry,
};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

fn full_run() -> bool {
    static FULL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FULL.get_or_init(|| std::env::args().any(|a| a == "--bench"))
}

fn rpcs() -> u32 {
    if full_run() { 200_000 } else { 500 }
}

fn rounds() -> usize {
    if full_run() { 7 } else { 1 }
}

/// A body of queued frames.
struct Frames(VecDeque<Frame<Bytes>>);

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

fn message() -> Bytes {
    let mut v = vec![0u8, 0, 0, 0, 64];
    v.extend([7u8; 64]);
    Bytes::from(v)
}

fn ok_trailers() -> HeaderMap {
    let mut t = HeaderMap::new();
    t.insert("grpc-status", HeaderValue::from_static("0"));
    t
}

async fn drain<B: Body>(body: B) {
    let mut body = std::pin::pin!(body);
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        black_box(frame.is_ok());
    }
}

/// The canned backend: reads the request, answers one message and OK trailers.
async fn backend(req: Request<tonic::body::Body>) -> Result<Response<Frames>, Infallible> {
    drain(req.into_body()).await;
    Ok(Response::new(Frames(VecDeque::from([
        Frame::data(message()),
        Frame::trailers(ok_trailers()),
    ]))))
}

fn request() -> Request<Frames> {
    let mut req = Request::new(Frames(VecDeque::from([Frame::data(message())])));
    *req.uri_mut() = http::Uri::from_static("http://bench/helloworld.Greeter/SayHello");
    req
}

/// ns per RPC through client (call + attempt) and server layers sharing `telemetry`.
async fn run(telemetry: &Telemetry, n: u32) -> f64 {
    let target = "dns:///bench:50051";
    let server = ServerMetricsLayer::new(telemetry).layer(service_fn(backend));
    let mut client = ServiceBuilder::new()
        .layer(CallMetricsLayer::new(telemetry, target))
        .layer(AttemptMetricsLayer::new(telemetry, target))
        .service(service_fn(move |r: Request<tonic::body::Body>| {
            let mut server = server.clone();
            async move { server.call(r).await }
        }));
    let start = Instant::now();
    for _ in 0..n {
        let svc = match ServiceExt::<Request<Frames>>::ready(&mut client).await {
            Ok(s) => s,
            Err(e) => match e {},
        };
        match svc.call(request()).await {
            Ok(response) => drain(response.into_body()).await,
            Err(e) => match e {},
        }
    }
    start.elapsed().as_nanos() as f64 / f64::from(n)
}

fn main() {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        eprintln!("could not build a Tokio runtime");
        return;
    };
    rt.block_on(async {
        let methods = MethodRegistry::none().service("helloworld.Greeter");
        let off = Telemetry::disabled();
        let metrics = Telemetry::builder().methods(methods.clone()).build();
        let traced = Telemetry::builder()
            .methods(methods)
            .tracer_provider(SdkTracerProvider::builder().build())
            .build();
        let (Ok(metrics), Ok(traced)) = (metrics, traced) else {
            eprintln!("could not build telemetry");
            return;
        };
        let arms = [
            ("off", &off),
            ("metrics", &metrics),
            ("metrics+spans", &traced),
        ];
        let mut best = [f64::MAX; 3];
        // `MESHWORK_BENCH_ARM=metrics` runs one arm only (e.g. under `perf record`).
        let only = std::env::var("MESHWORK_BENCH_ARM").ok();
        run(&off, rpcs() / 10 + 1).await; // warm-up
        for _ in 0..rounds() {
            for (i, (name, t)) in arms.iter().enumerate() {
                if only.as_deref().is_some_and(|only| only != *name) {
                    continue;
                }
                best[i] = best[i].min(run(t, rpcs()).await);
            }
        }
        for ((name, _), ns) in arms.iter().zip(best) {
            println!("telemetry {name:>14}: {ns:>8.0} ns/RPC (call + attempt + server layers)");
        }
        println!(
            "metrics on/off: ratio {:.3}, +{:.0} ns/RPC; with spans: ratio {:.3}, +{:.0} ns/RPC",
            best[1] / best[0],
            best[1] - best[0],
            best[2] / best[0],
            best[2] - best[0],
        );
        if !metrics
            .prometheus_text()
            .contains("grpc_server_call_started_total")
        {
            eprintln!("telemetry recorded nothing: the benchmark is broken");
            std::process::exit(1);
        }
    });
}
