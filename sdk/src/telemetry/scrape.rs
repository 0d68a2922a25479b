//! The Prometheus scrape endpoint: a tiny HTTP/1.1 server answering `GET /metrics` with
//! [`Telemetry::prometheus_text`] in the text exposition format 0.0.4.
//!
//! It serves nothing else (any other path is 404, any other method 405) and keeps no state: each
//! scrape collects the Prometheus reader afresh. It listens on loopback unless told otherwise,
//! because metric labels (targets, methods, clusters) describe the service's topology. The
//! accept loop and its connections are one owned task: dropping the [`MetricsServer`] stops them.
//! Not done here: TLS, authentication, gzip, the OpenMetrics format.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use http::header::{ALLOW, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinSet};

use super::handle::Telemetry;

/// The `Content-Type` of the Prometheus text exposition format 0.0.4.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Where and how the scrape endpoint listens.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsOptions {
    /// Accept a non-loopback address (metrics are then readable by anyone who can reach the
    /// port). Off by default.
    pub allow_non_loopback: bool,
}

/// Why the scrape endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum MetricsServerError {
    /// A non-loopback address without [`MetricsOptions::allow_non_loopback`].
    #[error(
        "refusing to serve /metrics on non-loopback address {addr}: expected a loopback address \
         such as 127.0.0.1:9464; set `MetricsOptions::allow_non_loopback` to expose it"
    )]
    NotLoopback {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The address could not be bound.
    #[error("cannot listen for /metrics scrapes on {addr}: {source}; pick a free port")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
}

/// A running scrape endpoint; dropping it stops the server and its connections.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    task: AbortHandle,
}

impl MetricsServer {
    /// The address it listens on (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `addr` and serves `telemetry`'s Prometheus text on `GET /metrics`. Must run inside a
/// Tokio runtime.
pub async fn serve(
    telemetry: Telemetry,
    addr: SocketAddr,
    options: MetricsOptions,
) -> Result<MetricsServer, MetricsServerError> {
    if !addr.ip().is_loopback() && !options.allow_non_loopback {
        return Err(MetricsServerError::NotLoopback { addr });
    }
    let bind_error = |source| MetricsServerError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    let task = tokio::spawn(accept_loop(listener, telemetry)).abort_handle();
    Ok(MetricsServer { addr: local, task })
}

/// Accepts connections until aborted; the connections live in a set the loop owns.
async fn accept_loop(listener: TcpListener, telemetry: Telemetry) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, telemetry.clone()));
                }
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::debug!(%error, "metrics endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, telemetry: Telemetry) {
    let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
        let response = respond(&telemetry, &request);
        async move { Ok::<_, Infallible>(response) }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(error) = served {
        tracing::debug!(%error, "metrics endpoint: connection ended with an error");
    }
}

/// The answer to one request: the metrics, or a short error a human can act on.
fn respond<B>(telemetry: &Telemetry, request: &Request<B>) -> Response<String> {
    if request.uri().path() != "/metrics" {
        return plain(
            StatusCode::NOT_FOUND,
            "not found; metrics are at GET /metrics\n",
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are allowed on /metrics\n",
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let mut response = Response::new(telemetry.prometheus_text());
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(PROMETHEUS_CONTENT_TYPE),
    );
    response
}

fn plain(status: StatusCode, body: &'static str) -> Response<String> {
    let mut response = Response::new(body.to_owned());
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
