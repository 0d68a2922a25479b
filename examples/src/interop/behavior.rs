//! The interop server's reading of the `rpc-behavior` request metadata (grpc/grpc
//! `doc/xds-test-descriptions.md`, "Server"): `sleep-<seconds>`, `keep-open`, `error-code-<n>`,
//! `succeed-on-retry-attempt-<n>` and the `hostname=<h> ` filter.
//!
//! Parsing and evaluation are the greeter's ([`crate::greeter::rpc_behavior`]); this module only
//! changes the unit of `sleep-N` to seconds, as gRPC's interop servers count it, and turns the
//! verdict into what the call does. It keeps no state.

use std::time::Duration;

use tonic::metadata::MetadataMap;
use tonic::{Code, Status};

use crate::greeter::rpc_behavior::{Directive, RpcBehavior, Verdict, evaluate};

/// Request metadata key carrying the directives.
pub const RPC_BEHAVIOR: &str = "rpc-behavior";
/// Request metadata key with the number of earlier attempts of this call (gRFC A6).
pub const PREVIOUS_ATTEMPTS: &str = "grpc-previous-rpc-attempts";

/// What the server does with one call after reading its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Wait this long, then answer normally.
    Answer(Duration),
    /// Wait this long, then fail with this code.
    Fail(Duration, Code),
    /// Wait this long, then never answer (until the client cancels).
    KeepOpen(Duration),
}

/// Reads every `rpc-behavior` value of a call that reached the server named `hostname`.
///
/// A malformed value or a non-numeric `grpc-previous-rpc-attempts` is `INVALID_ARGUMENT`.
pub fn plan(metadata: &MetadataMap, hostname: &str) -> Result<Plan, Status> {
    let mut values = Vec::new();
    for raw in metadata.get_all(RPC_BEHAVIOR) {
        let text = raw.to_str().map_err(|_| {
            Status::invalid_argument("rpc-behavior must be ASCII text, got non-ASCII bytes")
        })?;
        let parsed: RpcBehavior =
            text.parse()
                .map_err(|e: crate::greeter::rpc_behavior::ParseError| {
                    Status::invalid_argument(e.to_string().replace("sleep-<ms>", "sleep-<seconds>"))
                })?;
        values.push(in_seconds(parsed));
    }
    let previous = match metadata.get(PREVIOUS_ATTEMPTS) {
        None => 0,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .ok_or_else(|| {
                Status::invalid_argument(format!(
                    "{PREVIOUS_ATTEMPTS} should be a non-negative integer, got {v:?}"
                ))
            })?,
    };
    let eval = evaluate(&values, hostname, previous);
    Ok(match eval.verdict {
        Verdict::Continue | Verdict::Succeed => Plan::Answer(eval.delay),
        Verdict::KeepOpen => Plan::KeepOpen(eval.delay),
        Verdict::Fail(code) => Plan::Fail(eval.delay, code),
    })
}

/// Carries out `plan`: sleeps, then returns `Ok` to answer or the status to fail with; a
/// `keep-open` plan never returns (the call ends when the client cancels it).
pub async fn carry_out(plan: Plan) -> Result<(), Status> {
    match plan {
        Plan::Answer(delay) => {
            tokio::time::sleep(delay).await;
            Ok(())
        }
        Plan::Fail(delay, code) => {
            tokio::time::sleep(delay).await;
            Err(Status::new(
                code,
                format!("rpc-behavior asked for error-code-{}", code as i32),
            ))
        }
        Plan::KeepOpen(delay) => {
            tokio::time::sleep(delay).await;
            std::future::pending().await
        }
    }
}

/// The deadline the caller sent (`grpc-timeout`: digits then `H`, `M`, `S`, `m`, `u` or `n`);
/// `None` without one or when it cannot be read (the call then runs unbounded, as before).
pub fn deadline(metadata: &MetadataMap) -> Option<Duration> {
    let text = metadata.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Plans and carries out the request's `rpc-behavior` within the caller's deadline: past it the
/// call ends with DEADLINE_EXCEEDED, as gRPC servers report an expired deadline.
pub async fn behave(metadata: &MetadataMap, hostname: &str) -> Result<(), Status> {
    let plan = plan(metadata, hostname)?;
    match deadline(metadata) {
        None => carry_out(plan).await,
        Some(limit) => tokio::time::timeout(limit, carry_out(plan))
            .await
            .unwrap_or_else(|_| {
                Err(Status::deadline_exceeded(format!(
                    "the caller's deadline of {limit:?} expired while the server carried out                      rpc-behavior"
                )))
            }),
    }
}

/// The greeter parser reads `sleep-N` as milliseconds; the interop language means seconds.
fn in_seconds(mut value: RpcBehavior) -> RpcBehavior {
    for d in &mut value.directives {
        if let Directive::Sleep(ms) = d {
            let seconds = u64::try_from(ms.as_millis()).unwrap_or(u64::MAX);
            *ms = Duration::from_secs(seconds);
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(values: &[&str]) -> MetadataMap {
        let mut m = MetadataMap::new();
        for v in values {
            m.append(RPC_BEHAVIOR, v.parse().unwrap());
        }
        m
    }

    #[test]
    fn sleep_counts_seconds() {
        assert_eq!(
            plan(&md(&["sleep-2"]), "a").unwrap(),
            Plan::Answer(Duration::from_secs(2))
        );
    }

    #[test]
    fn hostname_filter_applies_only_on_the_named_server() {
        let m = md(&["hostname=b0 error-code-2"]);
        assert!(plan(&m, "b0").unwrap() == Plan::Fail(Duration::ZERO, Code::Unknown));
        assert_eq!(plan(&m, "b1").unwrap(), Plan::Answer(Duration::ZERO));
    }

    #[test]
    fn retry_attempt_succeeds_only_on_the_named_attempt() {
        let mut m = md(&["succeed-on-retry-attempt-4,error-code-14"]);
        assert_eq!(
            plan(&m, "a").unwrap(),
            Plan::Fail(Duration::ZERO, Code::Unavailable)
        );
        m.insert(PREVIOUS_ATTEMPTS, "4".parse().unwrap());
        assert_eq!(plan(&m, "a").unwrap(), Plan::Answer(Duration::ZERO));
    }

    #[test]
    fn grpc_timeout_units() {
        let mut m = MetadataMap::new();
        for (text, want) in [
            ("1S", Some(Duration::from_secs(1))),
            ("250m", Some(Duration::from_millis(250))),
            ("3M", Some(Duration::from_secs(180))),
            ("7u", Some(Duration::from_micros(7))),
            ("S", None),
            ("123456789S", None),
            ("5x", None),
        ] {
            m.insert("grpc-timeout", text.parse().unwrap());
            assert_eq!(deadline(&m), want, "{text}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn behaviour_past_the_deadline_is_deadline_exceeded() {
        let mut m = md(&["sleep-2"]);
        m.insert("grpc-timeout", "1S".parse().unwrap());
        let err = behave(&m, "a").await.unwrap_err();
        assert_eq!(err.code(), Code::DeadlineExceeded);
        let mut quick = md(&["sleep-1"]);
        quick.insert("grpc-timeout", "2S".parse().unwrap());
        assert!(behave(&quick, "a").await.is_ok());
    }

    #[test]
    fn keep_open_and_malformed() {
        assert_eq!(
            plan(&md(&["keep-open"]), "a").unwrap(),
            Plan::KeepOpen(Duration::ZERO)
        );
        let err = plan(&md(&["sleep-x"]), "a").unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
    }
}
