//! Harness of the xDS interop conformance tests: runs `xds-interop-server` and
//! `xds-interop-client` as processes (the binaries cargo built for this package) against the
//! in-process dev control plane on loopback, and talks to them only through the `grpc.testing`
//! services and CSDS, as gRPC's framework does. Every wait is bounded.
//!
//! Shared by the `interop_*` test crates, each of which uses part of it.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use meshwork_examples::xds_server::{Mesh, ServerHandle, XdsServer};
use meshwork_proto::envoy::admin::v3::ClientResourceStatus;
use meshwork_proto::envoy::service::status::v3::ClientConfig;
use meshwork_proto::envoy::service::status::v3::ClientStatusRequest;
use meshwork_proto::envoy::service::status::v3::ClientStatusResponse;
use meshwork_proto::envoy::service::status::v3::client_status_discovery_service_client::ClientStatusDiscoveryServiceClient;
use meshwork_proto::grpc_testing::client_configure_request::{Metadata, RpcType};
use meshwork_proto::grpc_testing::load_balancer_stats_service_client::LoadBalancerStatsServiceClient;
use meshwork_proto::grpc_testing::xds_update_client_configure_service_client::XdsUpdateClientConfigureServiceClient;
use meshwork_proto::grpc_testing::xds_update_health_service_client::XdsUpdateHealthServiceClient;
use meshwork_proto::grpc_testing::{
    ClientConfigureRequest, Empty, LoadBalancerAccumulatedStatsRequest,
    LoadBalancerAccumulatedStatsResponse, LoadBalancerStatsRequest, LoadBalancerStatsResponse,
};
use prost::Message;
use tokio::process::{Child, Command};
use tokio::time::Instant;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[path = "backends.rs"]
mod backends;
pub use backends::*;

/// A free port for a child process to listen on: [`stable_port`], below the kernel's ephemeral
/// range, because an ephemeral port released for the child could become the local port of some
/// other test's outgoing connection before the child binds it ("Address already in use").
pub fn free_port() -> Result<u16> {
    stable_port()
}

