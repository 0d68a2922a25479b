//! Helpers of the resilience end-to-end tests: mesh files with the route and cluster policies
//! those tests turn (timeouts, retries, `max_requests`, outlier detection), an SDK [`Mesh`]
//! pointed at the in-process control plane with test-speed reconnects, and bounded waits that
//! drive calls until what a user would notice happens.

use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use meshwork::channel::ChannelOptions;
use meshwork::connection::ConnectOptions;
use meshwork::xds::BackoffConfig;
use meshwork::{Mesh, MeshOptions};
use meshwork_examples::xds_server::{Mesh as MeshFile, ServerHandle};
use tokio::time::Instant;

use crate::control_plane::{bootstrap_for, fast_reconnect, start_control_plane};

/// One service of a test mesh file: `host:50051` → `cluster`, with optional route policies
/// written as the mesh file's YAML (`timeout: {...}`, `retry: {...}`).
#[derive(Debug, Clone)]
pub struct ServiceYaml {
    /// Service host (the target is `xds:///host:50051`).
    pub host: String,
    /// Cluster it routes to.
    pub cluster: String,
    /// Extra keys of its one route, e.g. `retry: {retry_on: [unavailable], num_retries: 2}`.
    pub route: Vec<String>,
}

/// A mesh file: `services` over one cluster of `endpoints` with extra cluster keys.
pub fn mesh_yaml(
    services: &[ServiceYaml],
    cluster: &str,
    cluster_keys: &[&str],
    endpoints: &[SocketAddr],
) -> String {
    let mut y = String::from("services:\n");
    for s in services {
        let _ = write!(
            y,
            "- host: {}\n  port: 50051\n  routes:\n  - cluster: {}\n",
            s.host, s.cluster
        );
        for key in &s.route {
            let _ = writeln!(y, "    {key}");
        }
    }
    let _ = write!(y, "clusters:\n- name: {cluster}\n");
    for key in cluster_keys {
        let _ = writeln!(y, "  {key}");
    }
    y.push_str("  localities:\n  - locality: {zone: local}\n    endpoints:\n");
    for e in endpoints {
        let _ = writeln!(y, "    - address: '{e}'");
    }
    y
}

/// Starts a control plane serving `yaml`.
pub async fn serve_yaml(yaml: &str) -> Result<ServerHandle> {
    let mesh = MeshFile::from_yaml(yaml).with_context(|| format!("test mesh:\n{yaml}"))?;
    start_control_plane(mesh).await
}

/// Endpoint connections that find a restarted backend within a fraction of a second.
pub fn fast_connect() -> ConnectOptions {
    ConnectOptions {
        backoff: BackoffConfig {
            base: Duration::from_millis(50),
            max: Duration::from_millis(250),
            ..BackoffConfig::default()
        },
        min_connect_timeout: Duration::from_secs(1),
        seed: Some(3),
    }
}

/// An SDK mesh on `server` with a fixed seed, fast reconnects and `channel` options.
pub fn sdk_mesh(server: &ServerHandle, node: &str, channel: ChannelOptions) -> Result<Mesh> {
    let options = MeshOptions {
        channel: ChannelOptions {
            seed: Some(11),
            ..channel
        },
        connect: fast_connect(),
        xds: fast_reconnect(Duration::from_millis(100)),
    };
    Mesh::with_options(bootstrap_for(server.local_addr(), node), options)
        .context("create the SDK mesh")
}

/// Runs `round` until it returns `true`, at most until `within` has passed.
pub async fn until<F, Fut>(what: &str, within: Duration, mut round: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + within;
    loop {
        if round().await? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("{what}: not within {within:?}");
        }
        tokio::task::yield_now().await;
    }
}
