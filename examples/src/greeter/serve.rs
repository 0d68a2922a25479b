//! Serving a [`GreeterBackend`] and its health service on a TCP listener, and stopping it either
//! gracefully (the binary's Ctrl-C) or abruptly (tests that kill a backend).
//!
//! [`serve_layered`] wraps the server in a Meshwork [`ServerLayer`] (server-side runtime faults),
//! as a service of the demo mesh does; plain [`serve`] keeps the backend free of the SDK so tests
//! can judge the SDK from the outside. Not a supervisor: no restarts here (the test harness rebinds the same port itself) and no
//! TLS. [`RunningGreeter`] owns the server task; dropping it cuts every connection and stops.

use std::net::SocketAddr;
use std::time::Duration;

use futures::future::BoxFuture;
use meshwork::server::ServerLayer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;

use super::severable::Severable;
use super::{GreeterBackend, HealthHandle};

/// How long [`RunningGreeter::stop`] waits for the server task once connections are cut.
const STOP_BOUND: Duration = Duration::from_secs(5);

/// Why a greeter backend could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error(
        "greeter backend cannot listen on {addr}: {source}; pick a free port (port 0 picks one) \
         or stop whatever holds it"
    )]
    Bind {
        /// The requested address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A greeter backend being served; dropping it cuts its connections and stops it.
#[derive(Debug)]
pub struct RunningGreeter {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    cut: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// Binds `addr` and serves `backend` plus `health`'s `grpc.health.v1.Health` on it.
pub async fn serve(
    addr: SocketAddr,
    backend: GreeterBackend,
    health: &HealthHandle,
) -> Result<RunningGreeter, ServeError> {
    serve_layered(addr, backend, health, None).await
}

/// Like [`serve`], with every RPC (health checks included) passing through `layer` first when
/// one is given: the server side of a Meshwork service, whose runtime fault rules then apply.
pub async fn serve_layered(
    addr: SocketAddr,
    backend: GreeterBackend,
    health: &HealthHandle,
    layer: Option<ServerLayer>,
) -> Result<RunningGreeter, ServeError> {
    let bind_error = |source| ServeError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let local_addr = listener.local_addr().map_err(bind_error)?;
    Ok(serve_on(listener, local_addr, backend, health, layer))
}

fn serve_on(
    listener: TcpListener,
    local_addr: SocketAddr,
    backend: GreeterBackend,
    health: &HealthHandle,
    layer: Option<ServerLayer>,
) -> RunningGreeter {
    let (shutdown, mut shutdown_rx) = watch::channel(false);
    let (cut, cut_rx) = watch::channel(false);
    let incoming = TcpListenerStream::new(listener).map(move |accepted| {
        accepted.map(|stream| {
            let _ = stream.set_nodelay(true);
            Severable::new(stream, cut_rx.clone())
        })
    });
    let name = backend.name().to_owned();
    let name_for_log = name.clone();
    let stopped = async move {
        let _ = shutdown_rx.wait_for(|stop| *stop).await;
    };
    let served: BoxFuture<'static, Result<(), tonic::transport::Error>> = match layer {
        Some(layer) => Box::pin(
            tonic::transport::Server::builder()
                .layer(layer)
                .add_service(health.service())
                .add_service(backend.into_service())
                .serve_with_incoming_shutdown(incoming, stopped),
        ),
        None => Box::pin(
            tonic::transport::Server::builder()
                .add_service(health.service())
                .add_service(backend.into_service())
                .serve_with_incoming_shutdown(incoming, stopped),
        ),
    };
    let task = tokio::spawn(async move {
        if let Err(e) = served.await {
            tracing::error!(backend = %name, error = %e, "greeter backend stopped with an error");
        }
    });
    tracing::info!(%local_addr, backend = %name_for_log, "greeter backend listening");
    RunningGreeter {
        local_addr,
        shutdown,
        cut,
        task: Some(task),
    }
}

impl RunningGreeter {
    /// The bound address (the real port when started on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops at once, like a crashed process: closes the listener, cuts every connection (open
    /// calls fail on the client) and waits, bounded, for the server task. The port is free when
    /// this returns.
    pub async fn stop(mut self) {
        self.shutdown.send_replace(true);
        self.cut.send_replace(true);
        self.join(STOP_BOUND).await;
    }

    /// Stops gracefully: closes the listener, sends GOAWAY, lets open calls finish for up to
    /// `grace`, then cuts whatever is left.
    pub async fn shutdown(mut self, grace: Duration) {
        self.shutdown.send_replace(true);
        if let Some(task) = self.task.as_mut()
            && tokio::time::timeout(grace, task).await.is_ok()
        {
            self.task = None;
            return;
        }
        self.cut.send_replace(true);
        self.join(STOP_BOUND).await;
    }

    async fn join(&mut self, bound: Duration) {
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(bound, &mut task).await.is_err()
        {
            tracing::warn!(addr = %self.local_addr, "greeter backend did not stop in {bound:?}; aborting it");
            task.abort();
        }
    }
}

impl Drop for RunningGreeter {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        self.cut.send_replace(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
