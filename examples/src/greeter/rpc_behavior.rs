//! The `rpc-behavior` request metadata: per-call instructions to a greeter backend, in the spirit of
//! gRPC's xDS interop test server (grpc/grpc `doc/interop-test-descriptions.md`, "Server" section).
//!
//! This module only parses values and evaluates them against one call; it does no I/O and keeps no
//! state (the [`Behavior`](super::Behavior) handle decides what happens when no directive ends the
//! call).
//!
//! # Grammar
//!
//! ```text
//! value     = [ "hostname=" NAME " " ] directive *( "," directive )
//! directive = "sleep-" MILLIS                  ; add MILLIS ms of latency, continue
//!           | "keep-open"                      ; never answer (until cancelled), stop
//!           | "error-code-" CODE               ; fail with gRPC code CODE (0..=16), stop
//!           | "succeed-on-retry-attempt-" N    ; if the call's previous attempts == N: succeed, stop;
//!                                              ; otherwise continue
//! ```
//!
//! - Several `rpc-behavior` header values are evaluated in order, as if joined by `,`.
//! - A `hostname=NAME ` prefix applies the rest of that value only on the backend named `NAME`;
//!   other backends skip the value.
//! - Whitespace around directives is ignored; an empty value is allowed and does nothing.
//! - `success-on-retry-attempt-N` is accepted as a synonym (the interop document's spelling).
//! - `error-code-0` means "succeed now".
//! - A malformed value fails the call with `INVALID_ARGUMENT` naming the bad directive.
//!
//! Differences from the interop server: `sleep-N` counts **milliseconds** (the interop server's
//! counts seconds), so deadline tests can stay short.
//!
//! The previous-attempt count of a call is `grpc-previous-rpc-attempts` when the client sends it
//! (gRFC A6; absent on a first attempt), otherwise how many earlier calls with the same
//! `x-request-id` this backend has seen, otherwise 0.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use tonic::Code;

/// One directive of an `rpc-behavior` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Directive {
    /// `sleep-<ms>`: add latency, then continue.
    Sleep(Duration),
    /// `keep-open`: never answer (until the client cancels or the server stops).
    KeepOpen,
    /// `error-code-<n>`: end the call with this code.
    ErrorCode(Code),
    /// `succeed-on-retry-attempt-<n>`: succeed when the call's previous attempts equal `n`.
    SucceedOnRetryAttempt(u32),
}

/// A parsed `rpc-behavior` value: an optional backend filter and its directives, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RpcBehavior {
    /// Apply only on the backend with this name (`hostname=<name> ` prefix).
    pub hostname: Option<String>,
    /// The directives, evaluated left to right.
    pub directives: Vec<Directive>,
}

/// How a sequence of `rpc-behavior` values ends a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No directive ended the call: the backend's own [`Behavior`](super::Behavior) decides.
    Continue,
    /// Answer normally.
    Succeed,
    /// Fail with this code.
    Fail(Code),
    /// Never answer.
    KeepOpen,
}

/// What the directives that apply to one call say: extra latency, and how the call ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// Sum of the `sleep-` directives evaluated before the verdict.
    pub delay: Duration,
    /// How the call ends.
    pub verdict: Verdict,
}

/// A malformed `rpc-behavior` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "bad rpc-behavior `{value}`: {problem}; expected comma-separated directives sleep-<ms>, \
     keep-open, error-code-<0..=16>, succeed-on-retry-attempt-<n>, optionally after \
     `hostname=<name> `"
)]
pub struct ParseError {
    /// The whole value.
    pub value: String,
    /// What was wrong with it.
    pub problem: String,
}

impl FromStr for RpcBehavior {
    type Err = ParseError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let err = |problem: String| ParseError {
            value: value.to_owned(),
            problem,
        };
        let trimmed = value.trim();
        let (hostname, rest) = match trimmed.strip_prefix("hostname=") {
            Some(after) => {
                let (name, rest) = after.split_once(' ').unwrap_or((after, ""));
                if name.is_empty() {
                    return Err(err("`hostname=` names no backend".to_owned()));
                }
                (Some(name.to_owned()), rest)
            }
            None => (None, trimmed),
        };
        let directives = rest
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| d.parse::<Directive>().map_err(&err))
            .collect::<Result<_, _>>()?;
        Ok(RpcBehavior {
            hostname,
            directives,
        })
    }
}

impl FromStr for Directive {
    type Err = String;

    fn from_str(token: &str) -> Result<Self, Self::Err> {
        if token == "keep-open" {
            return Ok(Directive::KeepOpen);
        }
        if let Some(ms) = token.strip_prefix("sleep-") {
            return Ok(Directive::Sleep(Duration::from_millis(number(token, ms)?)));
        }
        if let Some(code) = token.strip_prefix("error-code-") {
            let n = number(token, code)?;
            return match i32::try_from(n) {
                Ok(n @ 0..=16) => Ok(Directive::ErrorCode(Code::from_i32(n))),
                _ => Err(format!("`{token}`: gRPC codes are 0..=16, got {n}")),
            };
        }
        let attempt = token
            .strip_prefix("succeed-on-retry-attempt-")
            .or_else(|| token.strip_prefix("success-on-retry-attempt-"));
        if let Some(n) = attempt {
            let n = number(token, n)?;
            return u32::try_from(n)
                .map(Directive::SucceedOnRetryAttempt)
                .map_err(|_| format!("`{token}`: attempt {n} is too large"));
        }
        Err(format!("unknown directive `{token}`"))
    }
}

fn number(token: &str, digits: &str) -> Result<u64, String> {
    digits
        .parse()
        .map_err(|_| format!("`{token}` should end in a non-negative integer, got `{digits}`"))
}

impl RpcBehavior {
    /// Whether this value applies on the backend named `backend`.
    pub fn applies_to(&self, backend: &str) -> bool {
        self.hostname.as_deref().is_none_or(|h| h == backend)
    }
}

impl fmt::Display for Directive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Directive::Sleep(d) => write!(f, "sleep-{}", d.as_millis()),
            Directive::KeepOpen => f.write_str("keep-open"),
            Directive::ErrorCode(c) => write!(f, "error-code-{}", *c as i32),
            Directive::SucceedOnRetryAttempt(n) => write!(f, "succeed-on-retry-attempt-{n}"),
        }
    }
}

/// Evaluates `values` (in header order) for one call on `backend` whose previous attempts are
/// `previous_attempts`.
pub fn evaluate(values: &[RpcBehavior], backend: &str, previous_attempts: u32) -> Evaluation {
    let mut delay = Duration::ZERO;
    let directives = values
        .iter()
        .filter(|v| v.applies_to(backend))
        .flat_map(|v| &v.directives);
    for directive in directives {
        let verdict = match directive {
            Directive::Sleep(d) => {
                delay = delay.saturating_add(*d);
                continue;
            }
            Directive::KeepOpen => Verdict::KeepOpen,
            Directive::ErrorCode(Code::Ok) => Verdict::Succeed,
            Directive::ErrorCode(code) => Verdict::Fail(*code),
            Directive::SucceedOnRetryAttempt(n) if *n == previous_attempts => Verdict::Succeed,
            Directive::SucceedOnRetryAttempt(_) => continue,
        };
        return Evaluation { delay, verdict };
    }
    Evaluation {
        delay,
        verdict: Verdict::Continue,
    }
}

#[cfg(test)]
mod tests;
