//! The picker of an aggregate cluster (gRFC A37, A75): its leaf clusters in priority order, each
//! with its own balancer, tried like the children of gRPC's `priority` policy.
//!
//! The first leaf that is not in TRANSIENT_FAILURE (READY, CONNECTING or IDLE) answers the pick,
//! so traffic stays on the highest-priority leaf that can still serve and waits while it
//! connects; a leaf that failed (its Cluster or endpoints unusable, or every endpoint failing)
//! is skipped; when every leaf failed, the last one answers. Simplifications: no 10 s failover
//! timer between leaves (each leaf's own priorities have theirs in the balancer), and leaf state
//! is the one captured when this picker was built (a new picker is built on every change).

use std::sync::Arc;

use crate::balancer::{Connectivity, PickError, PickRequest, PickResult, Picker};

/// One leaf as the aggregate picker sees it.
#[derive(Clone, Debug)]
pub(crate) enum Leaf {
    /// A usable leaf: its picker and aggregate connectivity.
    Usable {
        /// The leaf's picker.
        picker: Arc<dyn Picker>,
        /// The leaf balancer's aggregate state.
        state: Connectivity,
    },
    /// A leaf that cannot serve, and why.
    Failed(Arc<str>),
}

/// Fails over across leaf clusters in order; see the module docs.
#[derive(Debug)]
pub(crate) struct AggregatePicker {
    name: Arc<str>,
    leaves: Vec<Leaf>,
}

impl AggregatePicker {
    /// A picker for aggregate cluster `name` over `leaves`, highest priority first.
    pub(crate) fn new(name: impl Into<Arc<str>>, leaves: Vec<Leaf>) -> Self {
        AggregatePicker {
            name: name.into(),
            leaves,
        }
    }
}

impl Picker for AggregatePicker {
    fn pick(&self, request: &PickRequest) -> PickResult {
        let last = self.leaves.len().saturating_sub(1);
        let mut failure: Option<Arc<str>> = None;
        for (i, leaf) in self.leaves.iter().enumerate() {
            match leaf {
                Leaf::Usable { picker, state } => {
                    if *state != Connectivity::TransientFailure || i == last {
                        return picker.pick(request);
                    }
                }
                Leaf::Failed(message) => failure = Some(message.clone()),
            }
        }
        PickResult::Fail(PickError::new(format!(
            "every leaf cluster of aggregate cluster `{}` is unavailable{}",
            self.name,
            failure.map(|m| format!("; last: {m}")).unwrap_or_default()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balancer::{EndpointHandle, EndpointId};

    #[derive(Debug)]
    struct Fixed(PickResult);
    impl Picker for Fixed {
        fn pick(&self, _: &PickRequest) -> PickResult {
            self.0.clone()
        }
    }

    fn usable(result: PickResult, state: Connectivity) -> Leaf {
        Leaf::Usable {
            picker: Arc::new(Fixed(result)),
            state,
        }
    }

    fn endpoint(n: u64) -> EndpointHandle {
        EndpointHandle::new(EndpointId(n), format!("10.0.0.{n}:80").parse().unwrap())
    }

    #[test]
    fn the_first_leaf_that_can_serve_answers() {
        let picker = AggregatePicker::new(
            "agg",
            vec![
                Leaf::Failed("cluster `a` is not usable".into()),
                usable(
                    PickResult::Fail(PickError::new("down")),
                    Connectivity::TransientFailure,
                ),
                usable(PickResult::Pick(endpoint(3)), Connectivity::Ready),
                usable(PickResult::Pick(endpoint(4)), Connectivity::Ready),
            ],
        );
        let picked = picker.pick(&PickRequest::default());
        assert_eq!(picked.endpoint().map(|e| e.id()), Some(EndpointId(3)));
    }

    #[test]
    fn a_connecting_primary_holds_traffic() {
        let picker = AggregatePicker::new(
            "agg",
            vec![
                usable(PickResult::queue(), Connectivity::Connecting),
                usable(PickResult::Pick(endpoint(2)), Connectivity::Ready),
            ],
        );
        assert_eq!(picker.pick(&PickRequest::default()), PickResult::queue());
    }

    #[test]
    fn when_every_leaf_failed_the_last_answers_or_the_error_names_the_aggregate() {
        let failing = AggregatePicker::new(
            "agg",
            vec![
                usable(
                    PickResult::Fail(PickError::new("a down")),
                    Connectivity::TransientFailure,
                ),
                usable(
                    PickResult::Fail(PickError::new("b down")),
                    Connectivity::TransientFailure,
                ),
            ],
        );
        assert_eq!(
            failing.pick(&PickRequest::default()),
            PickResult::Fail(PickError::new("b down"))
        );
        let none = AggregatePicker::new("agg", vec![Leaf::Failed("cluster `x` missing".into())]);
        match none.pick(&PickRequest::default()) {
            PickResult::Fail(e) => {
                assert!(e.message().contains("`agg`"), "{}", e.message());
                assert!(
                    e.message().contains("cluster `x` missing"),
                    "{}",
                    e.message()
                );
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    }
}
