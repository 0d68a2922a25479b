//! What the request path reads: one immutable [`RouteState`] per configuration or picker change,
//! published whole by the channel's manager task and loaded by every RPC without a lock
//! (`ArcSwap`; DESIGN.md "config is published whole").
//!
//! An RPC that must wait (no configuration yet, no ready endpoint) subscribes to the version
//! counter *before* loading the state, so a state published after its load always wakes it; the
//! wait is bounded by the caller. This module makes no routing or picking decision.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use super::fault::ListenerFaults;
use super::inspect::ClusterView;
use crate::balancer::{EndpointId, Picker};
use crate::connection::EndpointConnection;
use crate::health::outlier::CallCounter;
use crate::resilience::ClusterBreaker;
use crate::resolver::Snapshot;
use crate::route::RouteTable;
use crate::telemetry::LbLabels;

/// A whole, immutable view of a channel's routing and balancing.
#[derive(Debug)]
pub(crate) struct RouteState {
    /// How RPCs are routed.
    pub(crate) routing: Routing,
    /// Per cluster: its picker, or why it is unusable.
    pub(crate) clusters: HashMap<String, ClusterEntry>,
    /// Every endpoint any picker may return, with its connection.
    pub(crate) endpoints: Arc<HashMap<EndpointId, EndpointRoute>>,
    /// The listener's default stream duration cap (HCM `max_stream_duration`, gRFC A31), used
    /// when the matched route sets none; `None` = no cap.
    pub(crate) stream_cap: Option<Duration>,
    /// The resolver snapshot in use (xDS channels), for the admin view.
    pub(crate) snapshot: Option<Arc<Snapshot>>,
    /// The listener's fault filters, precomputed per snapshot (`None` when it has none).
    pub(crate) faults: Option<Arc<ListenerFaults>>,
    /// Every cluster with its endpoints, for the admin view (off the request path).
    pub(crate) view: Arc<Vec<ClusterView>>,
}

/// How RPCs are routed.
#[derive(Clone, Debug)]
pub(crate) enum Routing {
    /// Waiting for the resolver's first snapshot: RPCs wait.
    Pending,
    /// A static channel: every RPC goes to this cluster.
    Static {
        /// The one cluster.
        cluster: Arc<str>,
    },
    /// The route table of the target's virtual host.
    Table(Arc<RouteTable>),
    /// The target has no usable configuration: RPCs fail with this text.
    Failed(Arc<str>),
}

/// A cluster as the request path sees it.
#[derive(Clone, Debug)]
pub(crate) enum ClusterEntry {
    /// Pick with this picker.
    Ready(Arc<dyn Picker>),
    /// Fail RPCs with this message (naming the cluster).
    Failed(Arc<str>),
}

/// An endpoint a picker may return.
#[derive(Clone, Debug)]
pub(crate) struct EndpointRoute {
    /// Its cluster (for error messages).
    pub(crate) cluster: Arc<str>,
    /// Its (shared) connection.
    pub(crate) connection: EndpointConnection,
    /// The latency decay its cluster's policy wants recorded latencies folded with.
    pub(crate) decay: Duration,
    /// The circuit breaker of its cluster (gRFC A32), shared process-wide.
    pub(crate) breaker: Arc<ClusterBreaker>,
    /// Its cluster's `max_requests`.
    pub(crate) max_requests: u32,
    /// Its outlier-detection call counter (gRFC A50).
    pub(crate) counter: Option<Arc<CallCounter>>,
    /// Its locality and cluster as optional attempt-metric labels (gRFC A78, A89).
    pub(crate) lb: Arc<LbLabels>,
}

impl RouteState {
    /// The state before anything is known.
    pub(crate) fn pending() -> Self {
        RouteState {
            routing: Routing::Pending,
            clusters: HashMap::new(),
            endpoints: Arc::new(HashMap::new()),
            stream_cap: None,
            snapshot: None,
            faults: None,
            view: Arc::new(Vec::new()),
        }
    }
}

/// The publication point between the manager task (writer) and RPCs (readers).
#[derive(Debug)]
pub(crate) struct Published {
    state: ArcSwap<RouteState>,
    version: watch::Sender<u64>,
}

impl Published {
    /// Starts with `state` at version 0.
    pub(crate) fn new(state: RouteState) -> Self {
        Published {
            state: ArcSwap::from_pointee(state),
            version: watch::Sender::new(0),
        }
    }

    /// The current state.
    pub(crate) fn load(&self) -> Arc<RouteState> {
        self.state.load_full()
    }

    /// Replaces the state, then wakes every waiter.
    pub(crate) fn publish(&self, state: RouteState) {
        self.state.store(Arc::new(state));
        self.version.send_modify(|v| *v += 1);
    }

    /// A receiver that wakes on the next publication (the current one counts as seen).
    pub(crate) fn changes(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }
}