/// Connects to `port` on loopback, retrying for up to `within` while the process starts.
pub async fn connect(port: u16, within: Duration) -> Result<Channel> {
    let deadline = Instant::now() + within;
    let uri = format!("http://127.0.0.1:{port}");
    loop {
        match Channel::from_shared(uri.clone())?.connect().await {
            Ok(channel) => return Ok(channel),
            Err(e) if Instant::now() >= deadline => {
                return Err(e)
                    .with_context(|| format!("nothing listens on {uri} after {within:?}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Starts the dev control plane serving `yaml`.
pub async fn control_plane(yaml: &str) -> Result<ServerHandle> {
    let mesh = Mesh::from_yaml(yaml).with_context(|| format!("test mesh:\n{yaml}"))?;
    XdsServer::start(SocketAddr::from(([127, 0, 0, 1], 0)), mesh)
        .await
        .context("start the dev control plane")
}

/// A running `xds-interop-client` and its stats port; killed on drop.
pub struct Client {
    /// Stats, configure and CSDS services.
    pub stats: Channel,
    child: Child,
    _bootstrap: TempFile,
}

struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Which xDS interop client a case drives.
#[derive(Clone, Debug)]
pub enum ClientKind {
    /// Meshwork's `xds-interop-client`.
    Meshwork,
    /// gRPC's reference client: `tests/peers/xds_interop_client.py` (Python grpcio, C-core) run
    /// by this interpreter.
    Reference(PathBuf),
}

/// Environment variable naming the Python with grpcio (set by `./scripts/test`).
pub const PYTHON_ENV: &str = "MESHWORK_PYTHON";

impl ClientKind {
    /// The reference client, or `None` (with a printed note) when `MESHWORK_PYTHON` is unset.
    pub fn reference(case: &str) -> Option<ClientKind> {
        match std::env::var_os(PYTHON_ENV) {
            Some(python) => Some(ClientKind::Reference(PathBuf::from(python))),
            None => {
                println!(
                    "note: skipping {case} with gRPC's reference client: {PYTHON_ENV} is not set \
                     (./scripts/test sets it)"
                );
                None
            }
        }
    }

    fn command(&self) -> Command {
        match self {
            ClientKind::Meshwork => Command::new(env!("CARGO_BIN_EXE_xds-interop-client")),
            ClientKind::Reference(python) => {
                let mut command = Command::new(python);
                command.arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../tests/peers/xds_interop_client.py"
                ));
                command
            }
        }
    }
}

/// Starts our client for `target` on `server` with extra flags, and waits for its stats port.
pub async fn start_client(server: &ServerHandle, target: &str, flags: &[&str]) -> Result<Client> {
    start_client_of(&ClientKind::Meshwork, server, target, flags).await
}

/// Starts the `kind` client for `target` on `server` with extra flags, and waits for its stats
/// port.
pub async fn start_client_of(
    kind: &ClientKind,
    server: &ServerHandle,
    target: &str,
    flags: &[&str],
) -> Result<Client> {
    start_client_with(kind, server, target, flags, &[]).await
}

/// Like [`start_client_of`], with extra top-level bootstrap fields (e.g.
/// `certificate_providers`).
pub async fn start_client_with(
    kind: &ClientKind,
    server: &ServerHandle,
    target: &str,
    flags: &[&str],
    extra: &[(&str, serde_json::Value)],
) -> Result<Client> {
    let stats_port = free_port()?;
    let path = std::env::temp_dir().join(format!(
        "meshwork-interop-bootstrap-{}-{stats_port}.json",
        std::process::id()
    ));
    let mut bootstrap: serde_json::Value = serde_json::from_str(&client_bootstrap(server)?)?;
    if let Some(top) = bootstrap.as_object_mut() {
        for (key, value) in extra {
            top.insert((*key).to_owned(), value.clone());
        }
    }
    std::fs::write(&path, serde_json::to_string_pretty(&bootstrap)?)
        .with_context(|| format!("write {}", path.display()))?;
    let mut defaults = vec![];
    if !flags.contains(&"--qps") {
        defaults.extend(["--qps", "100"]);
    }
    let child = kind
        .command()
        .args(defaults)
        .env("GRPC_XDS_BOOTSTRAP", &path)
        .env_remove("GRPC_XDS_BOOTSTRAP_CONFIG")
        .args(["--server", target])
        .args(["--stats_port", &stats_port.to_string()])
        .args(flags)
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("spawn the {kind:?} xds interop client"))?;
    let stats = connect(stats_port, Duration::from_secs(20)).await?;
    Ok(Client {
        stats,
        child,
        _bootstrap: TempFile(path),
    })
}

/// The address the client reports as `INSTANCE_IP` in its node metadata.
pub const CLIENT_IP: &str = "127.0.0.1";

/// The client's bootstrap: node `interop-client` on `server`, with node metadata `INSTANCE_IP` as
/// psm-interop's bootstrap generator writes it (the csds case expects CSDS to echo it).
fn client_bootstrap(server: &ServerHandle) -> Result<String> {
    let mut bootstrap: serde_json::Value =
        serde_json::from_str(&server.bootstrap_json("interop-client"))
            .context("parse the dev control plane's bootstrap")?;
    let Some(node) = bootstrap.get_mut("node").and_then(|n| n.as_object_mut()) else {
        bail!("the dev control plane's bootstrap has no node object: {bootstrap}");
    };
    node.insert(
        "metadata".to_owned(),
        serde_json::json!({ "INSTANCE_IP": CLIENT_IP }),
    );
    Ok(serde_json::to_string_pretty(&bootstrap)?)
}

impl Client {
    /// `GetClientStats` for the next `num_rpcs` RPCs.
    pub async fn stats(
        &self,
        num_rpcs: i32,
        timeout_sec: i32,
    ) -> Result<LoadBalancerStatsResponse> {
        let request = LoadBalancerStatsRequest {
            num_rpcs,
            timeout_sec,
            metadata_keys: vec![],
        };
        Ok(LoadBalancerStatsServiceClient::new(self.stats.clone())
            .get_client_stats(request)
            .await?
            .into_inner())
    }

    /// `GetClientAccumulatedStats`.
    pub async fn accumulated(&self) -> Result<LoadBalancerAccumulatedStatsResponse> {
        Ok(LoadBalancerStatsServiceClient::new(self.stats.clone())
            .get_client_accumulated_stats(LoadBalancerAccumulatedStatsRequest {})
            .await?
            .into_inner())
    }

    /// `Configure`: RPC types, `(type, key, value)` metadata and timeout (0 = the flag's).
    pub async fn configure(
        &self,
        types: &[RpcType],
        metadata: &[(RpcType, &str, &str)],
        timeout_sec: i32,
    ) -> Result<()> {
        let request = ClientConfigureRequest {
            types: types.iter().map(|t| *t as i32).collect(),
            metadata: metadata
                .iter()
                .map(|(t, k, v)| Metadata {
                    r#type: *t as i32,
                    key: (*k).to_owned(),
                    value: (*v).to_owned(),
                })
                .collect(),
            timeout_sec,
        };
        XdsUpdateClientConfigureServiceClient::new(self.stats.clone())
            .configure(request)
            .await?;
        Ok(())
    }

    /// CSDS `FetchClientStatus`.
    pub async fn csds(&self) -> Result<ClientStatusResponse> {
        Ok(ClientStatusDiscoveryServiceClient::new(self.stats.clone())
            .fetch_client_status(ClientStatusRequest::default())
            .await?
            .into_inner())
    }

    /// Fails if the client process has exited (e.g. `--fail_on_failed_rpc` tripped).
    pub fn assert_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("xds-interop-client exited with {status}");
        }
        Ok(())
    }

    /// `assertRpcsEventuallyGoToGivenServers`: polls `GetClientStats(100)` until there are no
    /// failures and the peers are exactly `expected`; returns that last distribution.
    pub async fn wait_for_peers(
        &self,
        expected: &[String],
        within: Duration,
    ) -> Result<HashMap<String, i32>> {
        let deadline = Instant::now() + within;
        let mut want: Vec<_> = expected.to_vec();
        want.sort();
        loop {
            let r = self.stats(100, 5).await?;
            let mut got: Vec<_> = r.rpcs_by_peer.keys().cloned().collect();
            got.sort();
            if r.num_failures == 0 && got == want {
                return Ok(r.rpcs_by_peer);
            }
            if Instant::now() >= deadline {
                bail!(
                    "RPCs did not go to exactly {want:?} without failures within {within:?}; \
                     last: peers {:?}, {} failures",
                    r.rpcs_by_peer,
                    r.num_failures
                );
            }
        }
    }
}

impl Client {
    /// `assertRpcsEventuallyGoToGivenServers` with no servers: polls `GetClientStats(100)` until
    /// no RPC reaches any server.
    pub async fn wait_for_no_peer(&self, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let r = self.stats(100, 5).await?;
            if r.rpcs_by_peer.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "RPCs still reached {:?} after {within:?} ({} failures)",
                    r.rpcs_by_peer,
                    r.num_failures
                );
            }
        }
    }
}

