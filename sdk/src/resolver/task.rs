//! The async shell of the resolver: one owned tokio task per target that holds the xDS watches
//! the [`DependencyCore`] asks for, feeds it their events and publishes its [`ResolverState`]
//! through a `watch` channel (gRFC A74's XdsDependencyManager watcher, as a channel).
//!
//! The task polls every watcher it holds, which the ADS client's flow control requires. Dropping
//! the [`ResolverHandle`] stops the task and drops all its watches. This module makes no routing
//! decision; everything about the tree lives in the core.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_stream::{StreamExt, StreamMap};

use super::core::{Actions, DependencyCore, ResourceKey};
use super::error::ResolveError;
use super::snapshot::{ResolverState, Snapshot};
use crate::bootstrap::Bootstrap;
use crate::xds::{WatchEvent, XdsClient};

/// Starts resolvers.
#[derive(Debug)]
pub struct Resolver;

/// A running resolver for one target. Dropping it stops the resolver and its watches.
#[derive(Debug)]
pub struct ResolverHandle {
    state: watch::Receiver<ResolverState>,
    listener_name: String,
    server_uri: String,
    task: JoinHandle<()>,
}

type EventStream = Pin<Box<dyn Stream<Item = WatchEvent> + Send>>;

impl Resolver {
    /// Resolve `target` (`xds:///host:port`, or with an authority) through `client`. The Listener
    /// name and the authority used for virtual-host selection come from
    /// [`Bootstrap::listener_for_target`]. Must be called inside a tokio runtime.
    pub fn start(
        client: XdsClient,
        bootstrap: &Bootstrap,
        target: &str,
    ) -> Result<ResolverHandle, ResolveError> {
        let listener = bootstrap.listener_for_target(target)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ResolveError::NoRuntime)?;
        let server_uri = listener
            .xds_servers
            .first()
            .or(bootstrap.xds_servers.first())
            .map(|s| s.server_uri.clone())
            .unwrap_or_default();
        let (core, first) =
            DependencyCore::new(&listener.listener_name, &listener.data_plane_authority);
        let (tx, state) = watch::channel(core.state().clone());
        let task = runtime.spawn(run(client, core, first, tx));
        Ok(ResolverHandle {
            state,
            listener_name: listener.listener_name,
            server_uri,
            task,
        })
    }
}

impl ResolverHandle {
    /// The Listener resource this resolver follows.
    pub fn listener_name(&self) -> &str {
        &self.listener_name
    }

    /// A receiver that sees every state change.
    pub fn subscribe(&self) -> watch::Receiver<ResolverState> {
        self.state.clone()
    }

    /// The current state.
    pub fn state(&self) -> ResolverState {
        self.state.borrow().clone()
    }

    /// The last good snapshot, if any.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.state.borrow().snapshot.clone()
    }

    /// Waits up to `timeout` for a complete snapshot. Returns early with the error when the
    /// Listener or RouteConfiguration is known to be unusable (does not exist, rejected) or no
    /// virtual host matches; transient errors (control plane unreachable) are waited out. On
    /// timeout the error names the first missing resource.
    pub async fn wait_for_snapshot(
        &self,
        timeout: Duration,
    ) -> Result<Arc<Snapshot>, ResolveError> {
        let deadline = Instant::now() + timeout;
        let mut rx = self.state.clone();
        loop {
            {
                let state = rx.borrow_and_update();
                if let Some(snapshot) = &state.snapshot {
                    return Ok(snapshot.clone());
                }
                if let Some(error) = state.error.as_ref().filter(|e| !e.is_transient()) {
                    return Err(error.clone());
                }
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    return Err(ResolveError::Stopped {
                        listener: self.listener_name.clone(),
                    });
                }
                Err(_) => return Err(self.timeout_error(&rx.borrow(), timeout)),
            }
        }
    }

    fn timeout_error(&self, state: &ResolverState, after: Duration) -> ResolveError {
        if let Some(error) = &state.error {
            return error.clone();
        }
        let (kind, name) = state.waiting_for.first().cloned().unwrap_or((
            crate::xds::resource::ResourceKind::Listener,
            self.listener_name.clone(),
        ));
        ResolveError::Timeout {
            listener: self.listener_name.clone(),
            kind,
            name,
            missing_count: state.waiting_for.len().max(1),
            server: self.server_uri.clone(),
            after,
        }
    }
}

impl Drop for ResolverHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The resolver task: ends when every receiver of the state is gone (or when aborted).
async fn run(
    client: XdsClient,
    mut core: DependencyCore,
    first: Actions,
    tx: watch::Sender<ResolverState>,
) {
    let mut watches: StreamMap<ResourceKey, EventStream> = StreamMap::new();
    apply(&client, &mut watches, first, &core, &tx);
    loop {
        tokio::select! {
            next = watches.next() => {
                let Some(((kind, name), event)) = next else {
                    // Not reachable while the Listener is watched; nothing left to do otherwise.
                    return;
                };
                let actions = core.on_event(kind, &name, event);
                apply(&client, &mut watches, actions, &core, &tx);
            }
            () = tx.closed() => return,
        }
    }
}

/// Starts and stops watches, then publishes the state if it changed, so that a consumer who sees
/// a new snapshot also sees the old resources unwatched.
fn apply(
    client: &XdsClient,
    watches: &mut StreamMap<ResourceKey, EventStream>,
    actions: Actions,
    core: &DependencyCore,
    tx: &watch::Sender<ResolverState>,
) {
    for key in &actions.unwatch {
        watches.remove(key);
    }
    for key in actions.watch {
        let watcher = client.watch(key.0, &key.1);
        let stream = futures::stream::unfold(watcher, |mut w| async move {
            w.next().await.map(|event| (event, w))
        });
        watches.insert(key, Box::pin(stream));
    }
    if actions.state_changed {
        tracing::debug!(state = ?core.state().error, waiting = ?core.state().waiting_for, "xds resolver state changed");
        tx.send_replace(core.state().clone());
    }
}

#[cfg(test)]
mod tests;
