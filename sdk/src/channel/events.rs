//! [`EventSink`]: where channels report what happens to their endpoints and clusters for the
//! admin `Watch` stream (DESIGN.md "Admin endpoint": ejections, breaker overflows) — outlier
//! detection ejecting or returning an endpoint (gRFC A50), and a circuit breaker refusing
//! requests (gRFC A32).
//!
//! A [`Mesh`](crate::Mesh) makes one sink and hands it to every channel through
//! [`ChannelOptions::events`](super::ChannelOptions::events); the admin endpoint subscribes.
//! Events are emitted where the decision is made: ejections by the channel's manager task when it
//! applies an outlier sweep (off the request path), overflows by the pick layer when the breaker
//! refuses. A refused RPC already failed fast, so the overflow path may take a short lock: it
//! coalesces overflows per cluster into at most one event every [`OVERFLOW_COALESCE`], counting
//! the refusals since the previous event (an overflow with no later refusal after a quiet
//! window is reported at once; refusals that follow within the window ride on the next event).
//! Nothing is sent, and no lock is taken, while nobody subscribes. The sink is a broadcast: a
//! subscriber that falls behind loses the oldest events and learns how many. A sink made with
//! [`EventSink::default`] drops everything (channels outside a `Mesh`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::health::outlier::Reason;

/// Overflow events of one cluster are at least this far apart.
pub const OVERFLOW_COALESCE: Duration = Duration::from_millis(250);
/// Events a subscriber may fall behind by before it loses some.
pub const EVENT_CAPACITY: usize = 1024;

/// Something that happened to a channel's endpoints or clusters.
#[derive(Clone, Debug, PartialEq)]
pub enum MeshEvent {
    /// Outlier detection ejected an endpoint.
    Ejection {
        /// When.
        at: Instant,
        /// The cluster.
        cluster: String,
        /// The endpoint.
        endpoint: SocketAddr,
        /// Until when it stays ejected (unless outlier detection is turned off earlier).
        until: Instant,
        /// Which algorithm ejected it.
        reason: Reason,
    },
    /// An ejected endpoint returned.
    Unejection {
        /// When.
        at: Instant,
        /// The cluster.
        cluster: String,
        /// The endpoint.
        endpoint: SocketAddr,
        /// Why it returned.
        reason: Reason,
    },
    /// A cluster's circuit breaker refused requests.
    BreakerOverflow {
        /// When.
        at: Instant,
        /// The cluster.
        cluster: Arc<str>,
        /// The limit in force.
        max_requests: u32,
        /// Requests refused since the previous overflow event of this cluster.
        refused: u64,
    },
}

/// Where channels send [`MeshEvent`]s; cheap to clone. See the module docs.
#[derive(Clone, Debug, Default)]
pub struct EventSink {
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    sender: broadcast::Sender<MeshEvent>,
    overflows: Mutex<HashMap<Arc<str>, Pending>>,
}

/// Overflows of one cluster not reported yet.
#[derive(Debug)]
struct Pending {
    last_sent: Option<Instant>,
    refused: u64,
}

impl EventSink {
    /// A sink whose subscribers may fall behind by `capacity` events.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        EventSink {
            inner: Some(Arc::new(Inner {
                sender,
                overflows: Mutex::new(HashMap::new()),
            })),
        }
    }

    /// A new subscription, from now on; `None` for a sink that drops everything.
    pub fn subscribe(&self) -> Option<broadcast::Receiver<MeshEvent>> {
        self.inner.as_ref().map(|i| i.sender.subscribe())
    }

    /// Sends `event` to the current subscribers.
    pub fn emit(&self, event: MeshEvent) {
        if let Some(inner) = &self.inner {
            let _ = inner.sender.send(event);
        }
    }

    /// Counts one refusal by `cluster`'s breaker and reports it, coalesced.
    pub fn breaker_overflow(&self, cluster: &Arc<str>, max_requests: u32, now: Instant) {
        let Some(inner) = &self.inner else {
            return;
        };
        if inner.sender.receiver_count() == 0 {
            return;
        }
        let refused = {
            let mut pending = inner
                .overflows
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let entry = pending.entry(cluster.clone()).or_insert(Pending {
                last_sent: None,
                refused: 0,
            });
            entry.refused += 1;
            let due = entry
                .last_sent
                .is_none_or(|last| now.saturating_duration_since(last) >= OVERFLOW_COALESCE);
            if !due {
                return;
            }
            entry.last_sent = Some(now);
            std::mem::take(&mut entry.refused)
        };
        self.emit(MeshEvent::BreakerOverflow {
            at: now,
            cluster: cluster.clone(),
            max_requests,
            refused,
        });
    }
}

/// The reason in words, for logs and the admin endpoint.
pub fn reason_text(reason: Reason) -> &'static str {
    match reason {
        Reason::SuccessRate => "success rate below the cluster mean minus stdev x factor",
        Reason::FailurePercentage => "failure percentage above the threshold",
        Reason::ConsecutiveFailures => "too many consecutive failures",
        Reason::EjectionExpired => "ejection time over",
        Reason::Disabled => "outlier detection turned off",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn overflows_are_coalesced_per_cluster_and_counted() {
        let sink = EventSink::new(16);
        let a: Arc<str> = Arc::from("a");
        let b: Arc<str> = Arc::from("b");
        sink.breaker_overflow(&a, 5, Instant::now());
        let mut rx = sink.subscribe().expect("enabled");
        let t0 = Instant::now();
        sink.breaker_overflow(&a, 5, t0);
        sink.breaker_overflow(&a, 5, t0);
        sink.breaker_overflow(&b, 7, t0);
        sink.breaker_overflow(&a, 5, t0 + OVERFLOW_COALESCE);
        let refused: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|e| match e {
                MeshEvent::BreakerOverflow {
                    cluster,
                    refused,
                    max_requests,
                    ..
                } => (cluster.to_string(), refused, max_requests),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            refused,
            [("a".into(), 1, 5), ("b".into(), 1, 7), ("a".into(), 2, 5)],
            "without subscribers nothing is counted; within the window refusals accumulate"
        );
    }

    #[test]
    fn a_default_sink_drops_everything() {
        let sink = EventSink::default();
        assert!(sink.subscribe().is_none());
        sink.breaker_overflow(&Arc::from("a"), 1, Instant::now());
    }
}
