//! `xds-interop-client`: gRPC's xDS interop test client on Meshwork; reads the xDS bootstrap
//! from `GRPC_XDS_BOOTSTRAP`. See [`meshwork_examples::interop::client`].

use clap::Parser;
use meshwork_examples::interop::client::{ClientArgs, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = ClientArgs::parse();
    run(args, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
