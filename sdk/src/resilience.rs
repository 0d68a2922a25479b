//! Resilience cores: the arithmetic behind retries, retry budgets and throttling, and circuit
//! breaking, as plain structs with no I/O, ready for the channel's tower middleware to wrap.
//!
//! - [`retry`]: per-call retry decisions (gRFC A6 as mapped from xDS by A44): retryable codes,
//!   attempts capped at 5, exponential backoff with jitter, server pushback
//!   (`grpc-retry-pushback-ms`), commitment, transparent retries, drops never retried.
//! - [`throttle`]: A6 retry throttling, a token bucket per server name.
//! - [`budget`]: Linkerd-style retry budget (a ratio of recent requests plus a floor per second
//!   over a sliding window), an optional extra beside A6 throttling.
//! - [`breaker`]: A32 circuit breaking, a process-wide in-flight counter per cluster with an RAII
//!   guard and an overflow count.
//!
//! Not here: the tower layers themselves, deadlines/timeouts (A31, applied by the channel), hedging,
//! picking endpoints (`balancer`) and outlier detection (`health`). Time and randomness are
//! injected: [`Clock`](crate::balancer::Clock) and [`AtomicRng`](crate::balancer::AtomicRng).

pub mod breaker;
pub mod budget;
pub mod retry;
pub mod throttle;

pub use breaker::{BreakerOverflow, BreakerRegistry, ClusterBreaker, RequestGuard};
pub use budget::{RetryBudget, RetryBudgetError};
pub use retry::{
    AttemptOutcome, Backoff, Gates, GiveUp, Jitter, Pushback, RetryDecision, RetryState,
};
pub use throttle::{RetryThrottle, ThrottleError};
