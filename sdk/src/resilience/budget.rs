//! A retry budget in the manner of Linkerd and tower's `TpsBudget`: retries may add at most a
//! fixed ratio of recent requests, plus a floor of retries per second, over a sliding window.
//!
//! Every original request deposits `retry_ratio` of a retry; every retry withdraws one. The
//! balance is kept in ten slots covering the window (`ttl`); when time moves past a slot its
//! deposits and withdrawals are forgotten, so the budget refills by itself. A reserve of
//! `min_per_sec × ttl` retries is always part of the balance, so low-traffic clients can still
//! retry. Linkerd's ServiceProfile default is `ttl` 10 s, 10 retries/s, ratio 0.2
//! ([`RetryBudget::linkerd_default`]). Amounts are kept in thousandths of a retry in atomics: the
//! request path never locks; under contention a deposit racing a slot rotation may be lost, which
//! only makes the budget slightly stricter. This is a Meshwork extra: gRPC's xDS retries (A44)
//! do not use budgets; A6 throttling lives in [`throttle`](super::throttle). Time comes from an
//! injected [`Clock`].

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::balancer::Clock;

/// Slots the window is divided into.
const SLOTS: u64 = 10;
/// Thousandths per retry.
const MILLI: i64 = 1000;

/// Invalid retry budget settings.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RetryBudgetError {
    /// The window length is out of range.
    #[error("retry budget ttl is {0:?}; it must be between 1 s and 60 s")]
    Ttl(Duration),
    /// The ratio is negative, not a number, or absurdly large.
    #[error(
        "retry budget ratio is {0}; it must be between 0.0 and 1000.0 (0.2 = 20 % of requests)"
    )]
    Ratio(f64),
}

/// A shared retry budget (one per target or per route, as the owner decides).
#[derive(Debug)]
pub struct RetryBudget {
    clock: Clock,
    slot_nanos: u64,
    /// Balance per slot, in thousandths of a retry.
    slots: [AtomicI64; SLOTS as usize],
    /// The slot period the slots were last rotated to.
    period: AtomicU64,
    reserve: i64,
    deposit: i64,
}

impl RetryBudget {
    /// A budget allowing `retry_ratio` retries per request plus `min_per_sec` retries per second,
    /// measured over the last `ttl` (1–60 s).
    pub fn new(
        ttl: Duration,
        min_per_sec: u32,
        retry_ratio: f64,
        clock: Clock,
    ) -> Result<Self, RetryBudgetError> {
        if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&ttl) {
            return Err(RetryBudgetError::Ttl(ttl));
        }
        if !(0.0..=1000.0).contains(&retry_ratio) {
            return Err(RetryBudgetError::Ratio(retry_ratio));
        }
        Ok(RetryBudget::build(ttl, min_per_sec, retry_ratio, clock))
    }

    /// Linkerd's default: 20 % of requests plus 10 retries per second over 10 s.
    pub fn linkerd_default(clock: Clock) -> Self {
        RetryBudget::build(Duration::from_secs(10), 10, 0.2, clock)
    }

    /// Builds from settings already checked by [`RetryBudget::new`].
    fn build(ttl: Duration, min_per_sec: u32, retry_ratio: f64, clock: Clock) -> Self {
        let slot_nanos = u64::try_from(ttl.as_nanos() / u128::from(SLOTS)).unwrap_or(u64::MAX);
        let budget = RetryBudget {
            slot_nanos: slot_nanos.max(1),
            period: AtomicU64::new(0),
            slots: Default::default(),
            reserve: (f64::from(min_per_sec) * ttl.as_secs_f64() * MILLI as f64) as i64,
            deposit: (retry_ratio * MILLI as f64).round() as i64,
            clock,
        };
        budget
            .period
            .store(budget.current_period(), Ordering::Relaxed);
        budget
    }

    /// Records an original request (not a retry): adds `retry_ratio` of a retry.
    pub fn deposit(&self) {
        let slot = self.rotate();
        slot.fetch_add(self.deposit, Ordering::Relaxed);
    }

    /// Takes one retry out of the budget; `false` (and nothing taken) when there is not enough.
    pub fn try_withdraw(&self) -> bool {
        let slot = self.rotate();
        if self.balance() < MILLI {
            return false;
        }
        slot.fetch_sub(MILLI, Ordering::Relaxed);
        true
    }

    /// Retries the budget would allow right now (fractional).
    pub fn available(&self) -> f64 {
        self.rotate();
        self.balance().max(0) as f64 / MILLI as f64
    }

    fn balance(&self) -> i64 {
        self.reserve
            + self
                .slots
                .iter()
                .map(|s| s.load(Ordering::Relaxed))
                .sum::<i64>()
    }

    fn current_period(&self) -> u64 {
        self.clock.now_nanos() / self.slot_nanos
    }

    /// Forgets slots that fell out of the window and returns the current slot.
    fn rotate(&self) -> &AtomicI64 {
        let now = self.current_period();
        let last = self.period.load(Ordering::Relaxed);
        if now > last
            && self
                .period
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            let first = last.saturating_add(1).max(now.saturating_sub(SLOTS - 1));
            for p in first..=now {
                self.slots[(p % SLOTS) as usize].store(0, Ordering::Relaxed);
            }
        }
        &self.slots[(now % SLOTS) as usize]
    }
}

#[cfg(test)]
mod tests;
