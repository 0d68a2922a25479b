//! The endpoint connection pool: one HTTP/2 connection per endpoint address, made lazily and shared
//! by every channel of the process (DESIGN.md: "connections to endpoints are made lazily and shared
//! across channels").
//!
//! Each [`EndpointConnection`] owns one background task that dials the address, performs the
//! HTTP/2 handshake, drives the connection and publishes its connectivity (gRPC's subchannel
//! states: IDLE → CONNECTING → READY, or TRANSIENT_FAILURE and a retry after backoff). The task
//! follows gRPC connection backoff (grpc/grpc `doc/connection-backoff.md`): 1 s base, ×1.6, ±20 %
//! jitter, 120 s cap, and every attempt may take at least the 20 s minimum connect timeout. A
//! connection that was READY and ends (peer closed it, GOAWAY, I/O error, or the request path
//! reported it broken) goes back to IDLE with its backoff reset, as a gRPC subchannel does; the
//! balancer's owner reconnects it at once for policies that connect eagerly, or on the next pick
//! that asks for it.
//!
//! **Why hyper and not `tonic::transport::Channel` per endpoint.** A tonic `Channel` hides its
//! connection behind a `tower::buffer::Buffer` worker and a reconnecting service: it never says
//! whether it is connected, reconnects on its own schedule, and reports a dead peer only as an
//! error on the next request. Load balancing needs the opposite: exact connectivity per endpoint
//! the moment it changes, gRPC's backoff, and a request path that sends on an already-open
//! connection without an extra queue hop. `hyper::client::conn::http2` gives exactly the
//! connection and its driver future, so this module owns both.
//!
//! **Subchannel metrics (gRFC A94, off by default).** Each connection records
//! `grpc.subchannel.connection_attempts_succeeded` / `_failed`, `grpc.subchannel.disconnections`
//! and `grpc.subchannel.open_connections` once, whatever number of channels share it (A94 moved
//! these metrics down to the subchannel precisely so that shared subchannels are not counted
//! once per channel). Its labels (`grpc.target` and the optional `grpc.lb.backend_service` /
//! `grpc.lb.locality`) are those of the channel and cluster that first asked the pool for the
//! address, fixed for the connection's life: a connection shared by channels of different
//! targets reports under the target that made it. When the last holder lets go while the
//! connection is open, it counts as a `subchannel shutdown` disconnection.
//!
//! **TLS (gRFC A29).** A cluster with an `UpstreamTlsContext` asks for its connections with
//! those TLS settings; the pool keys connections by address *and* security settings, so a
//! plaintext and a TLS connection to one address (or two TLS connections with different roots,
//! identity or SAN matchers) are never shared. The handshake is made by [`crate::tls`] with the
//! pool's [`CertificateProviders`]; a pool without providers (the channel option
//! `xds_security` off, or no bootstrap) connects in plaintext whatever the cluster says. A failed
//! handshake, a SAN mismatch included, is a failed connection attempt: the endpoint goes to
//! TRANSIENT_FAILURE and its error is kept for the RPCs that fail because of it.
//!
//! Not here: client-side health checks (A17), keepalive pings, and endpoint choice (the
//! balancer). The pool holds only weak references: a connection lives while
//! some cluster of some channel still lists its address, and its task stops when the last
//! [`EndpointConnection`] handle is dropped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::runtime::Handle;

use crate::telemetry::{SecurityLevel, SubchannelMetrics};
use crate::tls::{CertificateProviders, ClientTls, UpstreamTls};
use crate::xds::BackoffConfig;

mod endpoint;
mod io;
mod task;

pub(crate) use endpoint::{EndpointConnection, Sender};

/// gRPC's minimum connect timeout (`doc/connection-backoff.md`).
pub const MIN_CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// How endpoint connections are made and retried.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Reconnect backoff; the default is gRPC connection backoff.
    pub backoff: BackoffConfig,
    /// The least time one connection attempt may take, however short the backoff (gRPC: 20 s).
    pub min_connect_timeout: Duration,
    /// Seed of the backoff jitter; `None` picks one at random.
    pub seed: Option<u64>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            backoff: BackoffConfig::default(),
            min_connect_timeout: MIN_CONNECT_TIMEOUT,
            seed: None,
        }
    }
}

