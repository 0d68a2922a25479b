//! gRFC A32 circuit breaking: a process-wide count of in-flight requests per cluster.
//!
//! Every channel in the process that sends to the same cluster (and EDS service name) shares one
//! [`ClusterBreaker`], found through a [`BreakerRegistry`] (normally
//! [`BreakerRegistry::global`]). Before a picked request is sent, [`ClusterBreaker::try_acquire`]
//! takes a slot if fewer than `max_requests` are in flight (the cluster's
//! `circuit_breakers.thresholds[priority=DEFAULT].max_requests`, 1024 when unset) and returns an
//! RAII [`RequestGuard`] that frees it when the request ends. At the limit the pick fails with
//! [`BreakerOverflow`]: the caller fails the RPC UNAVAILABLE, does **not** retry it, and reports
//! it as a dropped request (LRS). Overflows are counted for telemetry and admin. The limit is
//! passed per call, so lowering it below the in-flight count blocks new requests until enough
//! finish. Ignored, as in A32: `max_connections`, `max_pending_requests`, `max_retries`, retry
//! budgets. The registry locks only when a channel looks a breaker up, never per request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

pub use crate::xds::resource::cluster::DEFAULT_MAX_REQUESTS;

/// Identity of a counter: cluster name and EDS service name (A32 counts per both).
type Key = (Arc<str>, Option<Arc<str>>);

/// Finds the shared breaker of a cluster; breakers live while some channel holds them.
#[derive(Debug, Default)]
pub struct BreakerRegistry {
    breakers: Mutex<HashMap<Key, Weak<ClusterBreaker>>>,
}

/// The in-flight counter of one cluster, shared by every channel of the process.
#[derive(Debug)]
pub struct ClusterBreaker {
    cluster: Arc<str>,
    in_flight: AtomicU32,
    overflows: AtomicU64,
}

/// A slot held by one in-flight request; dropping it frees the slot.
#[derive(Debug)]
#[must_use = "the slot is released as soon as the guard is dropped"]
pub struct RequestGuard {
    breaker: Arc<ClusterBreaker>,
}

/// The cluster is at its `max_requests` limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cluster `{cluster}` has {in_flight} requests in flight, at its circuit-breaker limit of \
     max_requests {max_requests} (gRFC A32); the RPC fails UNAVAILABLE without retry. Raise \
     circuit_breakers.thresholds[priority=DEFAULT].max_requests on the cluster or reduce load"
)]
pub struct BreakerOverflow {
    /// The cluster.
    pub cluster: Arc<str>,
    /// Requests in flight when the request was refused.
    pub in_flight: u32,
    /// The limit in force.
    pub max_requests: u32,
}

impl BreakerRegistry {
    /// An empty registry (tests, or an isolated set of channels).
    pub fn new() -> Self {
        BreakerRegistry::default()
    }

    /// The registry shared by the whole process, as A32 requires.
    pub fn global() -> &'static BreakerRegistry {
        static GLOBAL: OnceLock<BreakerRegistry> = OnceLock::new();
        GLOBAL.get_or_init(BreakerRegistry::new)
    }

    /// The breaker of `cluster` (and `eds_service_name`, if the cluster sets one), created on
    /// first use; every caller with the same names gets the same counter.
    pub fn breaker(&self, cluster: &str, eds_service_name: Option<&str>) -> Arc<ClusterBreaker> {
        let key: Key = (Arc::from(cluster), eds_service_name.map(Arc::from));
        let mut map = self.breakers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = map.get(&key).and_then(Weak::upgrade) {
            return existing;
        }
        map.retain(|_, weak| weak.strong_count() > 0);
        let breaker = Arc::new(ClusterBreaker {
            cluster: key.0.clone(),
            in_flight: AtomicU32::new(0),
            overflows: AtomicU64::new(0),
        });
        map.insert(key, Arc::downgrade(&breaker));
        breaker
    }
}

