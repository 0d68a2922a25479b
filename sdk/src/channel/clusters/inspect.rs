//! Builds the admin view of a [`ClusterSet`](super::ClusterSet): every cluster with a copy of its
//! endpoints' state (the handles inside share the live load counters), when outlier
//! ejections end and the cluster's circuit breaker. Runs in the manager task
//! when a state is published, never on the request path.

use super::{ClusterSet, Slot};
use crate::channel::inspect::{ClusterView, ClusterViewKind};

impl ClusterSet {
    /// Every cluster, by name, for the admin endpoint.
    pub(crate) fn inspect(&self) -> Vec<ClusterView> {
        self.clusters
            .iter()
            .map(|(name, slot)| ClusterView {
                name: name.clone(),
                kind: match slot {
                    Slot::Leaf(leaf) => ClusterViewKind::Leaf {
                        endpoints: leaf.balancer.endpoints().to_vec(),
                        ejected_until: leaf.ejections(),
                        breaker: leaf.breaker.clone(),
                        max_requests: leaf.max_requests(),
                    },
                    Slot::Aggregate(leaves) => ClusterViewKind::Aggregate(leaves.clone()),
                    Slot::Failed(_) => ClusterViewKind::Failed,
                },
            })
            .collect()
    }
}
