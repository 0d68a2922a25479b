//! TLS for the admin endpoint: the server's certificate and key, and optionally a client CA that
//! turns on mutual TLS. With a client CA every connection must present a certificate the CA
//! signed (client auth is required, not optional), and a verified certificate authorizes
//! mutations just as the bearer token does (`auth`).
//!
//! The PEM files are read once at start-up; an unreadable file, or one without a PEM block, is
//! refused naming the file and its role, before the port is bound.

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use super::AdminError;

/// TLS settings of the admin endpoint (see [`AdminOptions::tls`](super::AdminOptions::tls)).
#[derive(Clone, Debug)]
pub struct AdminTls {
    /// PEM file with the server's certificate chain.
    pub cert_file: PathBuf,
    /// PEM file with the server certificate's private key.
    pub key_file: PathBuf,
    /// PEM file with the CA(s) client certificates must chain to. When set, clients must present
    /// a certificate it verifies (mutual TLS), and such a client may call mutations without a
    /// token. `None` = server-side TLS only; mutations then need the bearer token.
    pub client_ca_file: Option<PathBuf>,
}

impl AdminTls {
    /// Server-side TLS with `cert_file` and `key_file`, no client certificates.
    pub fn new(cert_file: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> Self {
        AdminTls {
            cert_file: cert_file.into(),
            key_file: key_file.into(),
            client_ca_file: None,
        }
    }

    /// Requires client certificates signed by the CA(s) in `ca_file` (mutual TLS).
    #[must_use]
    pub fn with_client_ca(mut self, ca_file: impl Into<PathBuf>) -> Self {
        self.client_ca_file = Some(ca_file.into());
        self
    }

    /// Whether clients must present a verified certificate.
    pub(crate) fn requires_client_certs(&self) -> bool {
        self.client_ca_file.is_some()
    }

    /// Reads the files and builds tonic's server TLS config.
    pub(crate) fn server_config(&self) -> Result<ServerTlsConfig, AdminError> {
        let cert = read_pem("server certificate (cert_file)", &self.cert_file)?;
        let key = read_pem("server private key (key_file)", &self.key_file)?;
        let mut config = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
        if let Some(ca_file) = &self.client_ca_file {
            let ca = read_pem("client CA (client_ca_file)", ca_file)?;
            config = config
                .client_ca_root(Certificate::from_pem(ca))
                .client_auth_optional(false);
        }
        Ok(config)
    }
}

/// Reads a PEM file playing `role`; it must hold at least one PEM block.
fn read_pem(role: &'static str, path: &Path) -> Result<Vec<u8>, AdminError> {
    let bytes = std::fs::read(path).map_err(|source| AdminError::TlsFile {
        role,
        path: path.to_path_buf(),
        source,
    })?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(AdminError::NotPem {
            role,
            path: path.to_path_buf(),
            len: bytes.len(),
        });
    }
    Ok(bytes)
}
