//! Cost of telemetry per RPC, interleaved arms in one run.
//!
//! In memory: the client call + attempt layers, the server layer, and both together, around an
//! in-memory tower service that answers a canned gRPC response (one 64-byte message + OK
//! trailers), with telemetry on (A66 metrics into a Prometheus reader), on with spans (`tracing`
//! spans through the telemetry's tracing layer, the thread's subscriber, into an SDK tracer with
//! no exporter), and off (`Telemetry::disabled()`). One thread, busy loop, so wall time
//! ≈ CPU time; best of several rounds.
//!
//! Loopback (`telemetry/loopback.rs`): a tonic greeter over 127.0.0.1, metrics on vs off, CPU
//! per RPC and per side (server thread, client thread) from `getrusage`, ABBA blocks, median
//! per-block ratio; once with a plain tonic channel wrapped in the telemetry layers (the
//! strictest ratio: the cheapest client), once with a `MeshChannel` (Meshwork's whole client
//! stack, as applications use it), and once with the observation floor (`telemetry/floor.rs`:
//! the least a client layer must do to learn an attempt's values, recording nothing) — the
//! part of the cost no tower layer over tonic's transport can avoid.
//!
//! This crate builds tokio without `test-util` (the `meshwork` crate's dev-dependencies turn it
//! on, and its clock would be charged to telemetry), so run it with `-p meshwork-bench`.
//!
//! Run: `cargo bench -p meshwork-bench --bench telemetry` (release). Goal (performance-anchors.md
//! G10): metrics cost ≤ 1 µs per RPC and a CPU ratio on/off ≤ 1.05 for a real RPC. Without
//! `--bench` (e.g. under `cargo test --all-targets`) a quick smoke run checks that the loops
//! work. `MESHWORK_BENCH_ARM=off|metrics|metrics+spans` runs one in-memory arm (client +
//! server) only and skips the rest; `MESHWORK_BENCH_LOOPBACK=off|metrics|mesh-off|mesh-metrics`
//! runs one loopback arm only (100k RPCs with `--bench`, or `MESHWORK_BENCH_RPCS`), for
//! profiling (`scripts/telemetry-cost` runs them under callgrind). Do not compare two such
//! single-arm runs with each other on a shared machine: their gap drifts with the load (a server-only pair once
//! differed by 8 µs/RPC where the interleaved run says 2.6 µs); the ABBA run is the measurement.
//! Loopback controls: `MESHWORK_BENCH_SIDE=client|server` turns telemetry on for one side only
//! in the measured arm; `MESHWORK_BENCH_AA=1` runs it with telemetry off (A/A: the ratio should
//! be 1.00 ± 0.01, the bench's own bias).

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
use tracing_subscriber::layer::SubscriberExt as _;

#[path = "telemetry/floor.rs"]
mod floor;
#[path = "telemetry/loopback.rs"]
mod loopback;

fn full_run() -> bool {
    static FULL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FULL.get_or_init(|| std::env::args().any(|a| a == "--bench"))
}

