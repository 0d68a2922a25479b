//! The sans-io dependency manager of gRFC A74: it is told what the ADS client said about each
//! watched resource and answers which resources to watch or stop watching, and what the
//! [`ResolverState`] is now (publishing a new [`Snapshot`](super::Snapshot) only when the tree is complete).
//!
//! The tree is Listener → RouteConfiguration (RDS, or inline) → virtual host (A28) → clusters
//! named by its routes → for each cluster its EDS resource, its LOGICAL_DNS host, or its aggregate
//! children (A37/A75, flattened by [`super::aggregate`]). Rules:
//! - a snapshot is published only when every resource of the tree has a value or an error;
//!   an unchanged configuration publishes nothing;
//! - errors of the Listener, the RouteConfiguration or virtual host selection are whole-config
//!   errors: the snapshot is cleared (RPCs should fail) and only the Listener (and route
//!   configuration) stay watched; errors of clusters and endpoints are recorded per cluster;
//! - an ambient error (A88: a cached value keeps serving) changes nothing but the error list;
//! - make before break: resources of the last published snapshot stay watched until the next
//!   snapshot is published (or a whole-config error clears it), so a half-known new config never
//!   costs the cached old one.
//!
//! It does no I/O, holds no clock and never blocks; the async shell is `super::task`. Not done:
//! dynamic cluster subscriptions (A74's cluster specifier plugins), DNS resolution.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::snapshot::{ResolverState, ResourceError};
use crate::xds::resource::{Resource, ResourceKind};
use crate::xds::{WatchError, WatchEvent};

mod walk;

use walk::{Outcome, Walker};

/// A watched resource: its kind and name.
pub type ResourceKey = (ResourceKind, String);

/// What the shell must do after the core took an event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Actions {
    /// Start watching these.
    pub watch: Vec<ResourceKey>,
    /// Stop watching these.
    pub unwatch: Vec<ResourceKey>,
    /// [`DependencyCore::state`] differs from before the event: publish it.
    pub state_changed: bool,
}

/// The dependency manager of one target.
#[derive(Debug)]
pub struct DependencyCore {
    listener_name: String,
    authority: String,
    /// One entry per watched resource (its keys are the watch set).
    entries: BTreeMap<ResourceKey, Entry>,
    /// What the last published snapshot needs watched.
    retained: BTreeSet<ResourceKey>,
    state: ResolverState,
    generation: u64,
}

/// What is known about one watched resource: nothing yet, a value, an error, or both (ambient).
#[derive(Clone, Debug, Default)]
struct Entry {
    value: Option<Resource>,
    error: Option<WatchError>,
}

impl DependencyCore {
    /// A core for Listener `listener_name`, selecting virtual hosts for `authority` (the target's
    /// `host:port`). The returned actions start the Listener watch.
    pub fn new(listener_name: &str, authority: &str) -> (Self, Actions) {
        let mut core = DependencyCore {
            listener_name: listener_name.to_string(),
            authority: authority.to_string(),
            entries: BTreeMap::new(),
            retained: BTreeSet::new(),
            state: ResolverState::default(),
            generation: 0,
        };
        let actions = core.recompute();
        (core, actions)
    }

    /// The current state (last good snapshot, errors, what is awaited).
    pub fn state(&self) -> &ResolverState {
        &self.state
    }

    /// The resources watched now, in LDS → RDS → CDS → EDS order.
    pub fn watched(&self) -> impl Iterator<Item = &ResourceKey> {
        self.entries.keys()
    }

    /// The ADS client reported `event` for `(kind, name)`. Events for resources not watched (late
    /// ones after an unwatch) are ignored.
    pub fn on_event(&mut self, kind: ResourceKind, name: &str, event: WatchEvent) -> Actions {
        let Some(entry) = self.entries.get_mut(&(kind, name.to_string())) else {
            return Actions::default();
        };
        match event {
            WatchEvent::Changed(resource) if resource.kind() == kind => {
                entry.value = Some(resource);
                entry.error = None;
            }
            // A value of another kind cannot come from the client; keep what we had.
            WatchEvent::Changed(_) => return Actions::default(),
            WatchEvent::DoesNotExist(error) | WatchEvent::Error(error) => {
                entry.value = None;
                entry.error = Some(error);
            }
            WatchEvent::AmbientError(error) => entry.error = Some(error),
        }
        self.recompute()
    }

    /// Walk the tree, update the state and the watch set.
    fn recompute(&mut self) -> Actions {
        let mut walker = Walker::new(&self.entries);
        let outcome = walker.walk(&self.listener_name, &self.authority);
        let Walker {
            wanted, pending, ..
        } = walker;
        let mut state = ResolverState {
            snapshot: self.state.snapshot.clone(),
            ..ResolverState::default()
        };
        match outcome {
            Outcome::Complete(mut candidate) => {
                let same = state
                    .snapshot
                    .as_ref()
                    .is_some_and(|s| s.same_config(&candidate));
                if !same {
                    self.generation += 1;
                    candidate.generation = self.generation;
                    state.snapshot = Some(Arc::new(candidate));
                }
                self.retained = wanted.clone();
            }
            Outcome::Waiting => state.waiting_for = pending.into_iter().collect(),
            Outcome::Failed(error) => {
                state.snapshot = None;
                state.error = Some(error);
                self.retained.clear();
            }
        }
        let target: BTreeSet<ResourceKey> = wanted.union(&self.retained).cloned().collect();
        let mut actions = Actions::default();
        self.entries.retain(|key, _| {
            let keep = target.contains(key);
            if !keep {
                actions.unwatch.push(key.clone());
            }
            keep
        });
        for key in target {
            if let std::collections::btree_map::Entry::Vacant(slot) = self.entries.entry(key) {
                actions.watch.push(slot.key().clone());
                slot.insert(Entry::default());
            }
        }
        state.resource_errors = self
            .entries
            .iter()
            .filter_map(|((kind, name), entry)| {
                entry.error.as_ref().map(|error| ResourceError {
                    kind: *kind,
                    name: name.clone(),
                    error: error.clone(),
                    ambient: entry.value.is_some(),
                })
            })
            .collect();
        actions.state_changed = state != self.state;
        self.state = state;
        actions
    }
}

#[cfg(test)]
mod tests;
