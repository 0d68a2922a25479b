//! The rustls server-certificate verifier of gRFC A29: the chain must lead to one of the root
//! provider's CA certificates (webpki path building, validity and `serverAuth` usage, as rustls
//! checks it), the hostname is **not** checked, and some SAN of the leaf must pass the cluster's
//! `match_subject_alt_names`. Handshake signatures are checked with the crypto provider's
//! algorithms, as rustls' own verifier does.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};

use super::san::{self, SubjectAltName};
use crate::xds::resource::common::StringMatcher;

/// Verifies servers as A29 says; see the module docs.
pub(super) struct SanVerifier {
    roots: Arc<RootCertStore>,
    matchers: Vec<StringMatcher>,
    algorithms: WebPkiSupportedAlgorithms,
}

/// The server's certificate chains to the CA but none of its SANs is acceptable.
#[derive(Debug, thiserror::Error)]
#[error(
    "server certificate SANs [{}] match none of the cluster's match_subject_alt_names [{}]; fix the cluster's SAN matchers or the server's certificate",
    list(.sans),
    .matchers.join(", ")
)]
pub(super) struct SanMismatch {
    sans: Vec<SubjectAltName>,
    matchers: Vec<String>,
}

fn list(sans: &[SubjectAltName]) -> String {
    if sans.is_empty() {
        return "none".to_string();
    }
    sans.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl SanVerifier {
    pub(super) fn new(
        roots: Arc<RootCertStore>,
        matchers: Vec<StringMatcher>,
        algorithms: WebPkiSupportedAlgorithms,
    ) -> Self {
        SanVerifier {
            roots,
            matchers,
            algorithms,
        }
    }

    /// The SAN check alone (the chain was verified before).
    fn authorize(&self, end_entity: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        if self.matchers.is_empty() {
            return Ok(());
        }
        let other = |e: Arc<dyn std::error::Error + Send + Sync>| {
            rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(e)))
        };
        let sans = SubjectAltName::from_certificate(end_entity.as_ref())
            .map_err(|e| other(Arc::new(e)))?;
        if san::authorized(&sans, &self.matchers) {
            return Ok(());
        }
        Err(other(Arc::new(SanMismatch {
            sans,
            matchers: self.matchers.iter().map(san::describe).collect(),
        })))
    }
}

impl ServerCertVerifier for SanVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let parsed = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &self.roots,
            intermediates,
            now,
            self.algorithms.all,
        )?;
        self.authorize(end_entity)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl fmt::Debug for SanVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SanVerifier")
            .field("roots", &self.roots.len())
            .field("matchers", &self.matchers.len())
            .finish_non_exhaustive()
    }
}

/// A handshake error as users should read it: rustls shows a verifier's own error (such as
/// [`SanMismatch`]) with `Debug`, so it is unwrapped and shown with `Display` here.
pub(crate) fn handshake_error(error: &std::io::Error) -> String {
    let inner = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(e)))) => {
            format!("invalid peer certificate: {e}")
        }
        Some(e) => e.to_string(),
        None => error.to_string(),
    }
}
