//! [`Behavior`]: the runtime-controllable misbehaviour of a greeter backend (latency, random
//! errors, "fail the next N", "succeed on attempt k", hang), and how it combines with a call's
//! `rpc-behavior` metadata into a [`Plan`].
//!
//! These knobs exist to exercise the client-side resilience of gRFC A6/A44 (retries), A50 (outlier
//! detection), A31 (deadlines) and A17 (health checks) against a real server. The handle is
//! cloneable and guarded by a short mutex taken once per call to decide; the call then sleeps and
//! answers without holding it. Randomness comes from a seeded RNG, so a run is reproducible.
//! This module decides only; the service (`super::service`) sleeps and answers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tonic::Code;

use super::rpc_behavior::{RpcBehavior, Verdict, evaluate};

/// Most request ids remembered for attempt counting; the table is cleared when full.
const MAX_TRACKED_IDS: usize = 10_000;

/// Cloneable handle on a backend's behaviour; every clone steers the same backend.
#[derive(Debug, Clone)]
pub struct Behavior {
    inner: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    latency: Duration,
    error_rate: f64,
    error_code: Code,
    rng: fastrand::Rng,
    fail_next: u32,
    fail_next_code: Code,
    succeed_on_attempt: Option<(u32, Code)>,
    hang: bool,
    seen_ids: HashMap<String, u32>,
}

/// What the backend knows about one call before deciding.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallInfo<'a> {
    /// Parsed `rpc-behavior` values, in header order.
    pub rpc_behavior: &'a [RpcBehavior],
    /// `grpc-previous-rpc-attempts`, when sent.
    pub previous_attempts: Option<u32>,
    /// `x-request-id`, when sent.
    pub request_id: Option<&'a str>,
}

/// How one call will be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Sleep this long first.
    pub delay: Duration,
    /// Then end like this.
    pub end: End,
}

/// How a call ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Answer normally.
    Reply,
    /// Fail with `code`; `reason` says which knob did it.
    Fail {
        /// The status code.
        code: Code,
        /// Why, for the status message.
        reason: String,
    },
    /// Never answer (until the client gives up or the server stops).
    Hang,
}

impl Default for Behavior {
    fn default() -> Self {
        Behavior::new(0)
    }
}

impl Behavior {
    /// A well-behaved backend whose random errors (once enabled) follow `seed`.
    pub fn new(seed: u64) -> Self {
        Behavior {
            inner: Arc::new(Mutex::new(State {
                latency: Duration::ZERO,
                error_rate: 0.0,
                error_code: Code::Unavailable,
                rng: fastrand::Rng::with_seed(seed),
                fail_next: 0,
                fail_next_code: Code::Unavailable,
                succeed_on_attempt: None,
                hang: false,
                seen_ids: HashMap::new(),
            })),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `latency` before every answer.
    pub fn set_latency(&self, latency: Duration) {
        self.state().latency = latency;
    }

    /// Fails each call with probability `rate` (clamped to 0..=1) with `code`.
    pub fn set_error_rate(&self, rate: f64, code: Code) {
        let mut state = self.state();
        state.error_rate = if rate.is_nan() {
            0.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        state.error_code = code;
    }

    /// Fails the next `n` calls with `code`, then answers normally again.
    pub fn fail_next(&self, n: u32, code: Code) {
        let mut state = self.state();
        state.fail_next = n;
        state.fail_next_code = code;
    }

    /// Fails every attempt of a request before attempt `k` (1-based) with `code`; attempt `k`
    /// and later succeed. Attempts are counted from `grpc-previous-rpc-attempts`, else per
    /// `x-request-id`; a call with neither is attempt 1. `k <= 1` turns this off.
    pub fn succeed_on_attempt(&self, k: u32, code: Code) {
        self.state().succeed_on_attempt = (k > 1).then_some((k, code));
    }

    /// Makes every call hang (`true`) or answer again (`false`).
    pub fn set_hang(&self, hang: bool) {
        self.state().hang = hang;
    }

    /// Restarts the random sequence from `seed`.
    pub fn reseed(&self, seed: u64) {
        self.state().rng = fastrand::Rng::with_seed(seed);
    }

    /// Back to well-behaved: no latency, errors, hang or attempt counting (the RNG is kept).
    pub fn reset(&self) {
        let mut state = self.state();
        state.latency = Duration::ZERO;
        state.error_rate = 0.0;
        state.fail_next = 0;
        state.succeed_on_attempt = None;
        state.hang = false;
        state.seen_ids.clear();
    }

    /// Decides how the backend named `backend` serves one call: `rpc-behavior` directives first
    /// (see [`super::rpc_behavior`]), then hang, fail-next, succeed-on-attempt and the error rate.
    /// The configured latency is always added.
    pub fn plan(&self, backend: &str, call: &CallInfo<'_>) -> Plan {
        let mut state = self.state();
        let seen = call.request_id.map_or(0, |id| state.count_attempt(id));
        let previous = call.previous_attempts.unwrap_or(seen);
        let eval = evaluate(call.rpc_behavior, backend, previous);
        let delay = state.latency.saturating_add(eval.delay);
        let end = match eval.verdict {
            Verdict::Succeed => End::Reply,
            Verdict::KeepOpen => End::Hang,
            Verdict::Fail(code) => End::Fail {
                code,
                reason: "requested by rpc-behavior metadata".to_owned(),
            },
            Verdict::Continue => state.own_verdict(previous.saturating_add(1)),
        };
        Plan { delay, end }
    }
}

impl State {
    /// Records one attempt of request `id`; returns how many came before it.
    fn count_attempt(&mut self, id: &str) -> u32 {
        if self.seen_ids.len() >= MAX_TRACKED_IDS && !self.seen_ids.contains_key(id) {
            self.seen_ids.clear();
        }
        let count = self.seen_ids.entry(id.to_owned()).or_insert(0);
        let previous = *count;
        *count = count.saturating_add(1);
        previous
    }

    fn own_verdict(&mut self, attempt: u32) -> End {
        if self.hang {
            return End::Hang;
        }
        if self.fail_next > 0 {
            self.fail_next -= 1;
            return End::Fail {
                code: self.fail_next_code,
                reason: format!("fail-next ({} more to fail)", self.fail_next),
            };
        }
        if let Some((k, code)) = self.succeed_on_attempt
            && attempt < k
        {
            return End::Fail {
                code,
                reason: format!("attempt {attempt} of this request; attempt {k} succeeds"),
            };
        }
        if self.error_rate > 0.0 && self.rng.f64() < self.error_rate {
            return End::Fail {
                code: self.error_code,
                reason: format!("error rate {:.3}", self.error_rate),
            };
        }
        End::Reply
    }
}

#[cfg(test)]
mod tests;
