//! Who may change behaviour through the admin endpoint: a bearer token compared in constant time
//! (`subtle`), resolved once at start-up from the options, a file or `MESHWORK_ADMIN_TOKEN`.
//!
//! Reads never reach this module. A mutation without `authorization` metadata is refused
//! `UNAUTHENTICATED`; one with a wrong or malformed token `PERMISSION_DENIED`; both change
//! nothing and are logged. Following `reference/resilience-semantics.md` §6, an endpoint without
//! a token may only listen on loopback, and then refuses mutations unless explicitly allowed.

use std::net::SocketAddr;

use subtle::ConstantTimeEq;
use tonic::Status;

use super::{AdminError, AdminOptions};

/// Environment variable holding the admin token when the options give none.
pub const TOKEN_ENV: &str = "MESHWORK_ADMIN_TOKEN";

/// The admin endpoint's authentication.
#[derive(Debug)]
pub(crate) struct Auth {
    token: Option<Vec<u8>>,
    allow_unauthenticated: bool,
}

impl Auth {
    /// Resolves the token and checks the address may be served with it.
    pub(crate) fn from_options(
        options: &AdminOptions,
        addr: SocketAddr,
    ) -> Result<Self, AdminError> {
        let (token, origin) = match (&options.token, &options.token_file) {
            (Some(token), _) => (Some(token.clone()), "AdminOptions::token".to_string()),
            (None, Some(path)) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| AdminError::TokenFile {
                        path: path.clone(),
                        source,
                    })?;
                (
                    Some(text.trim().to_string()),
                    format!("file {}", path.display()),
                )
            }
            (None, None) => (std::env::var(TOKEN_ENV).ok(), TOKEN_ENV.to_string()),
        };
        if token.as_deref().is_some_and(str::is_empty) {
            return Err(AdminError::EmptyToken { origin });
        }
        if token.is_none() && !addr.ip().is_loopback() {
            return Err(AdminError::InsecureBind { addr });
        }
        Ok(Auth {
            token: token.map(String::into_bytes),
            allow_unauthenticated: options.allow_unauthenticated_loopback_mutations,
        })
    }

    /// Lets a mutation through, or says why not. `action` names it in the errors and the log.
    pub(crate) fn authorize<T>(
        &self,
        request: &tonic::Request<T>,
        action: &str,
    ) -> Result<(), Status> {
        let peer = request
            .remote_addr()
            .map_or_else(|| "unknown".to_string(), |a| a.to_string());
        let outcome = self.check(request.metadata(), action);
        match &outcome {
            Ok(()) => {
                tracing::info!(target: "meshwork::admin", %peer, action, "admin mutation authorized")
            }
            Err(status) => tracing::warn!(
                target: "meshwork::admin",
                %peer,
                action,
                reason = status.message(),
                "admin mutation refused"
            ),
        }
        outcome
    }

    fn check(&self, metadata: &tonic::metadata::MetadataMap, action: &str) -> Result<(), Status> {
        let Some(expected) = &self.token else {
            if self.allow_unauthenticated {
                return Ok(());
            }
            return Err(Status::permission_denied(format!(
                "{action} is disabled: this admin endpoint has no token configured; restart it \
                 with a token (AdminOptions::token or token_file, or {TOKEN_ENV}) and send \
                 `authorization: Bearer <token>`"
            )));
        };
        let Some(value) = metadata.get("authorization") else {
            return Err(Status::unauthenticated(format!(
                "{action} changes behaviour and needs `authorization: Bearer <token>` metadata; \
                 none was sent"
            )));
        };
        let presented = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(presented) = presented else {
            return Err(Status::permission_denied(format!(
                "{action}: the authorization metadata is not `Bearer <token>`"
            )));
        };
        if bool::from(presented.as_bytes().ct_eq(expected)) {
            Ok(())
        } else {
            Err(Status::permission_denied(format!(
                "{action}: the bearer token does not match this admin endpoint's token"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    fn with_auth(value: Option<&str>) -> tonic::Request<()> {
        let mut request = tonic::Request::new(());
        if let Some(v) = value {
            request
                .metadata_mut()
                .insert("authorization", v.parse().unwrap());
        }
        request
    }

    #[test]
    fn only_the_right_bearer_token_passes() {
        let options = AdminOptions {
            token: Some("s3cret".into()),
            ..AdminOptions::default()
        };
        let auth = Auth::from_options(&options, loopback()).unwrap();
        assert!(
            auth.authorize(&with_auth(Some("Bearer s3cret")), "SetFault")
                .is_ok()
        );
        let code = |v| {
            auth.authorize(&with_auth(v), "SetFault")
                .unwrap_err()
                .code()
        };
        assert_eq!(code(None), tonic::Code::Unauthenticated);
        assert_eq!(code(Some("Bearer s3cre")), tonic::Code::PermissionDenied);
        assert_eq!(code(Some("Bearer s3cret2")), tonic::Code::PermissionDenied);
        assert_eq!(code(Some("Basic s3cret")), tonic::Code::PermissionDenied);
    }

    #[test]
    fn without_a_token_only_loopback_serves_and_mutations_are_off() {
        let options = AdminOptions {
            token_file: Some("/nonexistent/meshwork-token".into()),
            ..AdminOptions::default()
        };
        assert!(matches!(
            Auth::from_options(&options, loopback()),
            Err(AdminError::TokenFile { .. })
        ));
        let empty = AdminOptions {
            token: Some(String::new()),
            ..AdminOptions::default()
        };
        assert!(matches!(
            Auth::from_options(&empty, loopback()),
            Err(AdminError::EmptyToken { .. })
        ));
        let none = Auth {
            token: None,
            allow_unauthenticated: false,
        };
        let refused = none.authorize(&with_auth(Some("Bearer x")), "ClearFault");
        assert_eq!(refused.unwrap_err().code(), tonic::Code::PermissionDenied);
        let open = Auth {
            token: None,
            allow_unauthenticated: true,
        };
        assert!(open.authorize(&with_auth(None), "ClearFault").is_ok());
    }
}
