//! gRFC A6 retry throttling: one token bucket per server name, shared by every call to it.
//!
//! `token_count` starts at `maxTokens` and stays within `[0, maxTokens]`. A failed RPC takes one
//! token, a successful one adds `tokenRatio`; while `token_count ≤ maxTokens / 2` retries (and
//! hedges) are not sent: they fail at once, they do not wait. Only failures with a retryable code,
//! or with pushback saying "do not retry", count (the caller decides: see
//! [`RetryState`](super::RetryState)). Values keep three decimals, as A6 specifies, stored as
//! thousandths in one atomic so the request path never locks. Validation follows A6:
//! `0 < maxTokens ≤ 1000`, `tokenRatio > 0` (Meshwork also rejects a ratio below 0.001, which
//! truncates to zero and would never refill). Not here: which server name a call belongs to.

use std::sync::atomic::{AtomicU32, Ordering};

/// Thousandths per token.
const MILLI: u32 = 1000;
/// A6's upper bound on `maxTokens`.
const MAX_TOKENS_LIMIT: f64 = 1000.0;

/// Invalid `retryThrottling` settings.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ThrottleError {
    /// `maxTokens` out of range.
    #[error(
        "retryThrottling.maxTokens is {0}; it must be greater than 0 and at most 1000 (gRFC A6)"
    )]
    MaxTokens(f64),
    /// `tokenRatio` out of range.
    #[error(
        "retryThrottling.tokenRatio is {0}; it must be at least 0.001 (3 decimals are kept, gRFC A6)"
    )]
    TokenRatio(f64),
}

/// The retry token bucket of one server name.
#[derive(Debug)]
pub struct RetryThrottle {
    /// Current tokens, in thousandths.
    tokens: AtomicU32,
    /// `maxTokens`, in thousandths.
    max: u32,
    /// `tokenRatio`, in thousandths.
    ratio: u32,
}

impl RetryThrottle {
    /// A full bucket. Both values keep three decimals (`0.5466` is `0.546`).
    pub fn new(max_tokens: f64, token_ratio: f64) -> Result<Self, ThrottleError> {
        if !(max_tokens > 0.0 && max_tokens <= MAX_TOKENS_LIMIT) {
            return Err(ThrottleError::MaxTokens(max_tokens));
        }
        let max = milli(max_tokens);
        if max == 0 {
            return Err(ThrottleError::MaxTokens(max_tokens));
        }
        let ratio = if token_ratio.is_finite() && token_ratio > 0.0 {
            milli(token_ratio.min(MAX_TOKENS_LIMIT))
        } else {
            0
        };
        if ratio == 0 {
            return Err(ThrottleError::TokenRatio(token_ratio));
        }
        Ok(RetryThrottle {
            tokens: AtomicU32::new(max),
            max,
            ratio,
        })
    }

    /// Current `token_count`.
    pub fn tokens(&self) -> f64 {
        f64::from(self.tokens.load(Ordering::Relaxed)) / f64::from(MILLI)
    }

    /// Whether a retry or hedge may be sent now: `token_count > maxTokens / 2`.
    pub fn allows_retry(&self) -> bool {
        u64::from(self.tokens.load(Ordering::Relaxed)) * 2 > u64::from(self.max)
    }

    /// A failed RPC (retryable code, or pushback saying stop): one token less, floor 0.
    pub fn record_failure(&self) {
        self.update(|t| t.saturating_sub(MILLI));
    }

    /// A successful RPC: `tokenRatio` more, capped at `maxTokens`.
    pub fn record_success(&self) {
        let (ratio, max) = (self.ratio, self.max);
        self.update(|t| t.saturating_add(ratio).min(max));
    }

    fn update(&self, f: impl Fn(u32) -> u32) {
        // The closure always returns Some, so this cannot fail; the result carries nothing.
        let _ = self
            .tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| Some(f(t)));
    }
}

/// Thousandths, truncating further decimals; the input is finite and within `[0, 1000]`.
fn milli(v: f64) -> u32 {
    (v * f64::from(MILLI)).floor() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a6_example_ten_tokens_ratio_point_one() {
        // The A6 example config: maxTokens 10, tokenRatio 0.1 → threshold 5.
        let t = RetryThrottle::new(10.0, 0.1).unwrap();
        assert_eq!(t.tokens(), 10.0);
        for _ in 0..4 {
            t.record_failure();
        }
        assert_eq!(t.tokens(), 6.0);
        assert!(t.allows_retry(), "6 > 5");
        t.record_failure();
        assert_eq!(t.tokens(), 5.0);
        assert!(!t.allows_retry(), "5 <= 5 stops retries");
        t.record_success();
        assert_eq!(t.tokens(), 5.1);
        assert!(t.allows_retry(), "5.1 rises over the threshold");
        t.record_failure();
        assert!(!t.allows_retry());
    }

    #[test]
    fn tokens_stay_between_zero_and_max() {
        let t = RetryThrottle::new(3.0, 0.5).unwrap();
        for _ in 0..10 {
            t.record_success();
        }
        assert_eq!(t.tokens(), 3.0);
        for _ in 0..10 {
            t.record_failure();
        }
        assert_eq!(t.tokens(), 0.0);
        // Ten successes at 0.5 each recover 5 tokens, capped at 3; retries resume above 1.5.
        for _ in 0..3 {
            t.record_success();
        }
        assert!(!t.allows_retry(), "1.5 is not above 1.5");
        t.record_success();
        assert!(t.allows_retry());
    }

    #[test]
    fn ratio_keeps_three_decimals() {
        let t = RetryThrottle::new(10.0, 0.5466).unwrap();
        t.record_failure();
        t.record_success();
        assert_eq!(t.tokens(), 9.546);
    }

    #[test]
    fn rejects_out_of_range_settings() {
        assert_eq!(
            RetryThrottle::new(0.0, 0.1).unwrap_err(),
            ThrottleError::MaxTokens(0.0)
        );
        assert!(RetryThrottle::new(1000.5, 0.1).is_err());
        assert!(RetryThrottle::new(f64::NAN, 0.1).is_err());
        assert!(RetryThrottle::new(1000.0, 0.1).is_ok());
        assert!(RetryThrottle::new(10.0, 0.0).is_err());
        assert!(RetryThrottle::new(10.0, -1.0).is_err());
        let err = RetryThrottle::new(10.0, 0.0004).unwrap_err();
        assert!(err.to_string().contains("at least 0.001"), "{err}");
    }
}
