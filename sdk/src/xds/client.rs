//! `XdsClient`: the process-wide handle to the ADS streams, with the watch API, connection state
//! and config dump (gRFC A27 "one XdsClient shared by all channels").
//!
//! The handle is cheap to clone. It owns one stream task per distinct server list (see `group`):
//! the top-level `xds_servers`, started at once, and each federation authority's own list (gRFC
//! A47), started on its first watch; identical lists share one stream. Within a list the stream
//! falls back and reverts as gRFC A71 says (see `fallback`). Dropping the last handle stops every
//! task, and every watcher then sees the end of its stream. A watcher subscribes its resource on
//! creation and unsubscribes on drop when it was the last watcher of that name; a new watcher of a
//! cached resource gets the cached value at once. Flow control (Envoy xDS protocol, grpc-go's ADS
//! flow control): each watcher has a one-event buffer and the stream does not read the next
//! response until every watcher has room for the current one, so a watcher must be polled.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::authority;
use super::backoff::BackoffConfig;
use super::dump::ConfigDump;
use super::error::ClientError;
use super::event::WatchEvent;
use super::fallback::Server;
use super::group::{self, Group, Shared};
use super::metrics::{self, XdsClientMetrics};
use super::resource::ResourceKind;
use crate::bootstrap::{Bootstrap, XdsServer};
use crate::telemetry::{ResourceCount, XdsResourceSource};

/// Events a watcher can hold before the ADS stream waits for it (flow control).
const WATCHER_BUFFER: usize = 1;

/// Knobs of the client that tests and embedders may change.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Reconnect backoff (default: gRPC connection backoff).
    pub backoff: BackoffConfig,
    /// Seed of the jitter RNG; `None` picks one at random.
    pub rng_seed: Option<u64>,
    /// Timeout of one connection attempt to the control plane.
    pub connect_timeout: Duration,
    /// Overrides the does-not-exist timer of subscribed resources (`None`: gRFC A57's 15 s,
    /// or 30 s with the `resource_timer_is_transient_error` server feature). Meant for tests
    /// and embedders with unusual control planes; other gRPC clients use the defaults.
    pub resource_timeout: Option<Duration>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            backoff: BackoffConfig::default(),
            rng_seed: None,
            connect_timeout: Duration::from_secs(20),
            resource_timeout: None,
        }
    }
}

/// Where the ADS stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    /// Connecting or opening the stream.
    Connecting,
    /// The stream is up.
    Connected,
    /// Waiting before the next attempt after a failure.
    BackingOff,
}

/// Connection state plus the last failure, as shown to operators.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionStatus {
    /// Current state.
    pub state: ConnectionState,
    /// Why the last stream ended, if one did.
    pub last_error: Option<String>,
    /// The control plane in use or being tried: the primary, or a fallback (gRFC A71).
    pub server_uri: String,
    /// ADS streams tried so far (each connection attempt counts; channelz `calls_started`).
    pub streams_started: u64,
    /// ADS streams that have ended (failed, closed, or left for another server).
    pub streams_ended: u64,
    /// Whether the server in use has a working ADS stream (gRFC A57/A78): true from the first
    /// response on a stream until a stream ends without any response (connection failures
    /// included); false for a server that has not answered yet.
    pub working: bool,
}

/// A handle to the xDS client of a bootstrap's control planes. Clone freely; the streams stop
/// with the last handle.
#[derive(Clone, Debug)]
pub struct XdsClient {
    inner: Arc<Inner>,
}

/// Receives the [`WatchEvent`]s of one resource. Dropping it unsubscribes (when it was the last
/// watcher of that resource).
#[derive(Debug)]
pub struct ResourceWatcher {
    kind: ResourceKind,
    name: String,
    /// The name as subscribed (canonical for `xdstp` names).
    key: String,
    id: u64,
    events: mpsc::Receiver<WatchEvent>,
    shared: Weak<Shared>,
}

#[derive(Debug)]
struct Inner {
    bootstrap: Bootstrap,
    options: ClientOptions,
    runtime: Handle,
    /// The stream of the top-level `xds_servers`.
    default: Group,
    /// Authority server lists that differ from the top-level one, checked at creation.
    prepared: HashMap<Vec<XdsServer>, Vec<Server>>,
    /// Their streams, started on first use.
    others: Mutex<HashMap<Vec<XdsServer>, Group>>,
    /// Where the gRFC A78 metrics go, if anywhere.
    metrics: Option<XdsClientMetrics>,
}

