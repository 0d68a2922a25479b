//! What a channel's call layer shares with its attempt layer.
//!
//! Both layers of one channel target record through the same [`ClientEntry`] per request path,
//! so they share one [`ClientState`] (target value and path cache): [`client_state`] hands every
//! layer built for the same target (same `Telemetry`) the same one. When the call layer's `call`
//! reaches the attempt layer's `call` synchronously (nothing in between waited), the call start
//! *is* the first attempt's start and the call's entry is the attempt's: [`offer`] puts both on offer for the
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

/// Runs `f` with `offer` on offer to the first [`take`] inside it. The enclosing offer (if any)
/// is back in place when `f` returns or unwinds, so nothing outlives its scope.
pub(crate) fn offer<R>(offer: Offer, f: impl FnOnce() -> R) -> R {
    /// Restores the enclosing offer on drop.
    struct Restore(Option<Offer>);
    impl Drop for Restore {
        fn drop(&mut self) {
            drop(OFFER.replace(self.0.take()));
        }
    }
    let _restore = Restore(OFFER.replace(Some(offer)));
    f()
}

/// What an enclosing [`offer`] put on offer, once.
pub(crate) fn take() -> Option<Offer> {
    OFFER.take()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(t: &Telemetry, target: &str) -> Arc<ClientState> {
        client_state(t, target).expect("telemetry is on")
    }

    #[tokio::test(start_paused = true)]
    async fn an_offer_is_taken_once_inside_its_scope_and_gone_after_a_panic() {
        let t = Telemetry::builder().build().expect("telemetry builds");
        let (mine, other) = (state(&t, "dns:///a:1"), state(&t, "dns:///b:1"));
        let entry = mine.entry("/pkg.S/M");
        let start = Instant::now();
        let (first, second) = offer(Offer::new(start, &mine, entry.clone()), || (take(), take()));
        let first = first.expect("on offer inside the scope");
        assert_eq!(first.start, start);
        assert!(second.is_none(), "taken once");
        let taken = first.entry_for(&mine).expect("same state");
        assert!(Arc::ptr_eq(&taken, &entry));
        let foreign = offer(Offer::new(start, &mine, entry.clone()), take);
        assert!(foreign.and_then(|o| o.entry_for(&other)).is_none());
        assert!(take().is_none(), "nothing outside a scope");
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            offer(Offer::new(start, &mine, entry.clone()), || {
                panic!("inner call panicked")
            })
        }));
        assert!(unwound.is_err());
        assert!(take().is_none(), "a panic does not leave the offer behind");
    }
}
