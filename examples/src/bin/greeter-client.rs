//! `greeter-client`: call the example greeter through Meshwork and print where each call went.
//!
//! With a control plane (`GRPC_XDS_BOOTSTRAP` or `--bootstrap`):
//! `greeter-client --target xds:///greeter:50051 --count 10`
//!
//! Without one (static endpoints, round robin or another policy):
//! `greeter-client --endpoints 127.0.0.1:50051,127.0.0.1:50052 --lb round-robin --count 10`
//!
//! The tonic-generated `GreeterClient` is used unchanged: the mesh is just its channel.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use meshwork::bootstrap::Bootstrap;
use meshwork::{Lb, Mesh, MeshChannel};
use meshwork_proto::helloworld::HelloRequest;
use meshwork_proto::helloworld::greeter_client::GreeterClient;
use tracing_subscriber::EnvFilter;

/// Example client of `helloworld.Greeter` over a Meshwork channel.
#[derive(Debug, Parser)]
#[command(name = "greeter-client", version)]
struct Args {
    /// xDS target, e.g. `xds:///greeter:50051` (needs a bootstrap).
    #[arg(
        long,
        conflicts_with = "endpoints",
        required_unless_present = "endpoints"
    )]
    target: Option<String>,
    /// gRPC xDS bootstrap file (default: GRPC_XDS_BOOTSTRAP / GRPC_XDS_BOOTSTRAP_CONFIG).
    #[arg(long, requires = "target")]
    bootstrap: Option<PathBuf>,
    /// Static endpoints `ip:port,ip:port` (no control plane).
    #[arg(long, value_delimiter = ',')]
    endpoints: Vec<String>,
    /// Load-balancing policy for static endpoints.
    #[arg(long, value_enum, default_value_t = Policy::RoundRobin, requires = "endpoints")]
    lb: Policy,
    /// Number of calls.
    #[arg(long, default_value_t = 10)]
    count: u32,
    /// Name to greet.
    #[arg(long, default_value = "meshwork")]
    name: String,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Policy {
    RoundRobin,
    PickFirst,
    LeastRequest,
    PeakEwma,
    RingHash,
}

impl From<Policy> for Lb {
    fn from(p: Policy) -> Lb {
        match p {
            Policy::RoundRobin => Lb::RoundRobin,
            Policy::PickFirst => Lb::PickFirst,
            Policy::LeastRequest => Lb::LeastRequest,
            Policy::PeakEwma => Lb::PeakEwma,
            Policy::RingHash => Lb::ring_hash(),
        }
    }
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
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("greeter-client: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Makes the calls; returns how many failed.
async fn run(args: Args) -> anyhow::Result<u32> {
    // The mesh must outlive the channel's RPCs: it owns the xDS stream.
    let (_mesh, channel) = match &args.target {
        Some(target) => {
            let bootstrap = match &args.bootstrap {
                Some(path) => Bootstrap::from_file(path)?,
                None => Bootstrap::from_env()?,
            };
            let mesh = Mesh::from_bootstrap(bootstrap)?;
            let channel = mesh.channel(target).await?;
            (Some(mesh), channel)
        }
        None => {
            let channel = MeshChannel::builder()
                .endpoints(args.endpoints.iter().map(String::as_str))
                .load_balancing(args.lb.into())
                .build()?;
            (None, channel)
        }
    };
    let mut client = GreeterClient::new(channel);
    let mut by_backend = BTreeMap::<String, u32>::new();
    let mut failed = 0;
    for i in 0..args.count {
        let request = HelloRequest {
            name: format!("{} #{i}", args.name),
        };
        match client.say_hello(request).await {
            Ok(reply) => {
                let reply = reply.into_inner();
                println!("{}", reply.message);
                *by_backend.entry(reply.backend).or_default() += 1;
            }
            Err(status) => {
                failed += 1;
                println!("error: {} {}", status.code(), status.message());
            }
        }
    }
    println!("calls per backend: {by_backend:?}; failed: {failed}");
    Ok(failed)
}
