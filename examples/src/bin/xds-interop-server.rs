//! `xds-interop-server`: gRPC's xDS interop test server on Meshwork; see
//! [`meshwork_examples::interop::server`].

use clap::Parser;
use meshwork_examples::interop::server::{ServerArgs, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = ServerArgs::parse();
    run(args, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
