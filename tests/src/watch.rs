//! Bounded waits on what an [`XdsClient`] tells its users: watcher events and connection state.
//!
//! Every wait takes a bound and, on expiry, says what it waited for and what it saw instead, so a
//! failing end-to-end test explains itself. [`WatchLog`] drains a watcher on a task of its own:
//! the client's flow control (one buffered event per watcher, the ADS stream waits for room) then
//! never stalls on a test that is busy waiting for something else. No I/O of its own, no sleeps.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use meshwork::xds::resource::{
    Cluster, ClusterLoadAssignment, Listener, Resource, RouteConfiguration,
};
use meshwork::xds::{ConnectionStatus, ResourceWatcher, WatchEvent, XdsClient};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Waits for the next event of `watcher` for which `pick` returns a value, skipping the others.
///
/// Fails when `timeout` passes first or the client goes away; the error lists the skipped events.
pub async fn wait_for_event<T>(
    watcher: &mut ResourceWatcher,
    timeout: Duration,
    mut pick: impl FnMut(&WatchEvent) -> Option<T>,
) -> Result<T> {
    let mut skipped = Vec::new();
    let found = tokio::time::timeout(timeout, async {
        while let Some(event) = watcher.next().await {
            if let Some(value) = pick(&event) {
                return Some(value);
            }
            skipped.push(event);
        }
        None
    })
    .await;
    match found {
        Ok(Some(value)) => Ok(value),
        Ok(None) => bail!(
            "watcher of {} `{}` ended (client dropped) before the awaited event; saw {skipped:#?}",
            watcher.kind(),
            watcher.name()
        ),
        Err(_) => bail!(
            "no awaited event for {} `{}` within {timeout:?}; saw {skipped:#?}",
            watcher.kind(),
            watcher.name()
        ),
    }
}

/// Every event of one watcher, recorded by a task that always keeps the watcher drained.
/// Dropping the log drops the watcher (which unsubscribes its resource if it was the last one).
#[derive(Debug)]
pub struct WatchLog {
    what: String,
    events: watch::Receiver<Vec<WatchEvent>>,
    cursor: usize,
    task: JoinHandle<()>,
}

impl WatchLog {
    /// Starts draining `watcher` into a log.
    pub fn new(mut watcher: ResourceWatcher) -> WatchLog {
        let what = format!("{} `{}`", watcher.kind(), watcher.name());
        let (tx, events) = watch::channel(Vec::new());
        let task = tokio::spawn(async move {
            while let Some(event) = watcher.next().await {
                tx.send_modify(|log| log.push(event));
            }
        });
        WatchLog {
            what,
            events,
            cursor: 0,
            task,
        }
    }

    /// Waits for the first event after the ones already consumed for which `pick` returns a
    /// value, and consumes everything up to it.
    pub async fn wait_for<T>(
        &mut self,
        timeout: Duration,
        mut pick: impl FnMut(&WatchEvent) -> Option<T>,
    ) -> Result<T> {
        let start = self.cursor;
        let mut found = None;
        let waited = tokio::time::timeout(
            timeout,
            self.events.wait_for(|log| {
                found = log
                    .iter()
                    .enumerate()
                    .skip(start)
                    .find_map(|(i, e)| pick(e).map(|v| (i, v)));
                found.is_some()
            }),
        )
        .await
        .is_ok_and(|r| r.is_ok());
        match (waited, found) {
            (true, Some((index, value))) => {
                self.cursor = index + 1;
                Ok(value)
            }
            _ => Err(anyhow!(
                "no awaited event for {} within {timeout:?}; events since the last match: {:#?}",
                self.what,
                &self.events.borrow()[start..]
            )),
        }
    }

    /// Every event recorded so far, consumed or not.
    pub fn all(&self) -> Vec<WatchEvent> {
        self.events.borrow().clone()
    }
}

impl Drop for WatchLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits until the client's connection status satisfies `done`; returns that status.
pub async fn wait_for_connection(
    client: &XdsClient,
    timeout: Duration,
    mut done: impl FnMut(&ConnectionStatus) -> bool,
) -> Result<ConnectionStatus> {
    let mut rx = client.watch_connection();
    let waited = tokio::time::timeout(timeout, rx.wait_for(|s| done(s))).await;
    match waited {
        Ok(Ok(status)) => Ok(status.clone()),
        _ => bail!(
            "connection status did not reach the awaited state within {timeout:?}; it is {:?}",
            client.connection_status()
        ),
    }
}

/// The new value a [`WatchEvent::Changed`] carries.
pub fn changed(event: &WatchEvent) -> Option<&Resource> {
    match event {
        WatchEvent::Changed(resource) => Some(resource),
        _ => None,
    }
}

/// The Listener of a [`WatchEvent::Changed`].
pub fn listener(event: &WatchEvent) -> Option<Arc<Listener>> {
    match changed(event)? {
        Resource::Listener(l) => Some(l.clone()),
        _ => None,
    }
}

/// The RouteConfiguration of a [`WatchEvent::Changed`].
pub fn route_configuration(event: &WatchEvent) -> Option<Arc<RouteConfiguration>> {
    match changed(event)? {
        Resource::RouteConfiguration(r) => Some(r.clone()),
        _ => None,
    }
}

/// The Cluster of a [`WatchEvent::Changed`].
pub fn cluster(event: &WatchEvent) -> Option<Arc<Cluster>> {
    match changed(event)? {
        Resource::Cluster(c) => Some(c.clone()),
        _ => None,
    }
}

/// The ClusterLoadAssignment of a [`WatchEvent::Changed`].
pub fn load_assignment(event: &WatchEvent) -> Option<Arc<ClusterLoadAssignment>> {
    match changed(event)? {
        Resource::ClusterLoadAssignment(c) => Some(c.clone()),
        _ => None,
    }
}