/// Source of watcher ids, unique in the process.
static NEXT_WATCHER_ID: AtomicU64 = AtomicU64::new(0);

impl XdsClient {
    /// A client for the control planes of `bootstrap`, with default options. Must be called
    /// inside a tokio runtime; the stream to the top-level `xds_servers` starts at once, those of
    /// authorities with their own servers on their first watch.
    pub fn new(bootstrap: &Bootstrap) -> Result<Self, ClientError> {
        Self::with_options(bootstrap, ClientOptions::default())
    }

    /// A client with explicit options. Every server of the bootstrap, authorities' included, is
    /// checked now (URI usable, credential files readable). Records no metrics.
    pub fn with_options(
        bootstrap: &Bootstrap,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        Self::build(bootstrap, options, None)
    }

    /// [`XdsClient::with_options`] that records the gRFC A78 xDS client metrics into `metrics`:
    /// resource updates (valid / invalid), server failures, and the `grpc.xds_client.resources`
    /// gauge over the same cache [`XdsClient::config_dump`] reads.
    pub fn with_metrics(
        bootstrap: &Bootstrap,
        options: ClientOptions,
        metrics: XdsClientMetrics,
    ) -> Result<Self, ClientError> {
        let client = Self::build(bootstrap, options, Some(metrics.clone()))?;
        let inner: Weak<Inner> = Arc::downgrade(&client.inner);
        metrics
            .recorder()
            .watch_xds_resources(metrics.target(), inner);
        Ok(client)
    }

    fn build(
        bootstrap: &Bootstrap,
        options: ClientOptions,
        metrics: Option<XdsClientMetrics>,
    ) -> Result<Self, ClientError> {
        let runtime = Handle::try_current().map_err(|_| ClientError::NoRuntime)?;
        let top = group::prepare(bootstrap, &bootstrap.xds_servers, &options)?;
        let mut prepared = HashMap::new();
        for authority in bootstrap.authorities.values() {
            let list = &authority.xds_servers;
            if list.is_empty() || *list == bootstrap.xds_servers || prepared.contains_key(list) {
                continue;
            }
            prepared.insert(list.clone(), group::prepare(bootstrap, list, &options)?);
        }
        let default = Group::start(&runtime, top, &options, metrics.clone())?;
        Ok(XdsClient {
            inner: Arc::new(Inner {
                bootstrap: bootstrap.clone(),
                options,
                runtime,
                default,
                prepared,
                others: Mutex::new(HashMap::new()),
                metrics,
            }),
        })
    }

    /// Watch resource `name` of `kind`. If the client holds it already, the first event is the
    /// cached value. Names `xdstp://<authority>/...` are fetched from that authority's servers
    /// (gRFC A47); an authority missing from the bootstrap gives the watcher a
    /// [`WatchError::UnknownAuthority`](super::WatchError::UnknownAuthority) error at once.
    pub fn watch(&self, kind: ResourceKind, name: &str) -> ResourceWatcher {
        let (tx, events) = mpsc::channel(WATCHER_BUFFER);
        let id = NEXT_WATCHER_ID.fetch_add(1, Ordering::Relaxed);
        let placement = match authority::place(&self.inner.bootstrap, kind, name) {
            Ok(p) => p,
            Err(e) => {
                // The channel is new and empty: this cannot be full.
                let _ = tx.try_send(WatchEvent::Error(e));
                return ResourceWatcher {
                    kind,
                    name: name.to_string(),
                    key: name.to_string(),
                    id,
                    events,
                    shared: Weak::new(),
                };
            }
        };
        let shared = self.shared_for(&placement.servers);
        {
            let mut state = shared.lock();
            if let Some(first) = state.core.subscribe(kind, &placement.name, Instant::now()) {
                // The channel is new and empty: this cannot be full.
                let _ = tx.try_send(first);
            }
            state
                .watchers
                .entry((kind, placement.name.clone()))
                .or_default()
                .push((id, tx));
        }
        shared.wake.notify_one();
        ResourceWatcher {
            kind,
            name: name.to_string(),
            key: placement.name,
            id,
            events,
            shared: Arc::downgrade(&shared),
        }
    }

