//! The admin endpoint: a separate gRPC port (loopback by default) where operators and `meshtop`
//! see what this process's Meshwork is doing and steer its runtime faults (DESIGN.md "Admin
//! endpoint"; proto `meshwork.admin.v1`).
//!
//! [`serve`] (usually through [`Mesh::serve_admin`]) binds the port and serves, on one tonic
//! server:
//! - `meshwork.admin.v1.Admin` (`service`): info, live snapshots of every channel (`snapshot`),
//!   a Watch stream of snapshots and events (`watch`), the xDS config dump (`dump`), runtime
//!   fault rules and the serving status of the process's services (SetServing);
//! - `grpc.health.v1.Health`: the process status of [`Mesh::health`];
//! - CSDS, `envoy.service.status.v3.ClientStatusDiscoveryService` (gRFC A40, `csds`);
//! - server reflection (v1) for Meshwork's and the health protos.
//!
//! Security follows `reference/resilience-semantics.md` §6 (Envoy's and Linkerd's lessons):
//! reads are open; mutations need `authorization: Bearer <token>`, compared in constant time
//! (`auth`), or a client certificate verified by mutual TLS (`tls`, [`AdminTls`]); they are
//! logged and emitted as events; a non-loopback address with neither a token nor mutual TLS is
//! refused at start-up. The admin endpoint owns no state it shows: it reads the [`Mesh`].
//! The served task is owned by the [`AdminHandle`]: dropping it stops the server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use meshwork_proto::admin::v1::admin_server::AdminServer;
use meshwork_proto::envoy::service::status::v3::client_status_discovery_service_server::ClientStatusDiscoveryServiceServer;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;

use crate::Mesh;

mod auth;
mod csds;
mod dump;
mod service;
mod snapshot;
mod tls;
mod watch;

pub use auth::TOKEN_ENV;
pub use tls::AdminTls;

/// The shortest snapshot interval a `Watch` may ask for; shorter ones are raised to it.
pub const MIN_WATCH_INTERVAL: Duration = Duration::from_millis(100);

/// How the admin endpoint authenticates mutations.
///
/// The token is taken from, in order: [`token`](Self::token), the file
/// [`token_file`](Self::token_file) (whitespace trimmed), the `MESHWORK_ADMIN_TOKEN`
/// environment variable. With [`tls`](Self::tls) and a client CA, a verified client certificate
/// authorizes mutations too. Without a token or mutual TLS, the endpoint only serves reads, and
/// only on loopback.
#[derive(Clone, Debug, Default)]
pub struct AdminOptions {
    /// The bearer token mutations must carry.
    pub token: Option<String>,
    /// A file holding the token.
    pub token_file: Option<PathBuf>,
    /// Accept mutations without a token when no token is configured (loopback only). Off by
    /// default: anything that changes behaviour needs a token.
    pub allow_unauthenticated_loopback_mutations: bool,
    /// Serve over TLS; with a client CA, require and verify client certificates (mutual TLS).
    pub tls: Option<AdminTls>,
}

/// Why the admin endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A non-loopback address with neither a token nor mutual TLS.
    #[error(
        "refusing to serve the admin endpoint on non-loopback address {addr} without a token or \
         mutual TLS: anyone reaching it could inject faults. Set a token (AdminOptions::token or \
         token_file, or the {TOKEN_ENV} environment variable), or AdminOptions::tls with a \
         client_ca_file, or bind 127.0.0.1 / [::1]"
    )]
    InsecureBind {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The token file could not be read.
    #[error("cannot read the admin token file {path}: {source}; check the path and permissions")]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The configured token is empty.
    #[error("the admin token from {origin} is empty; give a non-empty token")]
    EmptyToken {
        /// Where it came from.
        origin: String,
    },
    /// A TLS file could not be read.
    #[error(
        "cannot read the admin TLS {role} file {path}: {source}; check the path and permissions"
    )]
    TlsFile {
        /// What the file is for.
        role: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A TLS file holds no PEM block.
    #[error(
        "the admin TLS {role} file {path} holds no PEM block ({len} bytes); expected \
         `-----BEGIN ...-----` PEM text"
    )]
    NotPem {
        /// What the file is for.
        role: &'static str,
        /// The file.
        path: PathBuf,
        /// Its size.
        len: usize,
    },
    /// The PEM files were read but do not make a usable TLS config.
    #[error(
        "cannot set up TLS for the admin endpoint from {cert} and {key}{ca}: {detail}; check \
         that the key matches the certificate and the files hold a certificate, a private key \
         and CA certificates"
    )]
    TlsConfig {
        /// The certificate file.
        cert: String,
        /// The key file.
        key: String,
        /// `, client CA <file>` when one is configured.
        ca: String,
        /// What rustls reported.
        detail: String,
    },
    /// The port could not be bound.
    #[error("cannot bind the admin endpoint to {addr}: {source}; choose a free port")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Server reflection could not be set up from the descriptor sets.
    #[error("cannot set up server reflection: {0}")]
    Reflection(String),
}

/// The running admin endpoint; dropping it stops the server.
#[derive(Debug)]
pub struct AdminHandle {
    local_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl AdminHandle {
    /// The address it listens on (with the port the OS chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops serving and waits for the server to end.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for AdminHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.abort();
    }
}

/// Starts the admin endpoint of `mesh` on `addr`; see the module docs.
pub async fn serve(
    mesh: Mesh,
    addr: SocketAddr,
    options: AdminOptions,
) -> Result<AdminHandle, AdminError> {
    let auth = auth::Auth::from_options(&options, addr)?;
    // Read and check the TLS files before binding, so a bad file fails start-up cleanly.
    if let Some(tls) = &options.tls {
        tls.server_config()?;
    }
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(meshwork_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| AdminError::Reflection(e.to_string()))?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| AdminError::Bind { addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| AdminError::Bind { addr, source })?;
    let admin = service::AdminService::new(mesh.clone(), Arc::new(auth));
    let csds = csds::Csds::new(mesh.clone());
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &options.tls {
        builder = builder
            .tls_config(tls.server_config()?)
            .map_err(|e| AdminError::TlsConfig {
                cert: tls.cert_file.display().to_string(),
                key: tls.key_file.display().to_string(),
                ca: tls
                    .client_ca_file
                    .as_ref()
                    .map(|p| format!(", client CA {}", p.display()))
                    .unwrap_or_default(),
                detail: error_chain(&e),
            })?;
    }
    let router = builder
        .add_service(AdminServer::new(admin))
        .add_service(mesh.health().service())
        .add_service(ClientStatusDiscoveryServiceServer::new(csds))
        .add_service(mesh.channelz())
        .add_service(reflection);
    let (tx, rx) = oneshot::channel::<()>();
    let incoming = TcpListenerStream::new(listener);
    let task = tokio::spawn(async move {
        let stopped = async {
            let _ = rx.await;
        };
        if let Err(error) = router.serve_with_incoming_shutdown(incoming, stopped).await {
            tracing::warn!(target: "meshwork::admin", %error, "admin endpoint stopped");
        }
    });
    tracing::info!(
        target: "meshwork::admin",
        addr = %local_addr,
        tls = options.tls.is_some(),
        mtls = options.tls.as_ref().is_some_and(AdminTls::requires_client_certs),
        "admin endpoint serving"
    );
    Ok(AdminHandle {
        local_addr,
        shutdown: Some(tx),
        task,
    })
}

/// An error and its sources, `: `-separated (tonic's transport error hides the rustls reason).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
