//! One ADS stream and its state: the protocol core, the watchers of the names it serves, the
//! connection status and the stream task, for one ordered list of control planes (primary first,
//! then fallbacks, gRFC A71). The client keeps one group per distinct list, so every authority
//! whose servers are configured identically shares one stream (gRFC A47).
//!
//! Does not route names to groups (that is `authority`) nor pick the server in the list (that is
//! `fallback`, run by `transport`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::runtime::Handle;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use super::backoff::Backoff;
use super::channel::ServerChannel;
use super::client::{ClientOptions, ConnectionState, ConnectionStatus};
use super::core::{AdsCore, CoreConfig};
use super::error::ClientError;
use super::event::WatchEvent;
use super::fallback::Server;
use super::metrics::XdsClientMetrics;
use super::resource::ResourceKind;
use crate::bootstrap::{Bootstrap, XdsServer};

/// State shared by the handles, the watchers and the stream task.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Wakes the stream task when the core queued requests outside of it.
    pub(crate) wake: Notify,
}

/// One watcher's id and event sender.
pub(crate) type WatcherSlot = (u64, mpsc::Sender<WatchEvent>);

/// The protocol core and the watchers of one stream.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) core: AdsCore,
    pub(crate) watchers: HashMap<(ResourceKind, String), Vec<WatcherSlot>>,
}

/// A running stream over one server list.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) shared: Arc<Shared>,
    pub(crate) status: watch::Receiver<ConnectionStatus>,
    task: JoinHandle<()>,
}

/// The servers of a list, checked (URIs usable, credential files readable) but not started.
pub(crate) fn prepare(
    bootstrap: &Bootstrap,
    servers: &[XdsServer],
    options: &ClientOptions,
) -> Result<Vec<Server>, ClientError> {
    if servers.is_empty() {
        return Err(ClientError::NoServer);
    }
    servers
        .iter()
        .map(|server| {
            let mut core_config = CoreConfig::new(bootstrap, server);
            if let Some(timeout) = options.resource_timeout {
                core_config.resource_timeout = timeout;
            }
            Ok(Server {
                channel: ServerChannel::new(server, options.connect_timeout)?,
                core_config,
            })
        })
        .collect()
}

impl Group {
    /// Start the stream task for `servers` on `runtime`, recording into `metrics` if given.
    pub(crate) fn start(
        runtime: &Handle,
        servers: Vec<Server>,
        options: &ClientOptions,
        metrics: Option<XdsClientMetrics>,
    ) -> Result<Self, ClientError> {
        let primary = servers.first().ok_or(ClientError::NoServer)?;
        let (config, uri) = (
            primary.core_config.clone(),
            primary.channel.uri().to_string(),
        );
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                core: AdsCore::new(config),
                watchers: HashMap::new(),
            }),
            wake: Notify::new(),
        });
        let (status_tx, status) = watch::channel(ConnectionStatus {
            state: ConnectionState::Connecting,
            last_error: None,
            server_uri: uri,
            streams_started: 0,
            streams_ended: 0,
            working: false,
        });
        let seed = options.rng_seed;
        let rng = || seed.map(fastrand::Rng::with_seed).unwrap_or_default();
        let backoff = Backoff::new(options.backoff, rng());
        let probe_backoff = Backoff::new(options.backoff, rng());
        let task = runtime.spawn(super::transport::run(
            shared.clone(),
            servers,
            status_tx,
            backoff,
            probe_backoff,
            metrics,
        ));
        Ok(Group {
            shared,
            status,
            task,
        })
    }
}

impl Drop for Group {
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
