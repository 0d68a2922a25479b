//! Per-call retry decisions: gRFC A6 semantics for the policy gRFC A44 maps from xDS.
//!
//! A [`RetryState`] lives for one call. After each attempt the caller reports an
//! [`AttemptOutcome`] and gets a [`RetryDecision`]: done, retry after a delay, or give up (and
//! why). The rules, in the order they apply:
//! - OK ends the call (and refills the A6 throttle); a pick `DROP` (LB drop, circuit breaker
//!   overflow) is never retried;
//! - a committed call (response headers arrived, or the outgoing messages outgrew the retry
//!   buffer) is never retried;
//! - transparent retries: an attempt that never left the client is retried at once, without limit
//!   (the call deadline bounds it); one refused by the server's gRPC library before the application
//!   saw it (REFUSED_STREAM, GOAWAY above its stream id) is retried at once, once. Neither counts
//!   toward `maxAttempts` nor throttling;
//! - server pushback `grpc-retry-pushback-ms`: negative or malformed → stop (counts as a throttle
//!   failure); non-negative → the next retry waits exactly that long and backoff restarts;
//! - otherwise only codes in the policy's `retry_on` retry, each such failure is an A6 throttle
//!   failure, throttling (tokens ≤ max/2) stops retries, attempts are capped at
//!   `min(num_retries + 1, 5)`, an optional retry budget must allow it, and the delay is
//!   [`Backoff`]'s jittered exponential.
//!
//! Not here: sleeping, the deadline (A31: it spans all attempts; the channel enforces it),
//! buffering messages, re-picking (each attempt re-picks from the latest picker) and hedging.
//!
//! ```
//! use std::time::Duration;
//! use meshwork::balancer::AtomicRng;
//! use meshwork::resilience::{AttemptOutcome, Gates, RetryDecision, RetryState, RetryThrottle};
//! use meshwork::xds::resource::route::RetryPolicy;
//!
//! let policy = RetryPolicy {
//!     retry_on: vec![tonic::Code::Unavailable],
//!     num_retries: 2,
//!     initial_backoff: Duration::from_millis(25),
//!     max_backoff: Duration::from_millis(250),
//! };
//! let throttle = RetryThrottle::new(10.0, 0.1)?; // one per server name
//! let gates = Gates { throttle: Some(&throttle), budget: None };
//! let rng = AtomicRng::new(7);
//! let mut call = RetryState::new(&policy);
//! let failed = AttemptOutcome::Failed { code: tonic::Code::Unavailable, pushback: None };
//! let RetryDecision::Retry { delay, .. } = call.on_attempt_end(failed, gates, &rng) else {
//!     panic!("UNAVAILABLE is retryable");
//! };
//! assert!(delay >= Duration::from_millis(20) && delay < Duration::from_millis(30));
//! assert_eq!(call.previous_attempts(), Some(1)); // send `grpc-previous-rpc-attempts: 1`
//! assert_eq!(call.on_attempt_end(AttemptOutcome::Ok, gates, &rng), RetryDecision::Done);
//! # Ok::<(), meshwork::resilience::ThrottleError>(())
//! ```

use std::time::Duration;

use tonic::Code;

use crate::balancer::AtomicRng;
use crate::xds::resource::route::RetryPolicy;
use crate::xds::resource::route::retry::MAX_ATTEMPTS_CAP;

use super::budget::RetryBudget;
use super::throttle::RetryThrottle;

mod backoff;
mod pushback;

pub use backoff::{Backoff, Jitter};
pub use pushback::{PUSHBACK_HEADER, Pushback};

/// Request metadata key telling the server how many attempts preceded this one (gRFC A6).
pub const PREVIOUS_ATTEMPTS_HEADER: &str = "grpc-previous-rpc-attempts";

/// How one attempt ended, as the transport and picker saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The attempt finished with status OK.
    Ok,
    /// The server (application) answered with a non-OK status, maybe with pushback metadata.
    Failed {
        /// The status code.
        code: Code,
        /// Parsed `grpc-retry-pushback-ms`, if the response carried it.
        pushback: Option<Pushback>,
    },
    /// The attempt never left the client (no connection, stream never opened).
    NotSent,
    /// The server's gRPC library refused the stream before the application saw it
    /// (HTTP/2 REFUSED_STREAM, or GOAWAY with a last stream id below this one).
    Refused,
    /// The pick dropped the call (EDS drop overload, circuit breaker at its limit).
    Dropped,
}

/// Shared limits a retry must also pass; both optional.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gates<'a> {
    /// A6 retry throttling for the call's server name.
    pub throttle: Option<&'a RetryThrottle>,
    /// A Linkerd-style retry budget.
    pub budget: Option<&'a RetryBudget>,
}

/// What to do after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryDecision {
    /// The call succeeded; return the response.
    Done,
    /// Start another attempt after `delay` (re-picking an endpoint).
    Retry {
        /// How long to wait first (zero for transparent retries).
        delay: Duration,
        /// Whether this is a transparent retry (not counted toward `maxAttempts`).
        transparent: bool,
    },
    /// Return the last attempt's result to the application.
    GiveUp(GiveUp),
}

/// Why a failed call is not retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GiveUp {
    /// The status code is not in the policy's `retry_on` (or there is no policy).
    NotRetryable(Code),
    /// Response headers arrived or the retry buffer overflowed: the call is committed.
    Committed,
    /// All `attempts` allowed by the policy (at most 5) were made.
    AttemptsExhausted {
        /// Attempts made, the first included.
        attempts: u32,
    },
    /// The server's pushback asked not to retry.
    PushbackStop,
    /// A6 throttling: the server name's tokens are at or below half the maximum.
    Throttled,
    /// The retry budget has no room for another retry.
    BudgetExhausted,
    /// The pick dropped the call; drops are never retried.
    Dropped,
}

