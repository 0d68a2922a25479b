//! What a channel's call layer shares with its attempt layer.
//!
//! Both layers of one channel target record through the same [`ClientEntry`] per request path,
//! so they share one path cache: [`ClientCaches::get`] hands every layer built for the same
//! target (same `Telemetry`) the same cache. When the call layer's `call` reaches the attempt
//! layer's `call` synchronously (nothing in between waited), the call start *is* the first
//! attempt's start and the call's entry is the attempt's: [`offer`] puts both on offer for the
//! duration of the inner `call`, [`take`] takes them (once). An attempt that starts later (a
//! retry, or a stack that queues) finds nothing on offer and reads the clock and its cache
//! itself. Reusing one reading and one lookup is both cheaper and more consistent (an attempt
//! never starts before its call). This module records nothing.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::time::Instant;

use super::bound::PathCache;
use super::entries::ClientEntry;
use super::handle::Telemetry;

/// The path cache of a channel target's client entries.
pub(crate) type ClientCache = PathCache<ClientEntry>;

/// Channel target → the client entry cache its call and attempt layers share.
#[derive(Default)]
pub(crate) struct ClientCaches(Mutex<HashMap<Box<str>, Weak<ClientCache>>>);

impl ClientCaches {
    /// The cache for `target`: the live one of an earlier layer, else a new one.
    pub(crate) fn get(&self, target: &str) -> Arc<ClientCache> {
        let mut caches = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(cache) = caches.get(target).and_then(Weak::upgrade) {
            return cache;
        }
        caches.retain(|_, cache| cache.strong_count() > 0);
        let cache = Arc::new(PathCache::new());
        caches.insert(Box::from(target), Arc::downgrade(&cache));
        cache
    }
}

/// The shared client cache of `target` under `telemetry` (a private one when it is disabled:
/// nothing is recorded then).
pub(crate) fn client_cache(telemetry: &Telemetry, target: &str) -> Arc<ClientCache> {
    match telemetry.inner() {
        Some(t) => t.client_caches.get(target),
        None => Arc::new(PathCache::new()),
    }
}

/// A call's start and entry, on offer to its first attempt.
pub(crate) struct Offer {
    /// When the call started.
    pub(crate) start: Instant,
    /// The cache the entry came from (attempt layers of other targets must not use it).
    cache: *const ClientCache,
    entry: Arc<ClientEntry>,
}

thread_local! {
    static OFFER: Cell<Option<Offer>> = const { Cell::new(None) };
}

impl Offer {
    pub(crate) fn new(start: Instant, cache: &Arc<ClientCache>, entry: Arc<ClientEntry>) -> Self {
        Self {
            start,
            cache: Arc::as_ptr(cache),
            entry,
        }
    }

    /// The call's entry if it came from `cache`.
    pub(crate) fn entry_for(self, cache: &Arc<ClientCache>) -> Option<Arc<ClientEntry>> {
        std::ptr::eq(self.cache, Arc::as_ptr(cache)).then_some(self.entry)
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
