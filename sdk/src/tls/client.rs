//! [`ClientTls`]: one cluster's A29 TLS settings bound to the process's certificate providers,
//! turned into a rustls client configuration for each new connection (so rotated certificates
//! apply to the next connection).

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::ClientConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

use super::verifier::SanVerifier;
use super::{CertificateProviders, TlsError, UpstreamTls};

/// The ALPN protocol gRPC speaks.
const ALPN_H2: &[u8] = b"h2";

/// A cluster's upstream TLS with the providers that serve its certificates. Two connections to
/// the same address share a pooled connection only when their `ClientTls` settings are equal.
#[derive(Clone, Debug)]
pub(crate) struct ClientTls {
    settings: UpstreamTls,
    providers: CertificateProviders,
}

impl PartialEq for ClientTls {
    fn eq(&self, other: &Self) -> bool {
        self.settings == other.settings
            && Arc::ptr_eq(&self.providers.inner, &other.providers.inner)
    }
}

impl ClientTls {
    pub(crate) fn new(settings: UpstreamTls, providers: CertificateProviders) -> Self {
        ClientTls {
            settings,
            providers,
        }
    }

    /// The connector and server name for a handshake with `address`, from the providers'
    /// current certificates (waiting for a provider's first load).
    pub(crate) async fn connector(
        &self,
        address: SocketAddr,
    ) -> Result<(TlsConnector, ServerName<'static>), TlsError> {
        let root = &self.settings.root.instance_name;
        let material = self.providers.provider(root)?.current().await?;
        let roots = material.roots.clone().ok_or_else(|| TlsError::NoRoots {
            instance: root.clone(),
        })?;
        let identity = match &self.settings.identity {
            Some(provider) => {
                let instance = &provider.instance_name;
                let material = self.providers.provider(instance)?.current().await?;
                Some(
                    material
                        .identity
                        .clone()
                        .ok_or_else(|| TlsError::NoIdentity {
                            instance: instance.clone(),
                        })?,
                )
            }
            None => None,
        };
        let crypto = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = SanVerifier::new(
            roots,
            self.settings.subject_alt_names.clone(),
            crypto.signature_verification_algorithms,
        );
        let builder = ClientConfig::builder_with_provider(crypto.clone() as Arc<CryptoProvider>)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier));
        let mut config = match identity {
            Some(identity) => builder
                .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
                .map_err(|e| TlsError::Config(e.to_string()))?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        let sni = &self.settings.sni;
        config.enable_sni = !sni.is_empty();
        let name = if sni.is_empty() {
            // Never sent (SNI is off, and rustls sends no SNI for addresses); the verifier
            // ignores names.
            ServerName::IpAddress(address.ip().into())
        } else {
            ServerName::try_from(sni.clone()).map_err(|e| {
                TlsError::Config(format!(
                    "the cluster's SNI `{sni}` is not a valid server name ({e})"
                ))
            })?
        };
        Ok((TlsConnector::from(Arc::new(config)), name))
    }
}