    /// The state of every subscribed resource.
    ///
    /// One dump for every stream: `node` and `server_uri` are those of the top-level servers'
    /// stream (the server in use, fallback included); `resources` holds the resources of every
    /// stream, authorities' included, ordered by kind then name.
    pub fn config_dump(&self) -> ConfigDump {
        let now = Instant::now();
        let mut dump = self.inner.default.shared.lock().core.config_dump(now);
        for group in self.inner.lock_others().values() {
            let other = group.shared.lock().core.config_dump(now);
            dump.resources.extend(other.resources);
        }
        dump.resources
            .sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
        dump
    }

    /// The connection state of the top-level servers' stream.
    pub fn connection_status(&self) -> ConnectionStatus {
        self.inner.default.status.borrow().clone()
    }

    /// A receiver that sees every connection state change of the top-level servers' stream.
    pub fn watch_connection(&self) -> watch::Receiver<ConnectionStatus> {
        self.inner.default.status.clone()
    }

    /// The connection state of every stream started so far, by server list (primary first).
    pub fn connection_statuses(&self) -> Vec<(Vec<XdsServer>, ConnectionStatus)> {
        let mut out = vec![(
            self.inner.bootstrap.xds_servers.clone(),
            self.connection_status(),
        )];
        for (servers, group) in self.inner.lock_others().iter() {
            out.push((servers.clone(), group.status.borrow().clone()));
        }
        out
    }

    /// The shared state of the stream serving `servers`, started if needed.
    fn shared_for(&self, servers: &[XdsServer]) -> Arc<Shared> {
        let inner = &self.inner;
        if servers == inner.bootstrap.xds_servers.as_slice() {
            return inner.default.shared.clone();
        }
        let mut others = inner.lock_others();
        if let Some(group) = others.get(servers) {
            return group.shared.clone();
        }
        let prepared = inner.prepared.get(servers).cloned().unwrap_or_default();
        match Group::start(
            &inner.runtime,
            prepared,
            &inner.options,
            inner.metrics.clone(),
        ) {
            Ok(group) => {
                let shared = group.shared.clone();
                others.insert(servers.to_vec(), group);
                shared
            }
            // Every authority's list was prepared at creation; only an empty one could fail, and
            // empty lists are served by the default group.
            Err(_) => inner.default.shared.clone(),
        }
    }
}

/// The `grpc.xds_client.resources` gauge reads every stream's cache (gRFC A78, A88).
impl XdsResourceSource for Inner {
    fn resource_counts(&self) -> Vec<ResourceCount> {
        let mut counts: HashMap<(String, &'static str, &'static str), u64> = HashMap::new();
        let mut add = |shared: &Shared| {
            let state = shared.lock();
            for (kind, name, status, cached) in state.core.resource_states() {
                let key = (
                    metrics::authority(name).to_string(),
                    metrics::cache_state(status, cached),
                    metrics::resource_type(kind),
                );
                *counts.entry(key).or_default() += 1;
            }
        };
        add(&self.default.shared);
        for group in self.lock_others().values() {
            add(&group.shared);
        }
        counts
            .into_iter()
            .map(
                |((authority, cache_state, resource_type), count)| ResourceCount {
                    authority,
                    cache_state,
                    resource_type,
                    count,
                },
            )
            .collect()
    }
}

impl Inner {
    fn lock_others(&self) -> MutexGuard<'_, HashMap<Vec<XdsServer>, Group>> {
        self.others.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ResourceWatcher {
    /// The next event; `None` once the client is gone.
    pub async fn next(&mut self) -> Option<WatchEvent> {
        self.events.recv().await
    }

    /// The kind watched.
    pub fn kind(&self) -> ResourceKind {
        self.kind
    }

    /// The name watched.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ResourceWatcher {
    fn drop(&mut self) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        {
            let mut state = shared.lock();
            let key = (self.kind, self.key.clone());
            let Some(list) = state.watchers.get_mut(&key) else {
                return;
            };
            list.retain(|(id, _)| *id != self.id);
            if !list.is_empty() {
                return;
            }
            state.watchers.remove(&key);
            state.core.unsubscribe(self.kind, &self.key, Instant::now());
        }
        shared.wake.notify_one();
    }
}

#[cfg(test)]
mod tests;
