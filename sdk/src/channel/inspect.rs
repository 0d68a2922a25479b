//! A read-only view of one channel for the admin endpoint: its routing state, the resolver
//! snapshot in use and every cluster with its endpoints (health, connectivity, live load).
//!
//! The manager task builds the cluster part whenever it publishes a new state, so reading a view
//! is one `Arc` load and takes no lock from the request path. It only shows: nothing here
//! changes routing or balancing. The admin module turns it into `meshwork.admin.v1` messages.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::time::Instant;

use super::core::ChannelCore;
use super::state::Routing;
use crate::balancer::{EndpointId, EndpointState};
use crate::resilience::ClusterBreaker;
use crate::resolver::Snapshot;

/// One channel, as the admin endpoint shows it.
#[derive(Clone, Debug)]
pub(crate) struct TargetView {
    /// The target as the channel names it.
    pub(crate) target: Arc<str>,
    /// How RPCs are routed right now.
    pub(crate) routing: RoutingView,
    /// The xDS configuration in use (`None` for static channels or before the first one).
    pub(crate) snapshot: Option<Arc<Snapshot>>,
    /// Every cluster of the channel, by name.
    pub(crate) clusters: Arc<Vec<ClusterView>>,
}

/// The routing state of a channel.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum RoutingView {
    /// Waiting for the first configuration.
    Pending,
    /// A static endpoint list.
    Static,
    /// An xDS route table is in use.
    Ready,
    /// No usable configuration; RPCs fail with this text.
    Failed(Arc<str>),
}

/// One cluster of a channel.
#[derive(Clone, Debug)]
pub(crate) struct ClusterView {
    /// The cluster name.
    pub(crate) name: String,
    /// What it is.
    pub(crate) kind: ClusterViewKind,
}

/// The kinds of cluster a channel holds.
#[derive(Clone, Debug)]
pub(crate) enum ClusterViewKind {
    /// A balanced set of endpoints.
    Leaf {
        /// Every endpoint the balancer tracks, by priority then locality.
        endpoints: Vec<EndpointState>,
        /// Until when each endpoint outlier detection ejected stays ejected.
        ejected_until: HashMap<EndpointId, Instant>,
        /// The cluster's circuit breaker (process-wide counts).
        breaker: Arc<ClusterBreaker>,
        /// Its `max_requests`.
        max_requests: u32,
    },
    /// An aggregate cluster over these leaves, in priority order.
    Aggregate(Vec<String>),
    /// Unusable (its Cluster or endpoints resource failed).
    Failed,
}

impl ChannelCore {
    /// The channel as it is now.
    pub(crate) fn inspect(&self) -> TargetView {
        let state = self.published.load();
        let routing = match &state.routing {
            Routing::Pending => RoutingView::Pending,
            Routing::Static { .. } => RoutingView::Static,
            Routing::Table(_) => RoutingView::Ready,
            Routing::Failed(message) => RoutingView::Failed(message.clone()),
        };
        TargetView {
            target: self.target.clone(),
            routing,
            snapshot: state.snapshot.clone(),
            clusters: state.view.clone(),
        }
    }
}
