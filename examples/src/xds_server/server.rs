//! Starting and steering the control plane in-process: [`XdsServer::start`] binds, serves ADS
//! on a background task and returns a [`ServerHandle`] to swap the mesh, inject raw resources,
//! observe ACKs/NACKs and stop. Dropping the handle stops the server.
//!
//! Waits are bounded by the caller's timeout and report what was last seen on expiry.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use meshwork_proto::envoy::service::discovery::v3::aggregated_discovery_service_server::AggregatedDiscoveryServiceServer;
use meshwork_proto::google::protobuf::Any;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;

use super::ads::AdsService;
use super::health_check::{self, Published, effective::effective};
use super::mesh::{Mesh, validate};
use super::state::{AckEvent, AckLog, NackRecord, Snapshot, Store};
use super::translate;

/// How long [`ServerHandle::shutdown`] waits for connections to close before cutting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Errors of the in-process control plane.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}; pick a free port (127.0.0.1:0 picks one for you)")]
    Bind {
        /// Requested address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The mesh is inconsistent; nothing was changed.
    #[error("mesh rejected, still serving the previous one:\n{}", render(.0))]
    InvalidMesh(Vec<validate::Issue>),
    /// A bounded wait ran out.
    #[error("{what} did not happen within {after:?}; ACK log: {log}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The bound.
        after: Duration,
        /// The ACK log at expiry.
        log: String,
    },
}

fn render(issues: &[validate::Issue]) -> String {
    issues
        .iter()
        .map(|i| format!("  {}: {}", i.field, i.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Entry point of the in-process control plane.
pub struct XdsServer;

impl XdsServer {
    /// Binds `listen` (use `127.0.0.1:0` for a free port) and serves `mesh` over ADS.
    pub async fn start(listen: SocketAddr, mesh: Mesh) -> Result<ServerHandle, ServerError> {
        let resources = translate::translate(&effective(&mesh, &Default::default()))
            .map_err(ServerError::InvalidMesh)?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| ServerError::Bind {
                addr: listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: listen,
            source,
        })?;
        let store = Arc::new(Store::new(resources));
        let published = Arc::new(Published::new(mesh, Arc::clone(&store)));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let checker = health_check::spawn(Arc::clone(&published), shutdown_rx.clone());
        let service = AggregatedDiscoveryServiceServer::new(AdsService {
            store: Arc::clone(&store),
            shutdown: shutdown_rx.clone(),
        })
        .max_decoding_message_size(16 * 1024 * 1024);
        let mut stop = shutdown_rx;
        let task = tokio::spawn(async move {
            let result = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "xDS server stopped with an error");
            }
        });
        tracing::info!(%local_addr, "xDS server listening");
        Ok(ServerHandle {
            local_addr,
            store,
            published,
            shutdown,
            task: Some(task),
            checker,
        })
    }
}

/// A running control plane. Dropping it stops the server.
pub struct ServerHandle {
    local_addr: SocketAddr,
    store: Arc<Store>,
    published: Arc<Published>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    checker: JoinHandle<()>,
}

impl ServerHandle {
    /// The bound address (with the real port when started on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Replaces the mesh; every stream gets the changed resources (with the latest health-check
    /// results applied to health-checked clusters). Returns the new version.
    pub fn set_mesh(&self, mesh: &Mesh) -> Result<u64, ServerError> {
        self.published
            .set_mesh(mesh)
            .map_err(ServerError::InvalidMesh)
    }

    /// Serves `resource` as `name` of `type_url`, over whatever the mesh says (tests use this to
    /// push invalid resources). Returns the new version.
    pub fn set_raw(&self, type_url: &str, name: &str, resource: Any) -> u64 {
        self.store.set_raw(type_url, name, resource)
    }

    /// Drops a raw override, restoring the mesh's resource (if any). Returns the new version.
    pub fn remove_raw(&self, type_url: &str, name: &str) -> u64 {
        self.store.remove_raw(type_url, name)
    }

