//! The process's runtime fault rules: set, listed and cleared through the admin endpoint, read on
//! every RPC.
//!
//! Readers load an immutable `Arc<Vec<..>>` through `ArcSwap` (no lock on the request path);
//! writers (`set`, `clear`, expiry) take a mutex, build a new list and swap it in. Rules are
//! checked in the order they were set and the **first matching rule wins**. A matching runtime
//! rule also wins over the route's xDS fault policy: the operator's explicit, short-lived rule is
//! more specific than the control plane's standing config, so while it matches, the xDS policy is
//! not consulted for that RPC (even when the rule's draw injects nothing).
//!
//! Rules with a time-to-live remove themselves: an owned background task sleeps (tokio time)
//! until the next expiry, removes what is due and emits [`FaultEvent::Expired`]. Expired rules
//! are skipped on the request path even before the task runs, so the cut-off is exact. Dropping
//! the last registry handle stops the task. Every change is broadcast for the admin `Watch`
//! stream and logged (target `meshwork::fault`) as an audit trail.
//!
//! Faults from rules count in the same [`ActiveFaults`] gauge as xDS faults, capped by
//! [`FaultRegistryConfig::max_active_faults`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::codegen::http::HeaderMap;

use super::active::ActiveFaults;
use super::decision::FaultDecision;
use super::policy::FaultPolicy;
use super::rule::{FaultRule, FaultRuleError, FaultRuleSpec, RequestScope, RuleId};
use crate::route::RandomSource;
use crate::xds::resource::common::Fraction;

/// Limits of a registry.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultRegistryConfig {
    /// Most rules active at once; `set` beyond it fails. Default 64.
    pub max_rules: usize,
    /// Most RPCs under a rule's fault at once (`None` = no cap); beyond it RPCs run unfaulted,
    /// as A33's `max_active_faults`. Default 1024.
    pub max_active_faults: Option<u32>,
    /// Events buffered per `Watch` subscriber before a slow one starts missing them. Default 256.
    pub event_capacity: usize,
    /// Longest time-to-live a rule may ask for; `set` refuses longer ones
    /// ([`FaultRuleError::TtlTooLong`]) so a forgotten rule cannot outlive an incident by days.
    /// Rules without a ttl stay allowed (they live until cleared). Default 24 hours.
    pub max_ttl: Duration,
}

/// The default [`FaultRegistryConfig::max_ttl`]: 24 hours.
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// A change to the rule set, for the admin `Watch` stream.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultEvent {
    /// A rule was set.
    Set(FaultRule),
    /// A rule was cleared by request.
    Cleared(FaultRule),
    /// A rule's time-to-live ran out and it was removed.
    Expired(FaultRule),
}

/// The runtime fault rules of one `Mesh`. Cloning shares the rules.
#[derive(Clone, Debug)]
pub struct FaultRegistry {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    rules: ArcSwap<Vec<Arc<Entry>>>,
    writer: Mutex<Writer>,
    events: broadcast::Sender<FaultEvent>,
    active: ActiveFaults,
    config: FaultRegistryConfig,
    wake: Arc<Notify>,
}

#[derive(Debug, Default)]
struct Writer {
    next_id: u64,
    reaper: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Entry {
    id: RuleId,
    spec: FaultRuleSpec,
    share: Fraction,
    created_at: Instant,
    expires_at: Option<Instant>,
    matched: AtomicU64,
    injected: AtomicU64,
}

impl Default for FaultRegistryConfig {
    fn default() -> Self {
        FaultRegistryConfig {
            max_rules: 64,
            max_active_faults: Some(1024),
            event_capacity: 256,
            max_ttl: DEFAULT_MAX_TTL,
        }
    }
}

impl FaultRegistry {
    /// An empty registry counting its faults in `active` (pass [`ActiveFaults::process`] so
    /// runtime and xDS faults share the process-wide gauge).
    pub fn new(config: FaultRegistryConfig, active: ActiveFaults) -> Self {
        let (events, _) = broadcast::channel(config.event_capacity.max(1));
        FaultRegistry {
            inner: Arc::new(Inner {
                rules: ArcSwap::from_pointee(Vec::new()),
                writer: Mutex::new(Writer {
                    next_id: 1,
                    reaper: None,
                }),
                events,
                active,
                config,
                wake: Arc::new(Notify::new()),
            }),
        }
    }

