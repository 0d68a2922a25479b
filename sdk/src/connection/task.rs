//! The task behind one [`EndpointConnection`](super::EndpointConnection): wait for a connect
//! request, dial with gRPC connection backoff until an attempt succeeds, then drive the HTTP/2
//! connection until it ends, and go back to IDLE (grpc/grpc `doc/connection-backoff.md`; gRPC
//! subchannel connectivity states).
//!
//! One attempt = TCP connect (+ TLS handshake for a cluster with A29 TLS) + HTTP/2 handshake,
//! bounded by `max(backoff delay, minimum connect
//! timeout)`; after a failed attempt the state is TRANSIENT_FAILURE until the backoff delay
//! (counted from the attempt's start) has passed, then the next attempt starts by itself. The
//! backoff resets once a connection is made. Time is tokio time. The task records the gRFC A94
//! subchannel metrics: each attempt's outcome, and each open connection until it ends (an
//! [`Open`] guard, so an aborted task still counts its connection as shut down). A failed
//! attempt's error is kept on the shared state (`last_error`) so that RPCs failing on this
//! endpoint can say why (e.g. a TLS SAN mismatch); a READY connection clears it.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::ConnectOptions;
use super::endpoint::{Sender, Shared};
use super::io::Io;
use crate::balancer::Connectivity;
use crate::telemetry::{DisconnectError, SubchannelMetrics};
use crate::tls::{ClientTls, TlsError, handshake_error};
use crate::xds::backoff::Backoff;

type Driver = hyper::client::conn::http2::Connection<TokioIo<Io>, tonic::body::Body, TokioExecutor>;

/// Why one connection attempt failed.
#[derive(Debug, thiserror::Error)]
enum DialError {
    #[error("TCP connect failed: {0}")]
    Tcp(#[from] io::Error),
    #[error("TLS setup failed: {0}")]
    TlsSetup(#[from] TlsError),
    #[error("TLS handshake failed: {0}")]
    TlsHandshake(String),
    #[error("HTTP/2 handshake failed: {0}")]
    Handshake(#[from] hyper::Error),
}

/// Runs until aborted (when the last handle is dropped).
pub(super) async fn run(shared: Arc<Shared>, options: ConnectOptions, rng: fastrand::Rng) {
    let mut backoff = Backoff::new(options.backoff, rng);
    loop {
        wait_for_connect_request(&shared).await;
        loop {
            shared.broken.store(false, Ordering::Release);
            shared.set_state(Connectivity::Connecting);
            let delay = backoff.next_delay();
            let retry_at = Instant::now() + delay;
            let limit = delay.max(options.min_connect_timeout);
            match tokio::time::timeout(limit, dial(shared.address, shared.tls.as_ref())).await {
                Ok(Ok((sender, driver))) => {
                    backoff.reset();
                    shared.set_last_error(None);
                    shared.metrics.connected();
                    serve(&shared, sender, driver).await;
                    shared.set_state(Connectivity::Idle);
                    break;
                }
                Ok(Err(error)) => {
                    shared.metrics.connect_failed();
                    tracing::debug!(address = %shared.address, %error, "endpoint connect failed");
                    shared.set_last_error(Some(error.to_string()));
                }
                Err(_) => {
                    shared.metrics.connect_failed();
                    tracing::debug!(address = %shared.address, ?limit, "endpoint connect timed out");
                    shared.set_last_error(Some(format!("connect timed out after {limit:?}")));
                }
            }
            shared.set_state(Connectivity::TransientFailure);
            tokio::time::sleep_until(retry_at).await;
        }
    }
}

async fn wait_for_connect_request(shared: &Shared) {
    while !shared.want_connect.swap(false, Ordering::AcqRel) {
        shared.wake.notified().await;
    }
}

async fn dial(address: SocketAddr, tls: Option<&ClientTls>) -> Result<(Sender, Driver), DialError> {
    let tcp = TcpStream::connect(address).await?;
    tcp.set_nodelay(true)?;
    let io = match tls {
        None => Io::Plain(tcp),
        Some(tls) => {
            let (connector, name) = tls.connector(address).await?;
            let stream = connector
                .connect(name, tcp)
                .await
                .map_err(|e| DialError::TlsHandshake(handshake_error(&e)))?;
            Io::Tls(Box::new(stream))
        }
    };
    let (sender, driver) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake(TokioIo::new(io))
        .await?;
    Ok((sender, driver))
}

/// Publishes the sender and READY, drives the connection until it ends or is reported broken,
/// then withdraws the sender.
async fn serve(shared: &Shared, sender: Sender, driver: Driver) {
    let mut open = Open {
        metrics: &shared.metrics,
        reason: DisconnectError::SubchannelShutdown,
    };
    shared.sender.store(Some(Arc::new(sender)));
    shared.want_connect.store(false, Ordering::Release);
    shared.set_state(Connectivity::Ready);
    tokio::pin!(driver);
    loop {
        tokio::select! {
            result = &mut driver => {
                open.reason = match result {
                    Ok(()) => {
                        tracing::debug!(address = %shared.address, "endpoint connection closed");
                        DisconnectError::Unknown
                    }
                    Err(error) => {
                        tracing::debug!(address = %shared.address, %error, "endpoint connection failed");
                        DisconnectError::from_error(&error)
                    }
                };
                break;
            }
            () = shared.wake.notified() => {
                if shared.broken.swap(false, Ordering::AcqRel) {
                    open.reason = DisconnectError::Unknown;
                    tracing::debug!(address = %shared.address, "endpoint connection reported broken");
                    break;
                }
            }
        }
    }
    shared.sender.store(None);
}

/// An open connection, for the A94 metrics: its end is recorded when this is dropped, which
/// also happens when the task is aborted (then as `subchannel shutdown`).
struct Open<'a> {
    metrics: &'a SubchannelMetrics,
    reason: DisconnectError,
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.metrics.disconnected(self.reason);
    }
}