    /// The snapshot currently served.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.store.snapshot()
    }

    /// The current version (what responses carry as `version_info`).
    pub fn version(&self) -> u64 {
        self.store.snapshot().version
    }

    /// A copy of the ACK/NACK log.
    pub fn ack_log(&self) -> AckLog {
        self.store.ack_log()
    }

    /// Every ACK/NACK from now on.
    pub fn events(&self) -> broadcast::Receiver<AckEvent> {
        self.store.subscribe_events()
    }

    /// Waits until `node_id` ACKs `type_url` at `version` or later.
    pub async fn wait_for_ack(
        &self,
        node_id: &str,
        type_url: &str,
        version: u64,
        timeout: Duration,
    ) -> Result<(), ServerError> {
        self.wait_log(
            timeout,
            format!("ACK of {type_url} version >= {version} from node `{node_id}`"),
            |log| log.acked_at_least(node_id, type_url, version).then_some(()),
        )
        .await
    }

    /// Waits for the next NACK of `type_url` from `node_id`: the first one beyond those logged
    /// when this is called (not when the future is first polled), so the future may be created
    /// before the change that provokes the NACK and awaited after it.
    pub fn wait_for_nack(
        &self,
        node_id: &str,
        type_url: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<NackRecord, ServerError>> + '_ {
        let seen = self
            .ack_log()
            .status(node_id, type_url)
            .map_or(0, |s| s.nacks.len());
        let (node_id, type_url) = (node_id.to_owned(), type_url.to_owned());
        async move {
            self.wait_log(
                timeout,
                format!("NACK of {type_url} from node `{node_id}`"),
                |log| {
                    log.status(&node_id, &type_url)
                        .and_then(|s| s.nacks.get(seen).cloned())
                },
            )
            .await
        }
    }

    /// Waits until `node_id` has NACKed `type_url` at `version` or later (already logged or
    /// still to come); returns the first such NACK. Free of the ordering race of
    /// [`wait_for_nack`](Self::wait_for_nack): call it any time after the change.
    pub async fn wait_for_nack_of(
        &self,
        node_id: &str,
        type_url: &str,
        version: u64,
        timeout: Duration,
    ) -> Result<NackRecord, ServerError> {
        self.wait_log(
            timeout,
            format!("NACK of {type_url} version >= {version} from node `{node_id}`"),
            |log| {
                log.status(node_id, type_url).and_then(|s| {
                    s.nacks
                        .iter()
                        .find(|n| n.version.parse::<u64>().is_ok_and(|v| v >= version))
                        .cloned()
                })
            },
        )
        .await
    }

    async fn wait_log<T>(
        &self,
        timeout: Duration,
        what: String,
        mut found: impl FnMut(&AckLog) -> Option<T>,
    ) -> Result<T, ServerError> {
        let mut rx = self.store.subscribe_acks();
        let mut result = None;
        let waited = tokio::time::timeout(
            timeout,
            rx.wait_for(|log| {
                result = found(log);
                result.is_some()
            }),
        )
        .await;
        match (waited, result) {
            (Ok(Ok(_)), Some(value)) => Ok(value),
            _ => Err(ServerError::Timeout {
                what,
                after: timeout,
                log: format!("{:?}", self.ack_log()),
            }),
        }
    }

    /// A gRPC xDS bootstrap (JSON) pointing at this server, for `GRPC_XDS_BOOTSTRAP`.
    pub fn bootstrap_json(&self, node_id: &str) -> String {
        bootstrap_json(self.local_addr, node_id)
    }

    /// Stops accepting, closes every ADS stream and waits (bounded) for the server to finish.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        self.checker.abort();
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        self.checker.abort();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A gRPC xDS bootstrap for a control plane at `server`, with node id `node_id`.
pub fn bootstrap_json(server: SocketAddr, node_id: &str) -> String {
    let bootstrap = serde_json::json!({
        "xds_servers": [{
            "server_uri": server.to_string(),
            "channel_creds": [{"type": "insecure"}],
            "server_features": ["xds_v3"],
        }],
        "node": {"id": node_id, "locality": {}},
        "server_listener_resource_name_template": crate::xds_server::mesh::SERVER_LISTENER_NAME_TEMPLATE,
    });
    serde_json::to_string_pretty(&bootstrap).unwrap_or_default()
}

#[cfg(test)]
mod tests;