    /// The gauge faults are counted in.
    pub fn active_faults(&self) -> &ActiveFaults {
        &self.inner.active
    }

    /// Rule changes from now on (set, cleared, expired).
    pub fn subscribe(&self) -> broadcast::Receiver<FaultEvent> {
        self.inner.events.subscribe()
    }

    /// Validates and installs a rule; it applies from the next RPC. Fails with the reason when
    /// the rule is invalid, its ttl exceeds [`FaultRegistryConfig::max_ttl`], or
    /// [`FaultRegistryConfig::max_rules`] are already active.
    pub fn set(&self, spec: FaultRuleSpec) -> Result<RuleId, FaultRuleError> {
        spec.validate()?;
        let max_ttl = self.inner.config.max_ttl;
        if let Some(got) = spec.ttl.filter(|ttl| *ttl > max_ttl) {
            return Err(FaultRuleError::TtlTooLong { got, max: max_ttl });
        }
        let mut w = self.inner.lock_writer();
        let now = Instant::now();
        self.inner.purge(now);
        let current = self.inner.rules.load();
        if current.len() >= self.inner.config.max_rules {
            return Err(FaultRuleError::TooManyRules {
                max: self.inner.config.max_rules,
            });
        }
        let id = RuleId(w.next_id);
        w.next_id += 1;
        let entry = Arc::new(Entry {
            id,
            share: Fraction::from_per_million(spec.per_million()),
            created_at: now,
            expires_at: spec.ttl.map(|ttl| now + ttl),
            spec,
            matched: AtomicU64::new(0),
            injected: AtomicU64::new(0),
        });
        let mut next = Vec::clone(&current);
        next.push(Arc::clone(&entry));
        self.inner.rules.store(Arc::new(next));
        let rule = entry.snapshot();
        tracing::info!(target: "meshwork::fault", id = %id, rule = ?rule.spec, "fault rule set");
        if entry.expires_at.is_some() {
            self.ensure_reaper(&mut w);
        }
        drop(w);
        let _ = self.inner.events.send(FaultEvent::Set(rule));
        Ok(id)
    }

    /// Removes a rule; RPCs from now on no longer see it.
    pub fn clear(&self, id: RuleId) -> Result<FaultRule, FaultRuleError> {
        let w = self.inner.lock_writer();
        self.inner.purge(Instant::now());
        let current = self.inner.rules.load();
        let Some(pos) = current.iter().position(|e| e.id == id) else {
            return Err(FaultRuleError::NotFound(id));
        };
        let mut next = Vec::clone(&current);
        let rule = next.remove(pos).snapshot();
        self.inner.rules.store(Arc::new(next));
        drop(w);
        self.inner.wake.notify_one();
        tracing::info!(target: "meshwork::fault", id = %id, "fault rule cleared");
        let _ = self.inner.events.send(FaultEvent::Cleared(rule.clone()));
        Ok(rule)
    }

    /// The active rules, in matching order, with their counters.
    pub fn list(&self) -> Vec<FaultRule> {
        let now = Instant::now();
        self.inner
            .rules
            .load()
            .iter()
            .filter(|e| e.live_at(now))
            .map(|e| e.snapshot())
            .collect()
    }