/// Retry bookkeeping for one call.
#[derive(Clone, Debug)]
pub struct RetryState {
    /// Bit `c` set when status code `c` is retryable.
    retryable: u32,
    max_attempts: u32,
    backoff: Backoff,
    /// Attempts counted toward `max_attempts` so far (the first included).
    attempts: u32,
    /// Retries since the last pushback (drives the backoff exponent).
    retries_since_pushback: u32,
    refused_retried: bool,
    committed: bool,
}

impl RetryState {
    /// State for a call governed by `policy`; its first attempt is about to start.
    pub fn new(policy: &RetryPolicy) -> Self {
        let retryable = policy
            .retry_on
            .iter()
            .fold(0u32, |mask, code| mask | code_bit(*code));
        RetryState {
            retryable,
            max_attempts: policy.max_attempts().clamp(1, MAX_ATTEMPTS_CAP),
            backoff: Backoff::from_policy(policy),
            ..RetryState::without_policy()
        }
    }

    /// State for a call with no retry policy: only transparent retries happen (gRFC A6 does
    /// those regardless of configuration).
    pub fn without_policy() -> Self {
        RetryState {
            retryable: 0,
            max_attempts: 1,
            backoff: Backoff {
                initial: Duration::ZERO,
                max: Duration::ZERO,
                multiplier: 1.0,
                jitter: Jitter::default(),
            },
            attempts: 1,
            retries_since_pushback: 0,
            refused_retried: false,
            committed: false,
        }
    }

    /// Replaces the jitter mode (default: [`Jitter::Proportional`], current A6).
    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.backoff.jitter = jitter;
        self
    }

    /// Marks the call committed: response headers arrived, or the buffered outgoing messages
    /// exceeded the retry buffer. No retry happens after this.
    pub fn commit(&mut self) {
        self.committed = true;
    }

    /// Whether the call is committed.
    pub fn is_committed(&self) -> bool {
        self.committed
    }

    /// Attempts counted toward the policy's limit so far, the current one included.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Most attempts this call may make (`num_retries + 1`, capped at 5).
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Value of `grpc-previous-rpc-attempts` for the current attempt: `None` on the first,
    /// then 1, 2, …
    pub fn previous_attempts(&self) -> Option<u32> {
        self.attempts.checked_sub(1).filter(|n| *n > 0)
    }

    /// Records how the current attempt ended and decides what happens next. On
    /// [`RetryDecision::Retry`] the next attempt is counted as started.
    pub fn on_attempt_end(
        &mut self,
        outcome: AttemptOutcome,
        gates: Gates<'_>,
        rng: &AtomicRng,
    ) -> RetryDecision {
        let (code, pushback) = match outcome {
            AttemptOutcome::Ok | AttemptOutcome::Failed { code: Code::Ok, .. } => {
                if let Some(throttle) = gates.throttle {
                    throttle.record_success();
                }
                return RetryDecision::Done;
            }
            AttemptOutcome::Dropped => return RetryDecision::GiveUp(GiveUp::Dropped),
            _ if self.committed => return RetryDecision::GiveUp(GiveUp::Committed),
            AttemptOutcome::NotSent => return transparent(),
            AttemptOutcome::Refused if !self.refused_retried => {
                self.refused_retried = true;
                return transparent();
            }
            // A second refusal goes through the policy as UNAVAILABLE.
            AttemptOutcome::Refused => (Code::Unavailable, None),
            AttemptOutcome::Failed { code, pushback } => (code, pushback),
        };
        self.on_failure(code, pushback, gates, rng)
    }

    fn on_failure(
        &mut self,
        code: Code,
        pushback: Option<Pushback>,
        gates: Gates<'_>,
        rng: &AtomicRng,
    ) -> RetryDecision {
        if pushback == Some(Pushback::Stop) {
            if let Some(throttle) = gates.throttle {
                throttle.record_failure();
            }
            return RetryDecision::GiveUp(GiveUp::PushbackStop);
        }
        if self.retryable & code_bit(code) == 0 {
            return RetryDecision::GiveUp(GiveUp::NotRetryable(code));
        }
        if let Some(throttle) = gates.throttle {
            throttle.record_failure();
            if !throttle.allows_retry() {
                return RetryDecision::GiveUp(GiveUp::Throttled);
            }
        }
        if self.attempts >= self.max_attempts {
            return RetryDecision::GiveUp(GiveUp::AttemptsExhausted {
                attempts: self.attempts,
            });
        }
        if gates.budget.is_some_and(|b| !b.try_withdraw()) {
            return RetryDecision::GiveUp(GiveUp::BudgetExhausted);
        }
        let delay = match pushback {
            Some(Pushback::RetryAfter(delay)) => {
                self.retries_since_pushback = 0;
                delay
            }
            _ => {
                self.retries_since_pushback += 1;
                self.backoff.delay(self.retries_since_pushback, rng)
            }
        };
        self.attempts += 1;
        RetryDecision::Retry {
            delay,
            transparent: false,
        }
    }
}

fn transparent() -> RetryDecision {
    RetryDecision::Retry {
        delay: Duration::ZERO,
        transparent: true,
    }
}

/// The bit of a status code in a retryable-code mask (codes are 0..=16).
fn code_bit(code: Code) -> u32 {
    1u32.checked_shl(code as u32).unwrap_or(0)
}

#[cfg(test)]
mod tests;
