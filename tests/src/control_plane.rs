//! The dev control plane (`meshwork-xds`, in-process) and SDK clients pointed at it, for
//! end-to-end tests over loopback.
//!
//! Builds bootstraps in code (no files, no environment), restarts a control plane on the port it
//! had before (bounded retry while the OS still holds the port), and checks the control plane's
//! ACK log. Does not start backends; see the reference-peer helpers for those.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use meshwork::bootstrap::{Bootstrap, Node, XdsServer as ServerConfig};
use meshwork::xds::resource::ResourceKind;
use meshwork::xds::{BackoffConfig, ClientOptions, XdsClient};
use meshwork_examples::xds_server::{Mesh, ServerError, ServerHandle, XdsServer};
use tokio::time::Instant;

/// Pause between two bind attempts while a restarted control plane waits for its old port.
const REBIND_PAUSE: Duration = Duration::from_millis(50);

/// Starts a control plane serving `mesh` on a free loopback port.
pub async fn start_control_plane(mesh: Mesh) -> Result<ServerHandle> {
    XdsServer::start(SocketAddr::from(([127, 0, 0, 1], 0)), mesh)
        .await
        .context("start the dev control plane on 127.0.0.1:0")
}

/// Starts a control plane on exactly `addr` (e.g. the port of one that was shut down), retrying
/// the bind for up to `within` while the port is still held.
pub async fn restart_control_plane(
    addr: SocketAddr,
    mesh: Mesh,
    within: Duration,
) -> Result<ServerHandle> {
    let deadline = Instant::now() + within;
    loop {
        match XdsServer::start(addr, mesh.clone()).await {
            Ok(server) => return Ok(server),
            Err(ServerError::Bind { source, .. }) if Instant::now() < deadline => {
                tracing::debug!(%addr, error = %source, "port still held; retrying the bind");
                tokio::time::sleep(REBIND_PAUSE).await;
            }
            Err(e) => {
                return Err(e).with_context(|| format!("restart the control plane on {addr}"));
            }
        }
    }
}

/// A bootstrap for node `node_id` whose only xDS server is `server`.
pub fn bootstrap_for(server: SocketAddr, node_id: &str) -> Bootstrap {
    Bootstrap::new(
        ServerConfig::insecure(server.to_string()).with_feature("xds_v3"),
        Node::new(node_id),
    )
}

/// Client options for tests: reconnect backoff from `base` (×1.6, ±20 %, capped at 2 s) with a
/// fixed jitter seed, so a restarted control plane is found again within seconds.
pub fn fast_reconnect(base: Duration) -> ClientOptions {
    ClientOptions {
        backoff: BackoffConfig {
            base,
            max: Duration::from_secs(2),
            ..BackoffConfig::default()
        },
        rng_seed: Some(7),
        connect_timeout: Duration::from_secs(5),
        resource_timeout: None,
    }
}

/// An SDK xDS client for node `node_id` of the control plane `server`.
pub fn client_for(
    server: &ServerHandle,
    node_id: &str,
    options: ClientOptions,
) -> Result<XdsClient> {
    XdsClient::with_options(&bootstrap_for(server.local_addr(), node_id), options)
        .context("create the xDS client")
}

/// Waits until `node_id` ACKed every resource kind at `version` or later, and checks that it
/// never NACKed anything.
pub async fn assert_all_acked(
    server: &ServerHandle,
    node_id: &str,
    version: u64,
    timeout: Duration,
) -> Result<()> {
    for kind in ResourceKind::ALL {
        server
            .wait_for_ack(node_id, kind.type_url(), version, timeout)
            .await?;
    }
    let log = server.ack_log();
    let nacks: Vec<_> = log
        .entries()
        .filter(|(node, _, status)| *node == node_id && !status.nacks.is_empty())
        .collect();
    if !nacks.is_empty() {
        bail!("node `{node_id}` NACKed: {nacks:#?}");
    }
    Ok(())
}
