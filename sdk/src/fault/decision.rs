//! What to inject into one RPC: an optional delay, then an optional abort (gRFC A33 order: the
//! delay happens before any traffic, the abort after the delay and before any traffic).
//!
//! A decision that injects anything holds an [`ActiveFault`] slot, so the A33 active-fault gauge
//! counts the RPC until the decision is dropped (after the delay and abort are done). It does
//! not apply itself; [`FaultLayer`](super::FaultLayer) does.

use std::time::Duration;

use super::active::ActiveFault;

/// The faults chosen for one RPC.
#[derive(Debug, Default)]
pub struct FaultDecision {
    /// Wait this long before sending anything.
    pub delay: Option<Duration>,
    /// Then fail the RPC with this status instead of sending it.
    pub abort: Option<tonic::Status>,
    slot: Option<ActiveFault>,
}

impl FaultDecision {
    /// No fault: the RPC proceeds untouched.
    pub fn none() -> Self {
        Self::default()
    }

    /// A decision with the given faults, not counted in any active-fault gauge.
    pub fn new(delay: Option<Duration>, abort: Option<tonic::Status>) -> Self {
        FaultDecision {
            delay,
            abort,
            slot: None,
        }
    }

    /// Attaches the active-fault slot this RPC holds until the decision is dropped.
    pub fn holding(mut self, slot: ActiveFault) -> Self {
        self.slot = Some(slot);
        self
    }

    /// Whether this decision holds an active-fault slot.
    pub fn is_counted(&self) -> bool {
        self.slot.is_some()
    }

    /// Whether nothing is injected.
    pub fn is_none(&self) -> bool {
        self.delay.is_none() && self.abort.is_none()
    }

    /// Adds `other` after `self`, as a later filter in the chain would: delays add up; the first
    /// abort stands. An RPC counts once in the gauge: `self`'s slot is kept, else `other`'s.
    pub fn then(mut self, other: FaultDecision) -> Self {
        self.delay = match (self.delay, other.delay) {
            (Some(a), Some(b)) => Some(a.saturating_add(b)),
            (a, b) => a.or(b),
        };
        if self.abort.is_none() {
            self.abort = other.abort;
        }
        if self.slot.is_none() {
            self.slot = other.slot;
        }
        self
    }
}
