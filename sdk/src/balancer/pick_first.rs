//! pick_first (gRFC A62): all requests go to one endpoint, the first READY one in list order, and
//! stay there while it is READY even if an earlier one recovers. With `shuffle_address_list` the
//! order is shuffled with the seeded RNG whenever the endpoint list changes. While nothing is
//! READY it connects one endpoint at a time: it queues and asks for the first IDLE endpoint unless
//! one is already CONNECTING. Once every endpoint has failed it reports TRANSIENT_FAILURE and
//! stays there ("sticky") until some endpoint becomes READY, as A62 requires; reconnecting after
//! backoff is the connection layer's job. Weighted shuffling (A113) is not implemented.

use super::Built;
use super::endpoint::{Connectivity, EndpointId, Member};
use super::picker::PickResult;
use super::rng::AtomicRng;

/// Builds pick_first pickers; remembers the order, the selection and sticky failure.
#[derive(Debug, Default)]
pub(crate) struct PickFirst {
    shuffle: bool,
    ids: Vec<EndpointId>,
    order: Vec<usize>,
    selected: Option<EndpointId>,
    sticky_failure: bool,
}

impl PickFirst {
    /// A policy that optionally shuffles its list.
    pub fn new(shuffle: bool) -> Self {
        PickFirst {
            shuffle,
            ..Default::default()
        }
    }

    /// A picker for the members' current state.
    pub fn build(&mut self, members: &[Member], seed: &AtomicRng, fail: &PickResult) -> Built {
        let ids: Vec<EndpointId> = members.iter().map(|m| m.handle.id()).collect();
        if ids != self.ids {
            self.order = (0..members.len()).collect();
            if self.shuffle {
                for i in (1..self.order.len()).rev() {
                    self.order.swap(i, seed.index(i + 1));
                }
            }
            self.ids = ids;
        }
        let in_order = || self.order.iter().map(|&i| &members[i]);
        let ready = |m: &&Member| m.state == Connectivity::Ready;
        let keep = self
            .selected
            .and_then(|id| members.iter().find(|m| m.handle.id() == id))
            .filter(ready);
        if let Some(m) = keep.or_else(|| in_order().find(ready)) {
            self.selected = Some(m.handle.id());
            self.sticky_failure = false;
            return Built::fixed(Connectivity::Ready, PickResult::Pick(m.handle.clone()));
        }
        self.selected = None;
        let all_failed = members
            .iter()
            .all(|m| m.state == Connectivity::TransientFailure);
        if all_failed || self.sticky_failure {
            self.sticky_failure = true;
            return Built::fixed(Connectivity::TransientFailure, fail.clone());
        }
        if members.iter().any(|m| m.state == Connectivity::Connecting) {
            return Built::fixed(Connectivity::Connecting, PickResult::queue());
        }
        let connect = in_order()
            .find(|m| m.state == Connectivity::Idle)
            .map(|m| m.handle.clone());
        Built::fixed(Connectivity::Idle, PickResult::Queue { connect })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balancer::picker::PickRequest;
    use crate::balancer::test_util::{fail, members};

    fn pick(p: &mut PickFirst, ms: &[Member]) -> PickResult {
        p.build(ms, &AtomicRng::new(1), &fail())
            .picker
            .pick(&PickRequest::default())
    }

    #[test]
    fn picks_the_first_ready_in_order_and_sticks_to_it() {
        let mut ms = members(3, Connectivity::Idle);
        let mut p = PickFirst::new(false);
        let connect = Some(ms[0].handle.clone());
        assert_eq!(pick(&mut p, &ms), PickResult::Queue { connect });
        ms[0].state = Connectivity::TransientFailure;
        ms[1].state = Connectivity::Connecting;
        assert_eq!(pick(&mut p, &ms), PickResult::queue());
        ms[1].state = Connectivity::Ready;
        ms[2].state = Connectivity::Ready;
        assert_eq!(pick(&mut p, &ms), PickResult::Pick(ms[1].handle.clone()));
        ms[0].state = Connectivity::Ready;
        assert_eq!(
            pick(&mut p, &ms),
            PickResult::Pick(ms[1].handle.clone()),
            "sticks"
        );
        ms[1].state = Connectivity::Idle;
        assert_eq!(pick(&mut p, &ms), PickResult::Pick(ms[0].handle.clone()));
    }

    #[test]
    fn transient_failure_is_sticky_until_something_is_ready() {
        let mut ms = members(2, Connectivity::TransientFailure);
        let mut p = PickFirst::new(false);
        assert_eq!(pick(&mut p, &ms), fail());
        ms[0].state = Connectivity::Connecting;
        assert_eq!(
            pick(&mut p, &ms),
            fail(),
            "still failing while reconnecting"
        );
        ms[0].state = Connectivity::Ready;
        assert_eq!(pick(&mut p, &ms), PickResult::Pick(ms[0].handle.clone()));
    }

    #[test]
    fn shuffle_is_seeded_and_changes_the_order() {
        let ms = members(20, Connectivity::Ready);
        let first = |seed| {
            let mut p = PickFirst::new(true);
            let b = p.build(&ms, &AtomicRng::new(seed), &fail());
            b.picker
                .pick(&PickRequest::default())
                .endpoint()
                .map(|h| h.id())
        };
        assert_eq!(first(5), first(5));
        assert!((0..10).map(first).any(|id| id != Some(ms[0].handle.id())));
    }
}
