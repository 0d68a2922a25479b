//! The time bounds of one RPC: its call deadline (gRFC A31) and how long it may wait inside the
//! channel before it is sent.
//!
//! The application's deadline arrives as the `grpc-timeout` request header (gRPC over HTTP/2:
//! `1*8DIGIT` followed by `H`, `M`, `S`, `m`, `u` or `n`). Once the route is known the deadline
//! layer (`timeout`) caps it with the route's stream duration ([`CallBound::cap`]); the
//! resulting deadline spans every attempt. Waiting (for configuration or a ready endpoint) ends
//! at that deadline or at the channel's queue timeout, whichever is sooner. Each attempt sends
//! the time left as `grpc-timeout` ([`encode_grpc_timeout`]). This module only computes; the
//! timer lives in `timeout`.

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

    /// Caps the deadline at `cap` after the call started (gRFC A31: effective deadline =
    /// min(application deadline, route cap)); `None` leaves it as it is.
    pub(crate) fn cap(&mut self, cap: Option<Duration>) {
        if let Some(cap) = cap {
            let capped = self.started + cap;
            self.deadline = Some(self.deadline.map_or(capped, |d| d.min(capped)));
        }
    }

    /// The call deadline, if the call has one.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The error of a call whose deadline passed while `waiting_for`.
    pub(crate) fn exceeded(&self, target: &Arc<str>, waiting_for: String) -> RpcError {
        RpcError::DeadlineExceeded {
            target: target.clone(),
            waiting_for,
            waited: Instant::now().saturating_duration_since(self.started),
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

/// Encodes `timeout` as a `grpc-timeout` value: the finest unit whose count fits the 8 digits
/// the protocol allows (rounded up, so the server never sees a shorter deadline than ours).
pub(crate) fn encode_grpc_timeout(timeout: Duration) -> String {
    const MAX: u128 = 99_999_999;
    let nanos = timeout.as_nanos();
    let units: [(u128, char); 6] = [
        (1, 'n'),
        (1_000, 'u'),
        (1_000_000, 'm'),
        (1_000_000_000, 'S'),
        (60_000_000_000, 'M'),
        (3_600_000_000_000, 'H'),
    ];
    for (per, unit) in units {
        let count = nanos.div_ceil(per);
        if count <= MAX {
            return format!("{count}{unit}");
        }
    }
    format!("{MAX}H")
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

    #[test]
    fn grpc_timeout_encoding_round_trips_within_a_unit() {
        for d in [
            Duration::from_nanos(5),
            Duration::from_millis(250),
            Duration::from_secs(30),
            Duration::from_secs(3 * 86_400),
        ] {
            let encoded = encode_grpc_timeout(d);
            let back = parse_grpc_timeout(&encoded).unwrap();
            assert!(back >= d, "{d:?} → {encoded} → {back:?}");
            assert!(encoded.len() <= 9, "{encoded}");
        }
        assert_eq!(encode_grpc_timeout(Duration::from_millis(50)), "50000000n");
        assert_eq!(encode_grpc_timeout(Duration::from_millis(250)), "250000u");
    }

    #[tokio::test(start_paused = true)]
    async fn a_route_cap_shortens_the_application_deadline_but_never_lengthens_it() {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-timeout", "2S".parse().unwrap());
        let mut bound = CallBound::new(&headers, Duration::from_secs(20));
        bound.cap(Some(Duration::from_secs(5)));
        assert_eq!(
            bound.deadline().unwrap() - bound.started,
            Duration::from_secs(2)
        );
        bound.cap(Some(Duration::from_millis(500)));
        assert_eq!(
            bound.deadline().unwrap() - bound.started,
            Duration::from_millis(500)
        );

        let mut no_app_deadline = CallBound::new(&HeaderMap::new(), Duration::from_secs(20));
        no_app_deadline.cap(None);
        assert_eq!(no_app_deadline.deadline(), None);
        no_app_deadline.cap(Some(Duration::from_secs(1)));
        assert_eq!(
            no_app_deadline.deadline().unwrap() - no_app_deadline.started,
            Duration::from_secs(1)
        );
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
