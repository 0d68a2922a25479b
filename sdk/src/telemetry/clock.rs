//! One clock reading per event, shared by the telemetry layers that see the same event.
//!
//! gRFC A66 times a call and each of its attempts. When the trailers pass up through attempt and
//! call bodies in one poll, both end at the same instant. Reading the clock once for such an
//! event instead of once per layer is both cheaper and more consistent (an attempt never
//! outlasts its call); the start of a call and its first attempt are shared the same way by
//! `handoff`.
//!
//! The sharing is scoped, per thread: [`EndScope`] lets a body wrapper reuse an end time read by
//! a body it wraps during the same poll. A reading is never used outside the scope in which it
//! was taken, so every value handed out was read "now", within the current poll.
//! Time is `tokio::time::Instant` so that tests with paused time stay deterministic.

use std::cell::Cell;

use tokio::time::Instant;

thread_local! {
    /// The end time read by an inner body during the current poll.
    static END: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Reads the clock.
pub(crate) fn now() -> Instant {
    Instant::now()
}

/// A poll of an inner body during which end times are shared: open one before polling the
/// inner body, then call [`EndScope::end`] if the poll ended the RPC.
pub(crate) struct EndScope(());

impl EndScope {
    /// Opens a scope: readings left from earlier polls are forgotten.
    pub(crate) fn open() -> Self {
        END.set(None);
        Self(())
    }

    /// The end time of an RPC that ended in this poll: the reading an inner body took during
    /// the poll, else a fresh one. It is then on offer to the scope enclosing this one.
    pub(crate) fn end(self) -> Instant {
        let end = END.take().unwrap_or_else(now);
        END.set(Some(end));
        end
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_inner_end_is_reused_by_the_enclosing_scope_only() {
        let outer = EndScope::open();
        let inner_end = EndScope::open().end();
        tokio::time::advance(Duration::from_millis(5)).await;
        assert_eq!(outer.end(), inner_end, "same event, same reading");
        tokio::time::advance(Duration::from_millis(5)).await;
        let fresh = EndScope::open().end();
        assert_eq!(
            fresh,
            inner_end + Duration::from_millis(10),
            "a new poll reads anew"
        );
    }
}
