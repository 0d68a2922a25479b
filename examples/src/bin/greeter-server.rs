//! `greeter-server --listen 127.0.0.1:50051 --name b0 [--latency-ms N] [--error-rate P]`: serve
//! the example greeter (plus `grpc.health.v1`) until Ctrl-C.
//!
//! Replies name the backend, so a client of the mesh sees where each call went. Misbehaviour set
//! here is the starting point; callers can still steer single calls with `rpc-behavior` metadata
//! (see `meshwork_examples::greeter::rpc_behavior`). Logs go to stderr (`RUST_LOG` filters).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use meshwork_examples::greeter::{GreeterBackend, HealthHandle, serve};
use tracing_subscriber::EnvFilter;

/// How long Ctrl-C lets open calls finish before cutting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Example `helloworld.Greeter` backend for Meshwork demos and tests.
#[derive(Debug, Parser)]
#[command(name = "greeter-server", version)]
struct Args {
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// Backend name carried in every reply (defaults to the listen address).
    #[arg(long)]
    name: Option<String>,
    /// Extra latency added to every call, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Probability (0..=1) that a call fails with --error-code.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    error_rate: f64,
    /// gRPC status code (1..=16) of injected failures; 14 is UNAVAILABLE.
    #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(i32).range(1..=16))]
    error_code: i32,
    /// Seed of the error-rate RNG (same seed, same failures).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Pause between SayHelloStream replies, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    stream_interval_ms: u64,
}

fn probability(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!(
            "expected a probability between 0 and 1 (e.g. 0.1), got `{text}`"
        )),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("greeter-server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let name = args.name.unwrap_or_else(|| args.listen.to_string());
    let backend = GreeterBackend::new(name.clone())
        .with_stream_interval(Duration::from_millis(args.stream_interval_ms));
    let behavior = backend.behavior();
    behavior.reseed(args.seed);
    behavior.set_latency(Duration::from_millis(args.latency_ms));
    behavior.set_error_rate(args.error_rate, tonic::Code::from_i32(args.error_code));
    let health = HealthHandle::new().await;
    let running = serve(args.listen, backend.clone(), &health).await?;
    // One plain line on stdout for scripts (and tests) that need the bound address.
    println!(
        "greeter-server {name} listening on {}",
        running.local_addr()
    );
    tracing::info!(
        backend = %name,
        addr = %running.local_addr(),
        latency_ms = args.latency_ms,
        error_rate = args.error_rate,
        "serving helloworld.Greeter and grpc.health.v1.Health; Ctrl-C stops"
    );
    tokio::signal::ctrl_c().await?;
    tracing::info!(backend = %name, "shutting down: NOT_SERVING, then draining calls");
    health.set_serving(false).await;
    running.shutdown(SHUTDOWN_GRACE).await;
    let served = backend.served();
    tracing::info!(
        backend = %name,
        total = served.total(),
        ok = served.ok(),
        failed = served.failed(),
        "stopped"
    );
    Ok(())
}
