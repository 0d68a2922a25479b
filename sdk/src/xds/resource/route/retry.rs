//! Retry policy from `envoy.config.route.v3.RetryPolicy`, mapped as gRFC A44 says.
//!
//! `retry_on` keeps only the five gRPC tokens (`cancelled`, `deadline-exceeded`, `internal`,
//! `resource-exhausted`, `unavailable`); other tokens are ignored and an empty result means "no
//! retries". `num_retries` defaults to 1 and must be ≥ 1. Back-off: base 25 ms by default, max
//! 10 × base (250 ms when `retry_back_off` is absent); values under 1 ms become 1 ms; a max below
//! the base is an error. Per-try timeouts, hedging and retry predicates are ignored.
//! Does not retry anything: the `resilience` module does.

use std::time::Duration;

use meshwork_proto::envoy::config::route::v3::RetryPolicy as ProtoRetryPolicy;

use crate::xds::resource::common::{At, Invalid, Result, duration};

/// gRPC caps attempts at 5 whatever the config says (gRFC A6).
pub const MAX_ATTEMPTS_CAP: u32 = 5;
const DEFAULT_BASE: Duration = Duration::from_millis(25);
const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// A validated retry policy.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Status codes that make an attempt retryable (never empty).
    pub retry_on: Vec<tonic::Code>,
    /// Retries after the first attempt, as configured (≥ 1).
    pub num_retries: u32,
    /// First back-off (before jitter).
    pub initial_backoff: Duration,
    /// Back-off ceiling.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// Total attempts including the first: `num_retries + 1`, capped at [`MAX_ATTEMPTS_CAP`].
    pub fn max_attempts(&self) -> u32 {
        self.num_retries.saturating_add(1).min(MAX_ATTEMPTS_CAP)
    }

    /// Back-off multiplier (fixed at 2 by A44).
    pub fn backoff_multiplier(&self) -> f64 {
        2.0
    }
}

/// Decodes a retry policy; `Ok(None)` when no gRPC status code is retryable.
pub fn retry_policy(p: &ProtoRetryPolicy) -> Result<Option<RetryPolicy>> {
    let mut retry_on = Vec::new();
    for token in p.retry_on.split(',').map(str::trim) {
        let code = match token {
            "cancelled" => tonic::Code::Cancelled,
            "deadline-exceeded" => tonic::Code::DeadlineExceeded,
            "internal" => tonic::Code::Internal,
            "resource-exhausted" => tonic::Code::ResourceExhausted,
            "unavailable" => tonic::Code::Unavailable,
            _ => continue,
        };
        if !retry_on.contains(&code) {
            retry_on.push(code);
        }
    }
    let num_retries = match p.num_retries {
        None => 1,
        Some(n) if n.value >= 1 => n.value,
        Some(n) => {
            return Err(Invalid::field(
                "num_retries",
                format!(
                    "is {}; must be >= 1 (leave it unset for the default of 1)",
                    n.value
                ),
            ));
        }
    };
    let (initial_backoff, max_backoff) = match &p.retry_back_off {
        None => (DEFAULT_BASE, DEFAULT_BASE * 10),
        Some(b) => {
            let base = b
                .base_interval
                .as_ref()
                .ok_or_else(|| {
                    Invalid::field("base_interval", "is required when retry_back_off is set")
                })
                .and_then(|d| duration(d).at("base_interval"))
                .at("retry_back_off")?;
            if base.is_zero() {
                return Err(Invalid::field(
                    "retry_back_off.base_interval",
                    "must be > 0",
                ));
            }
            let max = match &b.max_interval {
                None => base.saturating_mul(10),
                Some(d) => duration(d).at("retry_back_off.max_interval")?,
            };
            if max < base {
                return Err(Invalid::field(
                    "retry_back_off.max_interval",
                    format!("{max:?} is below base_interval {base:?}; it must be >= base_interval"),
                ));
            }
            (base.max(MIN_INTERVAL), max.max(MIN_INTERVAL))
        }
    };
    if retry_on.is_empty() {
        return Ok(None);
    }
    Ok(Some(RetryPolicy {
        retry_on,
        num_retries,
        initial_backoff,
        max_backoff,
    }))
}