fn rpcs() -> u32 {
    if full_run() { 100_000 } else { 500 }
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

/// Which layers an in-memory run goes through.
#[derive(Clone, Copy)]
enum Side {
    Client,
    Server,
    Both,
}

/// ns per RPC for `n` RPCs through `svc`.
async fn drive<S, RB>(svc: &mut S, n: u32) -> f64
where
    S: Service<Request<Frames>, Response = Response<RB>, Error = Infallible>,
    RB: Body,
{
    let start = Instant::now();
    for _ in 0..n {
        let ready = match ServiceExt::<Request<Frames>>::ready(&mut *svc).await {
            Ok(s) => s,
            Err(e) => match e {},
        };
        match ready.call(request()).await {
            Ok(response) => drain(response.into_body()).await,
            Err(e) => match e {},
        }
    }
    start.elapsed().as_nanos() as f64 / f64::from(n)
}

/// The client's call + attempt layers.
fn client_layers(
    telemetry: &Telemetry,
    target: &str,
) -> ServiceBuilder<
    tower::layer::util::Stack<
        AttemptMetricsLayer,
        tower::layer::util::Stack<CallMetricsLayer, tower::layer::util::Identity>,
    >,
> {
    ServiceBuilder::new()
        .layer(CallMetricsLayer::new(telemetry, target))
        .layer(AttemptMetricsLayer::new(telemetry, target))
}

/// ns per RPC through the `side` layers, all sharing `telemetry`.
async fn run(telemetry: &Telemetry, side: Side, n: u32) -> f64 {
    let target = "dns:///bench:50051";
    let client = |inner| client_layers(telemetry, target).service(inner);
    let client2 = |inner| client_layers(telemetry, target).service(inner);
    match side {
        Side::Server => {
            drive(
                &mut ServerMetricsLayer::new(telemetry).layer(service_fn(backend)),
                n,
            )
            .await
        }
        Side::Client => drive(&mut client(service_fn(backend)), n).await,
        Side::Both => {
            let server = ServerMetricsLayer::new(telemetry).layer(service_fn(backend));
            let mut svc = client2(service_fn(move |r: Request<tonic::body::Body>| {
                let mut server = server.clone();
                async move { server.call(r).await }
            }));
            drive(&mut svc, n).await
        }
    }
}

/// Prints one loopback pair's report, or exits with its error.
fn report(label: &str, result: Result<loopback::Report, loopback::BoxError>) {
    match result {
        Ok(r) => println!("loopback {label}:\n{}", r.lines()),
        Err(e) => {
            eprintln!("loopback arm failed ({label}): {e}");
            std::process::exit(1);
        }
    }
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
        let sides = [
            ("client (call + attempt)", Side::Client),
            ("server", Side::Server),
            ("client + server", Side::Both),
        ];
        if let Ok(arm) = std::env::var("MESHWORK_BENCH_LOOPBACK") {
            let pair = loopback::Pair::from_arm(&arm);
            let t = if arm.ends_with("off") { &off } else { &metrics };
            let n = std::env::var("MESHWORK_BENCH_RPCS")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(if full_run() { 100_000 } else { 30 });
            match loopback::single(t, loopback::Side::from_env(), pair, n).await {
                Ok(cpu) => println!(
                    "loopback {arm}: {:.0} CPU ns/RPC (client and server on this thread)",
                    cpu.total
                ),
                Err(e) => eprintln!("loopback arm failed: {e}"),
            }
            return;
        }
        // Spans are `tracing` spans: the spans arm needs its layer (the other arms make none). Only
        // the in-memory arms run under it: hyper's and h2's own spans must not reach the loopback.
        let subscriber = tracing_subscriber::registry().with(traced.tracing_layer());
        let spans_subscriber = tracing::subscriber::set_default(subscriber);
        // `MESHWORK_BENCH_ARM=metrics` runs one arm only (e.g. under `perf record`).
        let only = std::env::var("MESHWORK_BENCH_ARM").ok();
        let mut best = [[f64::MAX; 3]; 3];
        run(&off, Side::Both, rpcs() / 10 + 1).await; // warm-up
        for _ in 0..rounds() {
            for (s, (_, side)) in sides.iter().enumerate() {
                for (a, (name, t)) in arms.iter().enumerate() {
                    let skip = only.as_deref().is_some_and(|only| only != *name);
                    if skip || (only.is_some() && !matches!(side, Side::Both)) {
                        continue;
                    }
                    best[s][a] = best[s][a].min(run(t, *side, rpcs()).await);
                }
            }
        }
        println!("in memory, ns/RPC (best of {} rounds × {} RPCs):", rounds(), rpcs());
        for ((label, _), b) in sides.iter().zip(best) {
            println!(
                "  {label:<24} off {:>6.0}  metrics {:>6.0} (+{:>5.0}, ratio {:.3})  metrics+spans {:>6.0} (+{:>5.0})",
                b[0],
                b[1],
                b[1] - b[0],
                b[1] / b[0],
                b[2],
                b[2] - b[0],
            );
        }
        drop(spans_subscriber);
        if only.is_some() {
            return;
        }
        let (n, blocks) = if full_run() { (4_000, 6) } else { (30, 1) };
        // A/A control: the measured arm with telemetry off too (its ratio is the bias).
        let aa = std::env::var("MESHWORK_BENCH_AA").is_ok();
        let side = loopback::Side::from_env();
        let on = if aa { &off } else { &metrics };
        println!("loopback measured arm: {side:?} side(s){}", if aa { ", A/A control (telemetry off)" } else { "" });
        report(
            &format!("tonic greeter, call + attempt layers, CPU ns/RPC (getrusage, {blocks} ABBA blocks × 2 × {n} RPCs per arm)"),
            loopback::run(on, side, n, blocks).await,
        );
        if aa {
            return;
        }
        report(
            "greeter through a MeshChannel (round robin, retry policy armed), CPU ns/RPC",
            loopback::run_mesh(&metrics, n, blocks).await,
        );
        report(
            "tonic greeter, one AttemptMetricsLayer::with_call for call + attempt, CPU ns/RPC",
            loopback::run_one_layer(&metrics, n, blocks).await,
        );
        report(
            "tonic greeter, observation floor (a minimal client layer that times, counts and reads the status, records nothing) vs none, CPU ns/RPC",
            loopback::run_floor(n, blocks).await,
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