/// The process-wide set of endpoint connections, keyed by address and TLS settings. Cheap to
/// clone; clones share the connections.
#[derive(Clone, Debug)]
pub struct ConnectionPool {
    inner: Arc<PoolInner>,
}

#[derive(Debug)]
struct PoolInner {
    options: ConnectOptions,
    runtime: Handle,
    seed: u64,
    next: AtomicU64,
    /// Certificate providers for TLS clusters; `None` = every connection is plaintext.
    tls: Option<CertificateProviders>,
    /// Per address, its live connections (one per distinct TLS setting).
    connections: Mutex<HashMap<SocketAddr, Vec<Weak<endpoint::Owner>>>>,
}

impl ConnectionPool {
    /// A pool whose connection tasks run on `runtime`.
    pub(crate) fn new(options: ConnectOptions, runtime: Handle) -> Self {
        ConnectionPool::with_tls(options, runtime, None)
    }

    /// A pool that makes TLS connections for clusters with upstream TLS (gRFC A29), with
    /// certificates from `providers` (the bootstrap's `certificate_providers`). Without it
    /// (`None`), every connection is plaintext.
    pub(crate) fn with_tls(
        options: ConnectOptions,
        runtime: Handle,
        tls: Option<CertificateProviders>,
    ) -> Self {
        let seed = options.seed.unwrap_or_else(|| fastrand::u64(..));
        ConnectionPool {
            inner: Arc::new(PoolInner {
                options,
                runtime,
                seed,
                next: AtomicU64::new(0),
                tls,
                connections: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Whether this pool honours clusters' TLS settings.
    pub fn uses_tls(&self) -> bool {
        self.inner.tls.is_some()
    }

    /// The connection to `address`: the live one if some channel already holds it, else a new
    /// IDLE one (nothing is dialled until [`EndpointConnection::connect`]).
    #[cfg(test)]
    pub(crate) fn get(&self, address: SocketAddr) -> EndpointConnection {
        self.get_with(address, None, |_| SubchannelMetrics::default())
    }

    /// The connection to `address` secured as `tls` says (`None`, or a pool without TLS:
    /// plaintext): the live one if some channel already holds one with the same settings, else a
    /// new IDLE one. A new connection records its A94 metrics into `metrics()` (called only when
    /// the connection is made here).
    pub(crate) fn get_with(
        &self,
        address: SocketAddr,
        tls: Option<&UpstreamTls>,
        metrics: impl FnOnce(SecurityLevel) -> SubchannelMetrics,
    ) -> EndpointConnection {
        let tls = match (tls, &self.inner.tls) {
            (Some(settings), Some(providers)) => {
                Some(ClientTls::new(settings.clone(), providers.clone()))
            }
            _ => None,
        };
        let security = match tls {
            Some(_) => SecurityLevel::PrivacyAndIntegrity,
            None => SecurityLevel::None,
        };
        let mut map = self
            .inner
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let existing = map.get(&address).into_iter().flatten().find_map(|weak| {
            let owner = weak.upgrade()?;
            let connection = EndpointConnection::from_owner(owner);
            (connection.tls() == tls.as_ref()).then_some(connection)
        });
        if let Some(connection) = existing {
            return connection;
        }
        map.retain(|_, weaks| {
            weaks.retain(|weak| weak.strong_count() > 0);
            !weaks.is_empty()
        });
        let n = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let rng = fastrand::Rng::with_seed(self.inner.seed.wrapping_add(n));
        let connection = EndpointConnection::spawn(
            address,
            n,
            tls,
            &self.inner.options,
            rng,
            &self.inner.runtime,
            metrics(security),
        );
        map.entry(address)
            .or_default()
            .push(Arc::downgrade(connection.owner()));
        connection
    }

    /// How many endpoint connections are alive (held by at least one channel).
    pub fn len(&self) -> usize {
        self.inner
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .flatten()
            .filter(|w| w.strong_count() > 0)
            .count()
    }

    /// Whether no endpoint connection is alive.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests;
