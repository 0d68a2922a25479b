//! `XdsClient`: the process-wide handle to one ADS stream, with the watch API, connection state
//! and config dump (gRFC A27 "one XdsClient, one ADS stream shared by all channels").
//!
//! The handle is cheap to clone. It owns the stream task (see `transport`): dropping the last
//! handle stops it, and every watcher then sees the end of its stream. A watcher subscribes its
//! resource on creation and unsubscribes on drop when it was the last watcher of that name; a new
//! watcher of a cached resource gets the cached value at once. Flow control (Envoy xDS protocol,
//! grpc-go's ADS flow control): each watcher has a one-event buffer and the stream does not read
//! the next response until every watcher has room for the current one, so a watcher must be
//! polled. Not done: fallback to later `xds_servers` (A71), TLS toward the control plane (A65).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::backoff::{Backoff, BackoffConfig};
use super::channel::ServerChannel;
use super::core::{AdsCore, CoreConfig};
use super::dump::ConfigDump;
use super::error::ClientError;
use super::event::WatchEvent;
use super::resource::ResourceKind;
use crate::bootstrap::Bootstrap;

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
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            backoff: BackoffConfig::default(),
            rng_seed: None,
            connect_timeout: Duration::from_secs(20),
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
}

/// A handle to the xDS client of one control plane. Clone freely; the stream stops with the
/// last handle.
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
    id: u64,
    events: mpsc::Receiver<WatchEvent>,
    shared: Weak<Shared>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    status: watch::Receiver<ConnectionStatus>,
    task: JoinHandle<()>,
}

/// State shared by the handles, the watchers and the stream task.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Wakes the stream task when the core queued requests outside of it.
    pub(crate) wake: Notify,
}

/// One watcher's id and event sender.
pub(crate) type WatcherSlot = (u64, mpsc::Sender<WatchEvent>);

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) core: AdsCore,
    pub(crate) watchers: HashMap<(ResourceKind, String), Vec<WatcherSlot>>,
    next_id: u64,
}

impl XdsClient {
    /// A client for the first xds server of `bootstrap`, with default options. Must be called
    /// inside a tokio runtime; the stream starts at once.
    pub fn new(bootstrap: &Bootstrap) -> Result<Self, ClientError> {
        Self::with_options(bootstrap, ClientOptions::default())
    }

    /// A client with explicit options.
    pub fn with_options(
        bootstrap: &Bootstrap,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        let server = bootstrap.xds_servers.first().ok_or(ClientError::NoServer)?;
        let channel = ServerChannel::new(server, options.connect_timeout)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ClientError::NoRuntime)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                core: AdsCore::new(CoreConfig::new(bootstrap, server)),
                watchers: HashMap::new(),
                next_id: 0,
            }),
            wake: Notify::new(),
        });
        let (status_tx, status) = watch::channel(ConnectionStatus {
            state: ConnectionState::Connecting,
            last_error: None,
        });
        let rng = options
            .rng_seed
            .map(fastrand::Rng::with_seed)
            .unwrap_or_default();
        let backoff = Backoff::new(options.backoff, rng);
        let task = runtime.spawn(super::transport::run(
            shared.clone(),
            channel,
            status_tx,
            backoff,
        ));
        Ok(XdsClient {
            inner: Arc::new(Inner {
                shared,
                status,
                task,
            }),
        })
    }

    /// Watch resource `name` of `kind`. If the client holds it already, the first event is the
    /// cached value.
    pub fn watch(&self, kind: ResourceKind, name: &str) -> ResourceWatcher {
        let shared = &self.inner.shared;
        let (tx, events) = mpsc::channel(WATCHER_BUFFER);
        let id = {
            let mut state = shared.lock();
            let id = state.next_id;
            state.next_id += 1;
            if let Some(first) = state.core.subscribe(kind, name, Instant::now()) {
                // The channel is new and empty: this cannot be full.
                let _ = tx.try_send(first);
            }
            state
                .watchers
                .entry((kind, name.to_string()))
                .or_default()
                .push((id, tx));
            id
        };
        shared.wake.notify_one();
        ResourceWatcher {
            kind,
            name: name.to_string(),
            id,
            events,
            shared: Arc::downgrade(shared),
        }
    }

    /// The state of every subscribed resource.
    pub fn config_dump(&self) -> ConfigDump {
        self.inner.shared.lock().core.config_dump(Instant::now())
    }

    /// The current connection state.
    pub fn connection_status(&self) -> ConnectionStatus {
        self.inner.status.borrow().clone()
    }

    /// A receiver that sees every connection state change.
    pub fn watch_connection(&self) -> watch::Receiver<ConnectionStatus> {
        self.inner.status.clone()
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
            let key = (self.kind, self.name.clone());
            let Some(list) = state.watchers.get_mut(&key) else {
                return;
            };
            list.retain(|(id, _)| *id != self.id);
            if !list.is_empty() {
                return;
            }
            state.watchers.remove(&key);
            state
                .core
                .unsubscribe(self.kind, &self.name, Instant::now());
        }
        shared.wake.notify_one();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Shared {
    /// Lock the state. A panic while holding the lock cannot leave the core half-updated in a way
    /// that matters more than stopping, so a poisoned lock is used as is.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests;