/// Status codes (code → count) of `method` (`UNARY_CALL`) between two accumulated snapshots.
pub fn codes_between(
    before: &LoadBalancerAccumulatedStatsResponse,
    after: &LoadBalancerAccumulatedStatsResponse,
    method: &str,
) -> HashMap<i32, i32> {
    let empty = HashMap::new();
    let old = before
        .stats_per_method
        .get(method)
        .map_or(&empty, |m| &m.result);
    let new = after
        .stats_per_method
        .get(method)
        .map_or(&empty, |m| &m.result);
    new.iter()
        .map(|(code, n)| (*code, n - old.get(code).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// Defines each case twice: `$ours` with Meshwork's `xds-interop-client`, and `$reference` with
/// gRPC's reference client (`tests/peers/xds_interop_client.py`, Python grpcio C-core), which is
/// skipped with a note only when `MESHWORK_PYTHON` is unset. `$case` is an `async fn(ClientKind)
/// -> Result<()>`. Test crates that use it declare the harness `#[macro_use]`.
#[allow(unused_macros)]
macro_rules! with_both_clients {
    ($($case:ident, $ours:ident, $reference:ident;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $ours() -> anyhow::Result<()> {
            $case(harness::ClientKind::Meshwork).await
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $reference() -> anyhow::Result<()> {
            match harness::ClientKind::reference(stringify!($ours)) {
                Some(kind) => $case(kind).await,
                None => Ok(()),
            }
        }
    )*};
}

/// The one resource of type `kind` in `config`, ACKed, decoded.
pub fn only_resource<M: Message + Default>(config: &ClientConfig, kind: &str) -> Result<M> {
    let of_kind: Vec<_> = config
        .generic_xds_configs
        .iter()
        .filter(|r| r.type_url.ends_with(&format!(".{kind}")))
        .collect();
    let [resource] = of_kind[..] else {
        bail!(
            "exactly one {kind} expected: {:#?}",
            config.generic_xds_configs
        );
    };
    ensure!(
        resource.client_status == ClientResourceStatus::Acked as i32,
        "{kind} not ACKED: {resource:?}"
    );
    let Some(any) = &resource.xds_config else {
        bail!("{kind} without its config: {resource:?}");
    };
    M::decode(any.value.as_slice()).with_context(|| format!("decode the dumped {kind}"))
}
