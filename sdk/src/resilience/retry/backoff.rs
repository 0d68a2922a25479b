//! Retry backoff: exponential growth capped at a maximum, then jittered (gRFC A6).
//!
//! The n-th retry since the last server pushback waits `min(initial × multiplier^(n−1), max)`
//! scaled by a random factor. A6 as amended in 2024 (grpc/proposal PR #452, implemented by grpc-go
//! #7869 and grpc-java #11858) uses a factor in `[0.8, 1.2)` ([`Jitter::Proportional`], the
//! default); the original A6 text, still quoted widely, used full jitter `random(0, ceiling)`
//! ([`Jitter::Full`]). Envoy's own fully jittered `[0, (2^N − 1) × base)` is not reproduced.
//! This module only computes delays; it does not sleep.

use std::time::Duration;

use crate::balancer::AtomicRng;
use crate::xds::resource::route::RetryPolicy;

/// How the capped exponential delay is randomised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Jitter {
    /// Current gRFC A6: the delay is the ceiling × a uniform factor in `[0.8, 1.2)`.
    #[default]
    Proportional,
    /// Original gRFC A6 text ("full jitter"): a uniform delay in `[0, ceiling)`.
    Full,
}

/// Backoff parameters of a retry policy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    /// Ceiling of the first retry's delay (A44: `retry_back_off.base_interval`, default 25 ms).
    pub initial: Duration,
    /// Cap on the ceiling (A44: `retry_back_off.max_interval`, default 10 × base).
    pub max: Duration,
    /// Growth per retry (A44 fixes it at 2).
    pub multiplier: f64,
    /// Randomisation applied to the capped ceiling.
    pub jitter: Jitter,
}

impl Backoff {
    /// The backoff of a validated xDS retry policy, with the default (A6 current) jitter.
    pub fn from_policy(policy: &RetryPolicy) -> Self {
        Backoff {
            initial: policy.initial_backoff,
            max: policy.max_backoff,
            multiplier: policy.backoff_multiplier(),
            jitter: Jitter::default(),
        }
    }

    /// The un-jittered delay before retry `n` (1-based, counted since the last pushback):
    /// `min(initial × multiplier^(n−1), max)`. `n = 0` is treated as 1.
    pub fn ceiling(&self, n: u32) -> Duration {
        let exponent = i32::try_from(n.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.initial.as_secs_f64() * self.multiplier.powi(exponent);
        match Duration::try_from_secs_f64(secs) {
            Ok(d) => d.min(self.max),
            // Overflow, NaN or a negative multiplier: the cap is the only sane answer.
            Err(_) => self.max,
        }
    }

    /// The randomised delay before retry `n` (1-based, counted since the last pushback).
    pub fn delay(&self, n: u32, rng: &AtomicRng) -> Duration {
        let ceiling = self.ceiling(n);
        let factor = match self.jitter {
            Jitter::Proportional => 0.8 + 0.4 * unit(rng),
            Jitter::Full => unit(rng),
        };
        ceiling.mul_f64(factor)
    }
}

/// A uniform draw in `[0, 1)` with 53 random bits.
fn unit(rng: &AtomicRng) -> f64 {
    const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
    (rng.next_u64() >> 11) as f64 * SCALE
}
