//! The priority policy of gRFC A27/A56 as a sans-io selector: given each priority's aggregate
//! connectivity and the time, it says which priority serves traffic.
//!
//! Rule: the highest priority (lowest number) that is READY or IDLE wins; one that is CONNECTING
//! also wins while its failover timer (10 s) runs, so a freshly started priority gets a chance to
//! connect before traffic fails over; TRANSIENT_FAILURE, or CONNECTING after the timer expired,
//! passes on to the next priority. If none qualifies, the first CONNECTING one is used, else the
//! last. A priority is "started" the first time selection reaches it, which starts its timer;
//! the timer restarts when it goes CONNECTING after READY/IDLE and stops on READY, IDLE or
//! TRANSIENT_FAILURE. Failback is immediate: once a higher priority qualifies again it is chosen.
//! Lower priorities' pickers are kept built (not cached for 15 min as A56 describes: Meshwork
//! rebuilds them from the endpoint list, which costs the same). Times are clock nanos.

use std::time::Duration;

use super::endpoint::Connectivity;

/// gRPC's default failover timeout.
pub const DEFAULT_FAILOVER_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Default, Clone)]
struct Child {
    started: bool,
    last: Option<Connectivity>,
    deadline: Option<u64>,
}

/// Chooses the serving priority; see the module docs.
#[derive(Debug)]
pub(crate) struct PrioritySelector {
    timeout: u64,
    children: Vec<Child>,
}

impl PrioritySelector {
    /// A selector with this failover timeout.
    pub fn new(timeout: Duration) -> Self {
        PrioritySelector {
            timeout: u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX),
            children: Vec::new(),
        }
    }

    /// The serving priority for these states at `now`; `None` when there are no priorities.
    pub fn select(&mut self, states: &[Connectivity], now: u64) -> Option<usize> {
        self.children.resize_with(states.len(), Child::default);
        let timeout = self.timeout;
        for (c, &s) in self.children.iter_mut().zip(states) {
            if c.started && c.last != Some(s) {
                c.deadline = match (c.last, s) {
                    (Some(Connectivity::Ready | Connectivity::Idle), Connectivity::Connecting) => {
                        Some(now.saturating_add(timeout))
                    }
                    (_, Connectivity::Connecting) => c.deadline,
                    _ => None,
                };
            }
            c.last = Some(s);
            if c.deadline.is_some_and(|d| now >= d) {
                c.deadline = None;
            }
        }
        for (i, (c, &s)) in self.children.iter_mut().zip(states).enumerate() {
            if !c.started {
                c.started = true;
                if s == Connectivity::Connecting {
                    c.deadline = Some(now.saturating_add(timeout));
                }
            }
            let waiting = s == Connectivity::Connecting && c.deadline.is_some();
            if matches!(s, Connectivity::Ready | Connectivity::Idle) || waiting {
                return Some(i);
            }
        }
        states
            .iter()
            .position(|&s| s == Connectivity::Connecting)
            .or(states.len().checked_sub(1))
    }

    /// The earliest running failover deadline (clock nanos): call `select` again then.
    pub fn next_deadline(&self) -> Option<u64> {
        self.children.iter().filter_map(|c| c.deadline).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Connectivity::{Connecting, Idle, Ready, TransientFailure as Tf};

    const S: u64 = 1_000_000_000;

    #[test]
    fn highest_ready_or_idle_priority_wins() {
        let mut p = PrioritySelector::new(DEFAULT_FAILOVER_TIMEOUT);
        assert_eq!(p.select(&[Ready, Ready], 0), Some(0));
        assert_eq!(p.select(&[Tf, Idle], 0), Some(1));
        assert_eq!(p.select(&[], 0), None);
    }

    #[test]
    fn fails_over_on_failure_and_back_on_recovery() {
        let mut p = PrioritySelector::new(DEFAULT_FAILOVER_TIMEOUT);
        assert_eq!(p.select(&[Ready, Ready], 0), Some(0));
        assert_eq!(p.select(&[Tf, Ready], S), Some(1));
        // Reconnecting after a failure does not take traffic back…
        assert_eq!(p.select(&[Connecting, Ready], 2 * S), Some(1));
        // …READY does.
        assert_eq!(p.select(&[Ready, Ready], 3 * S), Some(0));
    }

    #[test]
    fn connecting_priority_holds_traffic_until_its_timer_expires() {
        let mut p = PrioritySelector::new(DEFAULT_FAILOVER_TIMEOUT);
        assert_eq!(p.select(&[Connecting, Ready], 0), Some(0));
        assert_eq!(p.next_deadline(), Some(10 * S));
        assert_eq!(p.select(&[Connecting, Ready], 9 * S), Some(0));
        assert_eq!(p.select(&[Connecting, Ready], 10 * S), Some(1));
        assert_eq!(p.next_deadline(), None);
    }

    #[test]
    fn timer_restarts_when_a_ready_priority_goes_connecting() {
        let mut p = PrioritySelector::new(DEFAULT_FAILOVER_TIMEOUT);
        assert_eq!(p.select(&[Ready, Ready], 0), Some(0));
        assert_eq!(p.select(&[Connecting, Ready], 100 * S), Some(0));
        assert_eq!(p.select(&[Connecting, Ready], 110 * S), Some(1));
    }

    #[test]
    fn nothing_qualifies_uses_first_connecting_else_last() {
        let mut p = PrioritySelector::new(DEFAULT_FAILOVER_TIMEOUT);
        assert_eq!(p.select(&[Tf, Tf, Tf], 0), Some(2));
        assert_eq!(p.select(&[Tf, Connecting, Tf], S), Some(1));
    }
}
