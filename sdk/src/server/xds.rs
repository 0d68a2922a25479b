//! xDS-enabled servers (gRFC A36) with xDS-driven TLS (gRFC A29, server side).
//!
//! [`XdsServer`] listens on an address and watches the Listener named by the bootstrap's
//! `server_listener_resource_name_template` (`%s` replaced with the listening `ip:port`, e.g.
//! `0.0.0.0:8080` or `[::]:8080`). Until a valid server Listener for exactly that address arrives,
//! and whenever it is deleted or does not exist, the server is NOT_SERVING: it accepts each
//! connection and closes it before sending a byte (no TLS ServerHello, no HTTP/2 SETTINGS), so
//! clients fail fast and try another backend. Once SERVING, each new connection gets the filter
//! chain that matches it ([`ServerListener::select`]), TLS with the chain's certificate-provider
//! instances (mTLS when the chain requires client certificates) or plaintext, then the
//! application's tonic [`Routes`] over HTTP/2. An update applies to new connections; connections
//! accepted under the previous Listener are drained with a GOAWAY. A NACKed update or an
//! unreachable control plane keeps the last good Listener (A88 ambient errors).
//!
//! The serving mode is published ([`XdsServer::serving_mode`]) and logged, as A36's "serving
//! state callback" asks. Not done: the HCM's routes and HTTP filters on the server (RBAC, fault
//! injection, `max_stream_duration`), RDS for server listeners, the A36 "retry binding" mode
//! (binding fails `bind` instead), and per-chain connection limits.
//!
//! There is no default template (A36): a bootstrap without one is an error naming the field.
//!
//! ```no_run
//! # async fn run(routes: tonic::service::Routes) -> Result<(), Box<dyn std::error::Error>> {
//! let mesh = meshwork::Mesh::from_env().await?;
//! let server = mesh.xds_server("0.0.0.0:8080".parse()?).await?;
//! server.serve(routes, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tonic::service::Routes;

use crate::Mesh;
use crate::tls::CertificateProviders;
use crate::xds::resource::{ResourceKind, ServerListener};
use crate::xds::{ResourceWatcher, XdsClient};

mod connection;
mod state;

pub use state::ServingMode;

use state::Config;

/// The token of `server_listener_resource_name_template` replaced with the listening address.
const ADDRESS_TOKEN: &str = "%s";

/// A bound xDS-enabled server; call [`serve`](Self::serve). See the module docs.
#[derive(Debug)]
pub struct XdsServer {
    client: XdsClient,
    providers: CertificateProviders,
    listener: TcpListener,
    local: SocketAddr,
    resource_name: String,
    mode: watch::Sender<ServingMode>,
}

/// Why an xDS-enabled server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum XdsServerError {
    /// The mesh has no xDS client (it was built without a bootstrap).
    #[error(
        "an xDS-enabled server needs an xDS bootstrap, but this mesh has none; build it with Mesh::from_env or Mesh::from_bootstrap"
    )]
    NoXdsClient,
    /// The bootstrap lacks `server_listener_resource_name_template`.
    #[error(
        "the xDS bootstrap has no `server_listener_resource_name_template`, so the server cannot name its Listener (gRFC A36 has no default); add e.g. \"grpc/server?xds.resource.listening_address=%s\""
    )]
    NoTemplate,
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}; pick a free port or address")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Accepting connections failed.
    #[error("xDS-enabled server on {addr} cannot accept connections: {source}")]
    Accept {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

impl Mesh {
    /// Binds an xDS-enabled server on `addr` (gRFC A36); see [`XdsServer`].
    pub async fn xds_server(&self, addr: SocketAddr) -> Result<XdsServer, XdsServerError> {
        let (Some(bootstrap), Some(client)) = (self.bootstrap(), self.xds_client()) else {
            return Err(XdsServerError::NoXdsClient);
        };
        let template = bootstrap
            .server_listener_resource_name_template
            .clone()
            .ok_or(XdsServerError::NoTemplate)?;
        let providers = CertificateProviders::new(bootstrap.certificate_providers.clone());
        XdsServer::bind(client.clone(), providers, &template, addr).await
    }
}

impl XdsServer {
    /// Binds `addr` and names the Listener from `template` and the bound address (so port 0
    /// becomes the port chosen). Starts NOT_SERVING; nothing is watched until
    /// [`serve`](Self::serve).
    pub async fn bind(
        client: XdsClient,
        providers: CertificateProviders,
        template: &str,
        addr: SocketAddr,
    ) -> Result<XdsServer, XdsServerError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| XdsServerError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| XdsServerError::Bind { addr, source })?;
        let resource_name = template.replace(ADDRESS_TOKEN, &local.to_string());
        let (mode, _) = watch::channel(ServingMode::NotServing {
            reason: format!("waiting for Listener `{resource_name}` from the control plane"),
        });
        Ok(XdsServer {
            client,
            providers,
            listener,
            local,
            resource_name,
            mode,
        })
    }

    /// The bound address (the one in the Listener's name).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The name of the Listener resource this server watches.
    pub fn resource_name(&self) -> &str {
        &self.resource_name
    }

    /// The serving mode now and every change to it.
    pub fn serving_mode(&self) -> watch::Receiver<ServingMode> {
        self.mode.subscribe()
    }

    /// Serves `routes` until `shutdown` resolves; then every connection is dropped.
    pub async fn serve(
        self,
        routes: Routes,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), XdsServerError> {
        let (config_tx, config) = watch::channel::<Config>(None);
        let watcher = self
            .client
            .watch(ResourceKind::Listener, &self.resource_name);
        let mut connections = JoinSet::new();
        let follow = follow(watcher, self.local, config_tx, self.mode.clone());
        tokio::pin!(shutdown, follow);
        loop {
            let (stream, peer) = tokio::select! {
                () = &mut shutdown => return Ok(()),
                () = &mut follow => return Ok(()),
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) if is_per_connection(&e) => continue,
                    Err(source) => return Err(XdsServerError::Accept { addr: self.local, source }),
                },
            };
            while connections.try_join_next().is_some() {}
            connections.spawn(connection::serve(
                stream,
                peer,
                routes.clone(),
                config.clone(),
                self.providers.clone(),
            ));
        }
    }
}

/// Applies the watch's events until the xDS client is gone.
async fn follow(
    mut watcher: ResourceWatcher,
    local: SocketAddr,
    config: watch::Sender<Config>,
    mode: watch::Sender<ServingMode>,
) {
    while let Some(event) = watcher.next().await {
        let name = watcher.name().to_string();
        match state::apply(&event, local, &name) {
            Some((next, next_mode)) => {
                log_listener(&next);
                config.send_replace(next);
                if *mode.borrow() != next_mode {
                    match &next_mode {
                        ServingMode::Serving => {
                            tracing::info!(listener = %name, %local, "xDS-enabled server SERVING")
                        }
                        ServingMode::NotServing { reason } => {
                            tracing::warn!(%local, "xDS-enabled server NOT_SERVING: {reason}")
                        }
                    }
                }
                mode.send_replace(next_mode);
            }
            None => tracing::warn!(listener = %name, "keeping the last good Listener: {event:?}"),
        }
    }
}

fn log_listener(config: &Option<std::sync::Arc<ServerListener>>) {
    if let Some(l) = config {
        tracing::debug!(listener = %l.name, chains = l.filter_chains.len(), default = l.default_filter_chain.is_some(), "new server Listener");
    }
}

/// Accept errors that concern one connection only (the listener keeps working).
fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted)
}
