//! How long one RPC may wait inside the channel before it is sent: its own deadline, from the
//! `grpc-timeout` request header (gRPC over HTTP/2: `1*8DIGIT` followed by `H`, `M`, `S`, `m`,
//! `u` or `n`), or else the channel's queue timeout.
//!
//! This is only the bound on queueing (waiting for configuration or a ready endpoint). It is the
//! seam for gRFC A31: the deadline layer (the route's `max_stream_duration` cap, the call deadline
//! across retries, DEADLINE_EXCEEDED on the wire) comes later and will set this bound itself.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use tokio::time::Instant;

use super::error::RpcError;

/// The queueing bound of one RPC, fixed when the channel receives it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallBound {
    started: Instant,
    deadline: Option<Instant>,
    queue_until: Instant,
}

impl CallBound {
    /// The bound of an RPC with these headers, starting now.
    pub(crate) fn new(headers: &HeaderMap, queue_timeout: Duration) -> Self {
        let started = Instant::now();
        let deadline = headers
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout)
            .map(|t| started + t);
        CallBound {
            started,
            deadline,
            queue_until: started + queue_timeout,
        }
    }

    /// When waiting must stop.
    pub(crate) fn until(&self) -> Instant {
        match self.deadline {
            Some(deadline) => deadline.min(self.queue_until),
            None => self.queue_until,
        }
    }

    /// The error of an RPC that waited until [`CallBound::until`]: DEADLINE_EXCEEDED when its
    /// own deadline ended the wait, else the channel's queue timeout.
    pub(crate) fn expired(&self, target: &Arc<str>, waiting_for: String) -> RpcError {
        let waited = Instant::now().saturating_duration_since(self.started);
        let target = target.clone();
        if self.deadline.is_some_and(|d| d <= self.queue_until) {
            RpcError::DeadlineExceeded {
                target,
                waiting_for,
                waited,
            }
        } else {
            RpcError::QueueTimeout {
                target,
                waiting_for,
                waited,
            }
        }
    }
}

/// Parses a `grpc-timeout` value; `None` when it is malformed (then it is ignored).
pub(crate) fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let split = value.len().checked_sub(1)?;
    let (digits, unit) = value.split_at(split);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_units_parse_and_bad_values_are_ignored() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse_grpc_timeout("5u"), Some(Duration::from_micros(5)));
        assert_eq!(parse_grpc_timeout("7n"), Some(Duration::from_nanos(7)));
        for bad in ["", "m", "10", "123456789S", "-1S", "1s", "1.5S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_shorter_of_deadline_and_queue_timeout_bounds_the_wait() {
        let target: Arc<str> = "xds:///a:1".into();
        let mut headers = HeaderMap::new();
        headers.insert("grpc-timeout", "50m".parse().unwrap());
        let bound = CallBound::new(&headers, Duration::from_secs(20));
        assert_eq!(bound.until() - bound.started, Duration::from_millis(50));
        let error = bound.expired(&target, "waiting".into());
        assert_eq!(error.to_status().code(), tonic::Code::DeadlineExceeded);

        let bound = CallBound::new(&HeaderMap::new(), Duration::from_secs(20));
        assert_eq!(bound.until() - bound.started, Duration::from_secs(20));
        let error = bound.expired(&target, "waiting".into());
        assert_eq!(error.to_status().code(), tonic::Code::Unavailable);
    }
}
