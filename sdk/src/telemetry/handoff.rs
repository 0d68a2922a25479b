//! What a channel's call layer shares with its attempt layer.
//!
//! Both layers of one channel target record through the same [`ClientEntry`] per request path,
//! so they share one [`ClientState`] (target value and path cache): [`client_state`] hands every
//! layer built for the same target (same `Telemetry`) the same one. When the call layer's `call` reaches the attempt
//! layer's `call` synchronously (nothing in between waited), the call start *is* the first
//! attempt's start and the call's entry is the attempt's: [`offer`] puts both on offer for the
//! duration of the inner `call`, [`take`] takes them (once). An attempt that starts later (a
//! retry, or a stack that queues) finds nothing on offer and reads the clock and its cache
//! itself. Reusing one reading and one lookup is both cheaper and more consistent (an attempt
//! never starts before its call). This module records nothing.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use opentelemetry::Value;
use tokio::time::Instant;

use super::bound::PathCache;
use super::entries::ClientEntry;
use super::handle::{Inner, Telemetry};

/// What the call and attempt layers of one channel target share: the telemetry, the
/// `grpc.target` value and the per-path entry cache. Layers hold one `Arc` of it, so cloning a
/// layer's service (tower stacks do, per call) costs one reference count.
pub(crate) struct ClientState {
    pub(crate) telemetry: Arc<Inner>,
    pub(crate) target: Value,
    cache: PathCache<ClientEntry>,
}

impl ClientState {
    /// The entry of request path `path`.
    pub(crate) fn entry(&self, path: &str) -> Arc<ClientEntry> {
        let t = &self.telemetry;
        self.cache.get(
            path,
            |path| t.methods.attribute(path),
            |method| ClientEntry::new(t, method, self.target.clone()),
        )
    }
}

impl std::fmt::Debug for ClientState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientState")
            .field("target", &self.target.as_str())
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// Channel target → the state its call and attempt layers share.
#[derive(Default)]
pub(crate) struct ClientCaches(Mutex<HashMap<Box<str>, Weak<ClientState>>>);

impl ClientCaches {
    /// The state for `target`: the live one of an earlier layer, else a new one.
    fn get(&self, telemetry: &Arc<Inner>, target: &str) -> Arc<ClientState> {
        let mut states = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(state) = states.get(target).and_then(Weak::upgrade) {
            return state;
        }
        states.retain(|_, state| state.strong_count() > 0);
        let state = Arc::new(ClientState {
            telemetry: telemetry.clone(),
            target: Value::from(Arc::<str>::from(target)),
            cache: PathCache::new(),
        });
        states.insert(Box::from(target), Arc::downgrade(&state));
        state
    }
}

/// The shared client state of `target` under `telemetry`; `None` when it is disabled.
pub(crate) fn client_state(telemetry: &Telemetry, target: &str) -> Option<Arc<ClientState>> {
    telemetry.inner().map(|t| t.client_caches.get(t, target))
}

/// A call's start and entry, on offer to its first attempt.
pub(crate) struct Offer {
    /// When the call started.
    pub(crate) start: Instant,
    /// The state the entry came from (attempt layers of other targets must not use it).
    state: *const ClientState,
    entry: Arc<ClientEntry>,
}

thread_local! {
    static OFFER: Cell<Option<Offer>> = const { Cell::new(None) };
}

impl Offer {
    pub(crate) fn new(start: Instant, state: &Arc<ClientState>, entry: Arc<ClientEntry>) -> Self {
        Self {
            start,
            state: Arc::as_ptr(state),
            entry,
        }
    }

    /// The call's entry if it came from `state`.
    pub(crate) fn entry_for(self, state: &Arc<ClientState>) -> Option<Arc<ClientEntry>> {
        std::ptr::eq(self.state, Arc::as_ptr(state)).then_some(self.entry)
    }
}

/// Runs `f` with `offer` on offer to the first [`take`] inside it.
pub(crate) fn offer<R>(offer: Offer, f: impl FnOnce() -> R) -> R {
    let outer = OFFER.replace(Some(offer));
    let r = f();
    drop(OFFER.replace(outer));
    r
}

/// What an enclosing [`offer`] put on offer, once.
pub(crate) fn take() -> Option<Offer> {
    OFFER.take()
}