impl ClusterBreaker {
    /// Takes an in-flight slot if fewer than `max_requests` are in flight; otherwise counts an
    /// overflow and refuses.
    pub fn try_acquire(
        self: &Arc<Self>,
        max_requests: u32,
    ) -> Result<RequestGuard, BreakerOverflow> {
        let taken = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max_requests).then_some(n + 1)
            });
        match taken {
            Ok(_) => Ok(RequestGuard {
                breaker: Arc::clone(self),
            }),
            Err(in_flight) => {
                self.overflows.fetch_add(1, Ordering::Relaxed);
                Err(BreakerOverflow {
                    cluster: self.cluster.clone(),
                    in_flight,
                    max_requests,
                })
            }
        }
    }

    /// The cluster this breaker counts.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// Requests in flight now, across all channels.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Requests refused at the limit since the breaker was created.
    pub fn overflows(&self) -> u64 {
        self.overflows.load(Ordering::Relaxed)
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.breaker.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_channels_share_one_count_and_overflow_at_the_limit() {
        let registry = BreakerRegistry::new();
        let channel_a = registry.breaker("greeter", None);
        let channel_b = registry.breaker("greeter", None);
        let a1 = channel_a.try_acquire(3).unwrap();
        let _b1 = channel_b.try_acquire(3).unwrap();
        let _a2 = channel_a.try_acquire(3).unwrap();
        assert_eq!(channel_b.in_flight(), 3);
        let err = channel_b.try_acquire(3).unwrap_err();
        assert_eq!((err.in_flight, err.max_requests), (3, 3));
        assert!(err.to_string().contains("cluster `greeter`"), "{err}");
        assert_eq!(channel_a.overflows(), 1);
        drop(a1);
        assert_eq!(channel_a.in_flight(), 2);
        let _b2 = channel_b
            .try_acquire(3)
            .expect("a dropped guard frees its slot");
        assert_eq!(channel_a.overflows(), 1);
    }

    #[test]
    fn clusters_and_eds_service_names_count_apart() {
        let registry = BreakerRegistry::new();
        let a = registry.breaker("a", None);
        let a_eds = registry.breaker("a", Some("a-eds"));
        let b = registry.breaker("b", None);
        let _g = a.try_acquire(1).unwrap();
        assert!(a.try_acquire(1).is_err());
        assert!(a_eds.try_acquire(1).is_ok());
        assert!(b.try_acquire(1).is_ok());
        assert_eq!(b.cluster(), "b");
    }

    #[test]
    fn lowering_the_limit_blocks_until_drained() {
        let breaker = BreakerRegistry::new().breaker("c", None);
        let guards: Vec<_> = (0..4).map(|_| breaker.try_acquire(10).unwrap()).collect();
        assert!(breaker.try_acquire(2).is_err());
        let mut guards = guards.into_iter();
        drop(guards.next());
        drop(guards.next());
        assert!(
            breaker.try_acquire(2).is_err(),
            "2 in flight is still at the limit"
        );
        drop(guards.next());
        assert!(breaker.try_acquire(2).is_ok());
    }

    #[test]
    fn default_limit_and_global_registry() {
        let breaker = BreakerRegistry::global().breaker("breaker-test-default-limit", None);
        let again = BreakerRegistry::global().breaker("breaker-test-default-limit", None);
        assert!(Arc::ptr_eq(&breaker, &again));
        let guards: Vec<_> = (0..DEFAULT_MAX_REQUESTS)
            .map(|_| breaker.try_acquire(DEFAULT_MAX_REQUESTS).unwrap())
            .collect();
        assert!(breaker.try_acquire(DEFAULT_MAX_REQUESTS).is_err());
        drop(guards);
        assert_eq!(breaker.in_flight(), 0);
    }

    #[test]
    fn a_breaker_is_forgotten_when_no_channel_holds_it() {
        let registry = BreakerRegistry::new();
        let first = registry.breaker("gone", None);
        let _g = first.try_acquire(1).unwrap();
        drop(_g);
        drop(first);
        let second = registry.breaker("gone", None);
        assert_eq!((second.in_flight(), second.overflows()), (0, 0));
    }
}
