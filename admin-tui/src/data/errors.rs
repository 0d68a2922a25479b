//! Turns gRPC statuses and transport errors from an admin endpoint into one line an operator can
//! act on: what happened and what to do (STYLE.md rule 8).
//!
//! Wording only; no retry decisions (every failure is retried with backoff by the task).

use thiserror::Error;
use tonic::Code;

/// A token that cannot go into a gRPC header.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokenError {
    /// Non-ASCII or control characters.
    #[error(
        "the admin token must be printable ASCII (it is sent as `authorization: Bearer <token>`); check MESHTOP_TOKEN or the --token-file contents"
    )]
    NotAscii,
}

/// Why a call failed, in words.
pub fn describe_status(addr: &str, status: &tonic::Status, has_token: bool) -> String {
    match status.code() {
        Code::Unauthenticated | Code::PermissionDenied if has_token => {
            format!("wrong token for {addr}: set MESHTOP_TOKEN or --token-file")
        }
        Code::Unauthenticated | Code::PermissionDenied => {
            format!("{addr} needs a token: set MESHTOP_TOKEN or --token-file")
        }
        Code::Unimplemented => format!(
            "{addr} does not serve meshwork.admin.v1.Admin: check the port is the admin port (serve_admin)"
        ),
        Code::Unavailable => format!(
            "cannot reach {addr} ({}): check the address and that the service is running",
            status.message()
        ),
        code => format!("{addr} answered {code:?}: {}", status.message()),
    }
}

/// Why dialling failed, in words (with the innermost cause, e.g. `Connection refused`).
pub fn describe_connect_error(addr: &str, err: &tonic::transport::Error) -> String {
    let mut cause: &dyn std::error::Error = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    format!(
        "cannot reach {addr} ({cause}): check the address and that the service serves its admin endpoint"
    )
}
