//! `meshwork-demo`: the whole demo mesh in one process — the dev xDS control plane, greeter
//! backends (b0 fast, b1 slow, b2 flaky, a canary) and a client sending steady traffic through
//! the Meshwork SDK — printing a live line per second:
//!
//! `t=3s  b0 17/s 0 err p99 1.2ms | b1 17/s 0 err p99 23ms | ... | client ok 49/s fail 1`
//!
//! Every demo service serves an admin endpoint; their addresses, this run's admin token and a
//! ready `meshtop` command line are printed at start.
//!
//! `meshwork-demo [--rate 50] [--duration 30s] [--seed 1]`; stops on Ctrl-C or after
//! `--duration`, prints a summary and exits 0. Logs go to stderr (`RUST_LOG`, default `warn`).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use meshwork_examples::demo::{Demo, DemoConfig};
use meshwork_examples::xds_server::mesh::MeshDuration;
use tokio::time::{MissedTickBehavior, interval_at};
use tracing_subscriber::EnvFilter;

/// Runs the Meshwork demo mesh in one process and prints live per-backend stats.
#[derive(Debug, Parser)]
#[command(name = "meshwork-demo", version)]
struct Args {
    /// Client RPCs per second.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Stop after this long (e.g. `30s`, `2m`); default: run until Ctrl-C.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Seed of the client's draws and the backends' error sequences.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Most client RPCs in flight.
    #[arg(long, default_value_t = 64)]
    max_in_flight: usize,
    /// Fraction (0..=1) of RPCs sent with `x-canary: yes`.
    #[arg(long, default_value_t = 0.1)]
    canary: f64,
    /// Where the control plane listens.
    #[arg(long, default_value = "127.0.0.1:0")]
    control_plane: SocketAddr,
    /// Also print the mesh file being served.
    #[arg(long)]
    show_mesh: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    MeshDuration::parse(text).map(|d| d.0)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("meshwork-demo: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let config = DemoConfig {
        control_plane: args.control_plane,
        rate: args.rate,
        max_in_flight: args.max_in_flight,
        canary_fraction: args.canary,
        seed: args.seed,
        ..DemoConfig::default()
    };
    let demo = Demo::start(config).await?;
    println!(
        "meshwork-demo: the demo mesh is running\n{}",
        demo.describe()
    );
    println!(
        "bootstrap for another client (GRPC_XDS_BOOTSTRAP_CONFIG):\n{}",
        demo.bootstrap_json()
    );
    println!("admin endpoints (token {}):", demo.admin_token());
    for (name, addr) in demo.admin_endpoints() {
        println!("  {name:<16} {addr}");
    }
    println!("watch it with:\n  {}\n", demo.meshtop_command());
    if args.show_mesh {
        println!("mesh served:\n{}", demo.mesh_yaml());
    }
    match args.duration {
        Some(d) => println!("running for {d:?} (Ctrl-C stops earlier)\n"),
        None => println!("running until Ctrl-C\n"),
    }

    let second = Duration::from_secs(1);
    let started = demo.started();
    let mut ticks = interval_at(started + second, second);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let started = demo.started();
    let until = async move {
        match args.duration {
            Some(d) => tokio::time::sleep_until(started + d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until);
    loop {
        tokio::select! {
            _ = ticks.tick() => println!("{}", demo.stats().line()),
            () = &mut until => break,
            signal = tokio::signal::ctrl_c() => {
                if let Err(e) = signal {
                    tracing::warn!(error = %e, "cannot listen for Ctrl-C; stopping");
                }
                break;
            }
        }
    }
    let stats = demo.stats();
    println!("\n{}", stats.summary());
    demo.shutdown().await;
    Ok(())
}
