//! `meshwork-xds --config mesh.yaml [--listen 127.0.0.1:18000]`: serve the mesh a file describes
//! over xDS v3 ADS, reloading it when it changes.
//!
//! On start it prints the resources it serves and a ready-to-use `GRPC_XDS_BOOTSTRAP` file. A bad
//! file at start exits non-zero with the file, line and field at fault; a bad file on reload is
//! logged and the last good mesh keeps being served.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use meshwork_examples::xds_server::reload::{FileWatcher, watch_file};
use meshwork_examples::xds_server::{Mesh, XdsServer};
use tracing_subscriber::EnvFilter;

/// Development xDS control plane for Meshwork and any gRPC xDS client.
#[derive(Debug, Parser)]
#[command(name = "meshwork-xds", version)]
struct Args {
    /// Mesh file (YAML or JSON; see examples/mesh/README.md).
    #[arg(long, short)]
    config: PathBuf,
    /// Address to serve ADS on.
    #[arg(long, default_value = "127.0.0.1:18000")]
    listen: SocketAddr,
    /// Node id used in the printed bootstrap example.
    #[arg(long, default_value = "meshwork-dev")]
    node_id: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("meshwork-xds: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mesh = Mesh::load(&args.config)?;
    let initial = std::fs::read_to_string(&args.config).ok();
    let server = XdsServer::start(args.listen, mesh.clone()).await?;
    print_summary(
        &args,
        &mesh,
        &server.bootstrap_json(&args.node_id),
        server.local_addr(),
    );

    let watcher = FileWatcher::new(&args.config, initial);
    tokio::select! {
        () = watch_file(watcher, &server) => {}
        signal = tokio::signal::ctrl_c() => {
            signal?;
            tracing::info!("shutting down");
        }
    }
    server.shutdown().await;
    Ok(())
}

fn print_summary(args: &Args, mesh: &Mesh, bootstrap: &str, addr: SocketAddr) {
    println!(
        "meshwork-xds serving {} on {addr} (ADS, xDS v3)",
        args.config.display()
    );
    for service in &mesh.services {
        println!(
            "  listener {:<28} -> route config {}",
            service.listener_name(),
            mesh.route_config_name(service)
        );
    }
    for cluster in &mesh.clusters {
        let endpoints: Vec<&str> = cluster
            .localities
            .iter()
            .flat_map(|l| l.endpoints.iter().map(|e| e.address.as_str()))
            .collect();
        println!(
            "  cluster  {:<28} {:?}, endpoints: {}",
            mesh.cluster_xds_name(&cluster.name),
            cluster.lb_policy,
            endpoints.join(", ")
        );
    }
    println!(
        "\nSave this as bootstrap.json and export GRPC_XDS_BOOTSTRAP=$PWD/bootstrap.json:\n{bootstrap}"
    );
    if let Some(service) = mesh.services.first() {
        println!("\nthen dial xds:///{}", service.listener_name());
    }
    println!("\nWatching {} for changes.", args.config.display());
}
