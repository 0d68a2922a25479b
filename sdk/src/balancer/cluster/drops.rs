//! EDS drop overloads (gRFC A27, `ClusterLoadAssignment.policy.drop_overloads`): before any
//! endpoint is chosen, each category in turn draws a number in `[0, 1_000_000)` from the seeded
//! RNG and drops the request when it falls under the category's rate. Dropped requests are not
//! retried and are reported per category in load reports (not done here).

use std::sync::Arc;

use super::super::picker::{PickRequest, PickResult, Picker};
use super::super::rng::AtomicRng;

/// Applies drop categories in front of the inner picker.
#[derive(Debug)]
pub struct DropPicker {
    drops: Vec<(Arc<str>, u32)>,
    inner: Arc<dyn Picker>,
    rng: AtomicRng,
}

impl DropPicker {
    /// Drops with `(category, parts per million)` before delegating to `inner`.
    pub fn new(drops: Vec<(Arc<str>, u32)>, inner: Arc<dyn Picker>, rng: AtomicRng) -> Self {
        DropPicker { drops, inner, rng }
    }
}

impl Picker for DropPicker {
    fn pick(&self, request: &PickRequest) -> PickResult {
        for (category, per_million) in &self.drops {
            if (self.rng.below(1_000_000) as u32) < *per_million {
                return PickResult::Drop {
                    category: category.clone(),
                };
            }
        }
        self.inner.pick(request)
    }
}
