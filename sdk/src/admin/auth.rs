//! Who may change behaviour through the admin endpoint: a bearer token compared in constant time
//! (`subtle`), resolved once at start-up from the options, a file or `MESHWORK_ADMIN_TOKEN`; or,
//! with mutual TLS configured, a client certificate the TLS handshake verified against the
//! client CA (tonic's `Request::peer_certs`). Either one suffices.
//!
//! Reads never reach this module. A mutation without `authorization` metadata is refused
//! `UNAUTHENTICATED`; one with a wrong or malformed token `PERMISSION_DENIED`; both change
//! nothing and are logged. Following `reference/resilience-semantics.md` §6, an endpoint with
//! neither a token nor mutual TLS may only listen on loopback, and then refuses mutations unless
//! explicitly allowed.

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
    /// Mutual TLS is on: a verified client certificate authorizes.
    mtls: bool,
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
        let mtls = options
            .tls
            .as_ref()
            .is_some_and(super::AdminTls::requires_client_certs);
        if token.is_none() && !mtls && !addr.ip().is_loopback() {
            return Err(AdminError::InsecureBind { addr });
        }
        Ok(Auth {
            token: token.map(String::into_bytes),
            allow_unauthenticated: options.allow_unauthenticated_loopback_mutations,
            mtls,
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
        // The handshake verified any certificate against the client CA; tonic only exposes the
        // certificates of a TLS connection, and ours requires them when mutual TLS is on.
        let has_verified_cert = request.peer_certs().is_some_and(|certs| !certs.is_empty());
        if self.mtls && has_verified_cert {
            tracing::info!(
                target: "meshwork::admin",
                %peer,
                action,
                "admin mutation authorized by a verified client certificate"
            );
            return Ok(());
        }
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
                "{action} is disabled: this admin endpoint has no token configured and no \
                 verified client certificate was presented; restart it with a token \
                 (AdminOptions::token or token_file, or {TOKEN_ENV}) and send \
                 `authorization: Bearer <token>`, or with mutual TLS (AdminOptions::tls with a \
                 client_ca_file) and connect with a client certificate"
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
            mtls: false,
        };
        let refused = none.authorize(&with_auth(Some("Bearer x")), "ClearFault");
        assert_eq!(refused.unwrap_err().code(), tonic::Code::PermissionDenied);
        let open = Auth {
            token: None,
            allow_unauthenticated: true,
            mtls: false,
        };
        assert!(open.authorize(&with_auth(None), "ClearFault").is_ok());
    }

    #[test]
    fn mutual_tls_alone_allows_a_non_loopback_bind_but_server_tls_alone_does_not() {
        let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
        let server_only = AdminOptions {
            tls: Some(super::super::AdminTls::new("cert.pem", "key.pem")),
            ..AdminOptions::default()
        };
        if std::env::var_os(TOKEN_ENV).is_none() {
            assert!(matches!(
                Auth::from_options(&server_only, any),
                Err(AdminError::InsecureBind { .. })
            ));
        }
        let mutual = AdminOptions {
            tls: Some(super::super::AdminTls::new("cert.pem", "key.pem").with_client_ca("ca.pem")),
            ..AdminOptions::default()
        };
        let auth = Auth::from_options(&mutual, any).unwrap();
        assert!(auth.mtls);
        // Without a certificate on the request (not a TLS connection), the token rules apply.
        let refused = auth.authorize(&with_auth(None), "SetFault");
        assert!(refused.is_err());
    }
}
