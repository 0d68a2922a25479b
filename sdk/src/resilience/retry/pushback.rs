//! Server pushback: the `grpc-retry-pushback-ms` response metadata of gRFC A6.
//!
//! The value is an ASCII signed 32-bit integer. Non-negative → retry after exactly that many
//! milliseconds (then backoff restarts from the initial value); negative, unparsable, or present
//! more than once → the server asks the client not to retry at all. This module parses; the
//! decision lives in [`RetryState`](super::RetryState).

use std::time::Duration;

use tonic::metadata::MetadataMap;

/// Response metadata key carrying the server's pushback.
pub const PUSHBACK_HEADER: &str = "grpc-retry-pushback-ms";

/// What a server asked for with `grpc-retry-pushback-ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushback {
    /// Retry after exactly this delay (if the policy allows another attempt at all).
    RetryAfter(Duration),
    /// Do not retry this call (a negative or malformed value).
    Stop,
}

impl Pushback {
    /// Parses one header value: optional `-` then ASCII digits, fitting in an `i32`.
    /// Anything else (empty, spaces, `+`, overflow, non-ASCII) is [`Pushback::Stop`].
    pub fn parse(value: &[u8]) -> Pushback {
        let parsed = std::str::from_utf8(value)
            .ok()
            .filter(|s| {
                let digits = s.strip_prefix('-').unwrap_or(s);
                !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
            })
            .and_then(|s| s.parse::<i32>().ok());
        match parsed {
            Some(ms) if ms >= 0 => {
                Pushback::RetryAfter(Duration::from_millis(ms.unsigned_abs().into()))
            }
            _ => Pushback::Stop,
        }
    }

    /// Reads pushback from response metadata (headers or trailers): `None` when absent; more
    /// than one value is malformed, hence [`Pushback::Stop`] (as grpc-go does).
    pub fn from_metadata(metadata: &MetadataMap) -> Option<Pushback> {
        let mut values = metadata.get_all(PUSHBACK_HEADER).iter();
        let first = values.next()?;
        if values.next().is_some() {
            return Some(Pushback::Stop);
        }
        Some(Pushback::parse(first.as_bytes()))
    }
}