    /// The first live rule matching `scope` decides: `None` when no rule matches (the caller
    /// then applies its xDS policy), else that rule's draws (which may inject nothing).
    pub fn rule_decision(
        &self,
        scope: &RequestScope<'_>,
        rng: &mut impl RandomSource,
    ) -> Option<FaultDecision> {
        let rules = self.inner.rules.load();
        let now = Instant::now();
        let entry = rules
            .iter()
            .find(|e| e.live_at(now) && e.spec.scope.matches(scope))?;
        entry.matched.fetch_add(1, Ordering::Relaxed);
        // Independent draws for delay and abort (A33), each against the rule's share.
        let delay = entry.spec.delay.filter(|d| *d > Duration::ZERO);
        let delay = delay.filter(|_| entry.share.admits(rng.below(Fraction::MILLION)));
        let abort = entry.spec.abort;
        let abort = abort.filter(|_| entry.share.admits(rng.below(Fraction::MILLION)));
        if delay.is_none() && abort.is_none() {
            return Some(FaultDecision::none());
        }
        let Some(slot) = self
            .inner
            .active
            .try_acquire(self.inner.config.max_active_faults)
        else {
            return Some(FaultDecision::none());
        };
        entry.injected.fetch_add(1, Ordering::Relaxed);
        let status = abort.map(|code| {
            tonic::Status::new(code, format!("fault injected by runtime rule {}", entry.id))
        });
        Some(FaultDecision::new(delay, status).holding(slot))
    }

    /// The faults for one RPC: the first matching runtime rule if any, else the route's xDS
    /// policy (`None` when no fault filter applies) drawn against `headers`.
    pub fn decide(
        &self,
        scope: &RequestScope<'_>,
        xds: Option<&FaultPolicy>,
        headers: &HeaderMap,
        rng: &mut impl RandomSource,
    ) -> FaultDecision {
        if let Some(decision) = self.rule_decision(scope, rng) {
            return decision;
        }
        match xds {
            Some(policy) => policy.decide(headers, &self.inner.active, rng),
            None => FaultDecision::none(),
        }
    }

    /// Starts the expiry task if a runtime is at hand and it is not running. Without a runtime,
    /// expired rules are still skipped by readers and removed by the next `set` or `clear`.
    fn ensure_reaper(&self, w: &mut Writer) {
        if w.reaper.as_ref().is_some_and(|h| !h.is_finished()) {
            self.inner.wake.notify_one();
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let inner = Arc::downgrade(&self.inner);
            let wake = Arc::clone(&self.inner.wake);
            w.reaper = Some(rt.spawn(reap(inner, wake)));
        }
    }
}

/// Removes rules as their time-to-live runs out; ends when the registry is dropped.
async fn reap(inner: Weak<Inner>, wake: Arc<Notify>) {
    loop {
        let next = {
            let Some(inner) = inner.upgrade() else {
                return;
            };
            let _w = inner.lock_writer();
            inner.purge(Instant::now());
            inner.rules.load().iter().filter_map(|e| e.expires_at).min()
        };
        match next {
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = wake.notified() => {}
                }
            }
            None => wake.notified().await,
        }
    }
}

impl Inner {
    fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        // The writer state stays consistent even if a holder panicked: recover it.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Removes rules expired at `now` and announces them. Call with the writer lock held.
    fn purge(&self, now: Instant) {
        let current = self.rules.load();
        if current.iter().all(|e| e.live_at(now)) {
            return;
        }
        let (live, expired): (Vec<_>, Vec<_>) =
            current.iter().cloned().partition(|e| e.live_at(now));
        self.rules.store(Arc::new(live));
        for e in expired {
            let rule = e.snapshot();
            tracing::info!(target: "meshwork::fault", id = %rule.id, "fault rule expired");
            let _ = self.events.send(FaultEvent::Expired(rule));
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let w = self
            .writer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(task) = w.reaper.take() {
            task.abort();
        }
    }
}

impl Entry {
    fn live_at(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }

    fn snapshot(&self) -> FaultRule {
        FaultRule {
            id: self.id,
            spec: self.spec.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            matched: self.matched.load(Ordering::Relaxed),
            injected: self.injected.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests;
