//! The per-RPC message byte counter shared by a request body and its layer's finish.
//!
//! A request body is handed to the inner service while the layer records the RPC when the
//! response ends, so the count of request message bytes (gRFC A66 `sent` / `rcvd` sizes) lives in
//! a small shared atomic. Allocating and freeing one per RPC costs more than the counting itself,
//! so a counter whose last handle is dropped goes back to a small per-thread pool and the next
//! RPC on that thread reuses it. This module counts nothing on its own and never blocks.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Most spare counters kept per thread.
const POOL_CAP: usize = 64;

thread_local! {
    static POOL: RefCell<Vec<Arc<AtomicU64>>> = const { RefCell::new(Vec::new()) };
}

/// A handle on a shared byte counter; cloning makes another handle on the same count.
#[derive(Debug)]
pub(crate) struct SharedCount(Option<Arc<AtomicU64>>);

impl SharedCount {
    /// A counter at zero (recycled when one is spare on this thread).
    pub(crate) fn new() -> Self {
        let spare = POOL
            .try_with(|p| p.try_borrow_mut().ok().and_then(|mut p| p.pop()))
            .ok()
            .flatten();
        Self(Some(spare.unwrap_or_else(|| Arc::new(AtomicU64::new(0)))))
    }

    /// Adds `n` bytes.
    pub(crate) fn add(&self, n: u64) {
        if let Some(c) = &self.0 {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The bytes counted so far.
    pub(crate) fn get(&self) -> u64 {
        self.0.as_ref().map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

impl Clone for SharedCount {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl Drop for SharedCount {
    fn drop(&mut self) {
        let Some(mut counter) = self.0.take() else {
            return;
        };
        // Only the last handle may recycle: no other handle can see the reset.
        let Some(value) = Arc::get_mut(&mut counter) else {
            return;
        };
        *value.get_mut() = 0;
        let _ = POOL.try_with(|p| {
            if let Ok(mut p) = p.try_borrow_mut()
                && p.len() < POOL_CAP
            {
                p.push(counter);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_share_one_count_and_a_recycled_counter_starts_at_zero() {
        let a = SharedCount::new();
        let b = a.clone();
        b.add(5);
        a.add(2);
        assert_eq!(a.get(), 7);
        drop(b);
        drop(a);
        let c = SharedCount::new();
        assert_eq!(c.get(), 0);
    }

    #[test]
    fn a_counter_still_shared_is_not_recycled() {
        let a = SharedCount::new();
        let b = a.clone();
        drop(a);
        b.add(3);
        let fresh = SharedCount::new();
        assert_eq!((b.get(), fresh.get()), (3, 0));
    }
}
