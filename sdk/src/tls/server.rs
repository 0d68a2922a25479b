//! [`ServerTls`]: a server filter chain's A29 `DownstreamTlsContext` bound to the process's
//! certificate providers, turned into a rustls server configuration for each accepted
//! connection (so rotated certificates apply to the next connection).
//!
//! The server presents the identity provider's chain. With a client CA, clients are asked for a
//! certificate, verified against that CA (webpki path building, `clientAuth` usage); with
//! `require_client_certificate` a client without one is refused during the handshake. ALPN `h2`.

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use tokio_rustls::TlsAcceptor;

use super::{CertificateProviders, TlsError};
use crate::xds::resource::listener::DownstreamTls;

/// The ALPN protocol gRPC speaks.
const ALPN_H2: &[u8] = b"h2";

/// One filter chain's downstream TLS with the providers that serve its certificates.
#[derive(Clone, Debug)]
pub(crate) struct ServerTls {
    settings: DownstreamTls,
    providers: CertificateProviders,
}

impl ServerTls {
    pub(crate) fn new(settings: DownstreamTls, providers: CertificateProviders) -> Self {
        ServerTls {
            settings,
            providers,
        }
    }

    /// An acceptor from the providers' current certificates (waiting for a provider's first
    /// load).
    pub(crate) async fn acceptor(&self) -> Result<TlsAcceptor, TlsError> {
        let instance = &self.settings.identity.instance_name;
        let material = self.providers.provider(instance)?.current().await?;
        let identity = material
            .identity
            .clone()
            .ok_or_else(|| TlsError::NoIdentity {
                instance: instance.clone(),
            })?;
        let crypto: Arc<CryptoProvider> = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(crypto.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = match &self.settings.client_ca {
            Some(ca) => {
                let instance = &ca.instance_name;
                let material = self.providers.provider(instance)?.current().await?;
                let roots = material.roots.clone().ok_or_else(|| TlsError::NoRoots {
                    instance: instance.clone(),
                })?;
                let verifier = WebPkiClientVerifier::builder_with_provider(roots, crypto);
                let verifier = if self.settings.require_client_certificate {
                    verifier
                } else {
                    verifier.allow_unauthenticated()
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| TlsError::Config(e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(identity.chain.clone(), identity.key.clone_key())
            .map_err(|e| TlsError::Config(e.to_string()))?;
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}
