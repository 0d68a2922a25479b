//! The gauge of RPCs currently under an injected fault, and the RAII guard that holds one slot.
//!
//! gRFC A33 "Maximum active faults": the count is process-wide and shared by every channel, an
//! RPC counts from the moment a fault is chosen for it until its delay and abort are done, and
//! at the limit the RPC proceeds without any fault. The limit itself comes from each fault
//! config (`max_active_faults`) or the runtime registry, not from the gauge.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

/// A shared gauge of RPCs under a fault. Cloning shares the count.
#[derive(Clone, Debug, Default)]
pub struct ActiveFaults {
    count: Arc<AtomicU32>,
}

/// One RPC's slot in [`ActiveFaults`]; dropping it releases the slot.
#[derive(Debug)]
pub struct ActiveFault {
    count: Arc<AtomicU32>,
}

impl ActiveFaults {
    /// A new gauge, independent of every other (for tests and isolated meshes).
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide gauge A33 asks for: every call returns a handle to the same count.
    pub fn process() -> Self {
        static PROCESS: OnceLock<ActiveFaults> = OnceLock::new();
        PROCESS.get_or_init(ActiveFaults::new).clone()
    }

    /// RPCs under a fault right now.
    pub fn current(&self) -> u32 {
        self.count.load(Ordering::Acquire)
    }

    /// Takes a slot if fewer than `limit` are taken (`None` = no limit). `None` at the limit: the
    /// caller must then inject nothing.
    pub fn try_acquire(&self, limit: Option<u32>) -> Option<ActiveFault> {
        let max = limit.unwrap_or(u32::MAX);
        self.count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        Some(ActiveFault {
            count: Arc::clone(&self.count),
        })
    }
}

impl Drop for ActiveFault {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_and_released_on_drop() {
        let gauge = ActiveFaults::new();
        let a = gauge.try_acquire(Some(2));
        let b = gauge.try_acquire(Some(2));
        assert!(a.is_some() && b.is_some());
        assert!(
            gauge.try_acquire(Some(2)).is_none(),
            "third RPC over a cap of 2"
        );
        assert_eq!(gauge.current(), 2);
        drop(a);
        assert_eq!(gauge.current(), 1);
        assert!(gauge.try_acquire(Some(2)).is_some());
        assert!(
            gauge.try_acquire(Some(0)).is_none(),
            "a cap of 0 never injects"
        );
        assert!(gauge.try_acquire(None).is_some(), "no cap");
    }

    #[test]
    fn process_gauge_is_shared() {
        let one = ActiveFaults::process();
        let two = ActiveFaults::process();
        assert!(Arc::ptr_eq(&one.count, &two.count));
        assert!(!Arc::ptr_eq(&one.count, &ActiveFaults::new().count));
    }
}
