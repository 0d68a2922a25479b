//! Errors of the channel: [`ChannelError`] when a channel or a [`Mesh`](crate::Mesh) cannot be
//! built, and [`RpcError`] when one RPC cannot be sent. Inside the per-RPC stack every layer
//! returns an `RpcError`; the channel's edge turns it into a `tonic::Status` response once
//! ([`RpcError::to_status`]), so generated clients see an ordinary gRPC status.
//!
//! Status codes follow gRPC: routing, picking and connection failures are `UNAVAILABLE` (gRFC
//! A28, A27 drops), an RPC whose own deadline passed while it waited is `DEADLINE_EXCEEDED`.

use std::sync::Arc;
use std::time::Duration;

use crate::bootstrap::BootstrapError;
use crate::resolver::ResolveError;
use crate::route::RouteError;
use crate::xds::ClientError;

/// Why a channel (or the [`Mesh`](crate::Mesh) that makes channels) could not be created.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The bootstrap could not be read.
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
    /// The xDS client could not be created from the bootstrap.
    #[error(transparent)]
    XdsClient(#[from] ClientError),
    /// The target cannot be resolved (not an `xds:` target, unknown authority, ...).
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The mesh's default telemetry (from the `OTEL_*` environment) could not be set up.
    #[error(transparent)]
    Telemetry(#[from] crate::telemetry::TelemetryError),
    /// A static endpoint is not an `ip:port` socket address.
    #[error(
        "static endpoint `{address}` is not a socket address: expected `ip:port` such as \
         `127.0.0.1:50051` or `[::1]:50051`, found `{address}`; fix the address (host names need \
         an xDS target or a LOGICAL_DNS cluster)"
    )]
    InvalidEndpoint {
        /// The address as given.
        address: String,
    },
    /// The authority RPCs would carry is not a valid URI authority.
    #[error(
        "`{authority}` cannot be used as the `:authority` of RPCs: expected `host[:port]`; fix \
         the target's host:port or the builder's authority"
    )]
    InvalidAuthority {
        /// The authority as derived or given.
        authority: String,
    },
    /// A static channel was built without endpoints.
    #[error(
        "a static channel needs at least one endpoint, found none; call `.endpoints([...])` on \
         the builder"
    )]
    NoEndpoints,
    /// A channel option is out of range.
    #[error("channel option `{option}` is invalid: {message}")]
    InvalidOption {
        /// The option.
        option: &'static str,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// Channels run background tasks and must be created inside a tokio runtime.
    #[error("channels must be created inside a tokio runtime; create them from async code")]
    NoRuntime,
}

/// Why one RPC could not be sent. Every variant becomes a gRPC status (see
/// [`RpcError::to_status`]).
#[derive(Clone, Debug, thiserror::Error)]
pub enum RpcError {
    /// The target has no usable configuration (the resolver's error, naming the missing or
    /// rejected resource).
    #[error("target `{target}` has no usable xDS configuration: {message}")]
    Resolution {
        /// The channel's target.
        target: Arc<str>,
        /// The resolver's error text.
        message: Arc<str>,
    },
    /// No route matches, or the matching route cannot be carried out.
    #[error("target `{target}`: {error}")]
    Route {
        /// The channel's target.
        target: Arc<str>,
        /// What routing said.
        error: RouteError,
    },
    /// The cluster the RPC was routed to is unusable (its Cluster or endpoints resource failed).
    #[error("target `{target}`: {message}")]
    ClusterUnusable {
        /// The channel's target.
        target: Arc<str>,
        /// Why, naming the cluster.
        message: Arc<str>,
    },
    /// The load-balancing policy failed the pick: nothing in the cluster can serve.
    #[error("target `{target}`, cluster `{cluster}`: {message}")]
    Pick {
        /// The channel's target.
        target: Arc<str>,
        /// The cluster.
        cluster: Arc<str>,
        /// The picker's message.
        message: Arc<str>,
    },
    /// The load-balancing policy dropped the RPC (EDS `drop_overloads`, gRFC A27).
    #[error("dropped by load balancing policy: category {category} (cluster `{cluster}`)")]
    Dropped {
        /// The cluster.
        cluster: Arc<str>,
        /// The drop category.
        category: Arc<str>,
    },
    /// The RPC waited for a configuration or a ready endpoint longer than the channel allows.
    #[error(
        "target `{target}`: {waiting_for} after {}; check that the backends are up and \
         reachable, or raise the channel's queue timeout",
        fmt_duration(*waited)
    )]
    QueueTimeout {
        /// The channel's target.
        target: Arc<str>,
        /// What the RPC was waiting for.
        waiting_for: String,
        /// How long it waited.
        waited: Duration,
    },
    /// The RPC's own deadline (`grpc-timeout`) passed before it could be sent.
    #[error("target `{target}`: deadline exceeded after {} while {waiting_for}", fmt_duration(*waited))]
    DeadlineExceeded {
        /// The channel's target.
        target: Arc<str>,
        /// What the RPC was waiting for.
        waiting_for: String,
        /// How long it waited.
        waited: Duration,
    },
    /// The connection to the picked endpoint failed while sending.
    #[error("connection to endpoint {address} failed: {message}")]
    Transport {
        /// The endpoint.
        address: std::net::SocketAddr,
        /// The transport's error.
        message: Arc<str>,
    },
    /// The request never left the client: the picked endpoint's connection closed before the
    /// stream was opened. Retried transparently (gRFC A6).
    #[error("connection to endpoint {address} closed before the request was sent: {message}")]
    NotSent {
        /// The endpoint.
        address: std::net::SocketAddr,
        /// The transport's error.
        message: Arc<str>,
    },
    /// The server's HTTP/2 layer refused the stream before its application saw it
    /// (REFUSED_STREAM, or GOAWAY below this stream). Retried transparently once (gRFC A6).
    #[error("endpoint {address} refused the stream before processing it: {message}")]
    Refused {
        /// The endpoint.
        address: std::net::SocketAddr,
        /// The transport's error.
        message: Arc<str>,
    },
    /// The cluster's circuit breaker is at `max_requests` (gRFC A32): failed at once, never
    /// retried.
    #[error(transparent)]
    CircuitBreaker(#[from] crate::resilience::BreakerOverflow),
    /// The channel's background task is gone.
    #[error("the channel for target `{target}` has stopped; create a new channel")]
    Stopped {
        /// The channel's target.
        target: Arc<str>,
    },
    /// A layer of the per-RPC stack ran without what the layer above should have provided: a
    /// bug in how the stack was assembled.
    #[error("internal error in the meshwork channel stack: {0}")]
    Internal(&'static str),
}

impl RpcError {
    /// The gRPC status the RPC fails with.
    pub fn to_status(&self) -> tonic::Status {
        let message = self.to_string();
        match self {
            RpcError::DeadlineExceeded { .. } => tonic::Status::deadline_exceeded(message),
            RpcError::Internal(_) => tonic::Status::internal(message),
            _ => tonic::Status::unavailable(message),
        }
    }
}

pub(crate) fn fmt_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}
