//! The HTTP/2 endpoint of one control plane: its `server_uri` and `channel_creds` turned into a
//! tonic [`Endpoint`], plaintext or TLS / mutual TLS (gRFC A65 "mTLS Credentials in Bootstrap").
//!
//! With `tls` creds the CA bundle comes from `ca_certificate_file`, or from the system trust store
//! when it is absent (tonic's `tls-native-roots`, which uses the same `ring` backend; no second
//! crypto backend is linked). `certificate_file` + `private_key_file` give the client identity for
//! mutual TLS. Files are read every time an endpoint is built, which the stream task does before
//! each connection attempt: rotated certificates are picked up on the next (re)connect rather than
//! on a `refresh_interval` timer. Does not do `google_default` credentials, `call_creds` (A97) or
//! `unix:` targets.

use std::time::Duration;

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use super::error::ClientError;
use crate::bootstrap::{ChannelCreds, XdsServer};

/// How to reach one control plane; builds a fresh [`Endpoint`] per connection attempt.
#[derive(Clone, Debug)]
pub(crate) struct ServerChannel {
    /// The control plane as the bootstrap names it.
    pub server: XdsServer,
    /// Timeout of one connection attempt.
    pub connect_timeout: Duration,
}

impl ServerChannel {
    /// A channel description for `server`; checks at once that its endpoint can be built (URI
    /// usable, credential files readable), so a bad bootstrap fails when the client is created.
    pub fn new(server: &XdsServer, connect_timeout: Duration) -> Result<Self, ClientError> {
        let channel = ServerChannel {
            server: server.clone(),
            connect_timeout,
        };
        channel.endpoint()?;
        Ok(channel)
    }

    /// The control plane's `server_uri`.
    pub fn uri(&self) -> &str {
        &self.server.server_uri
    }

    /// The endpoint, reading the credential files now.
    pub fn endpoint(&self) -> Result<Endpoint, ClientError> {
        endpoint_for(&self.server, self.connect_timeout)
    }
}

/// The HTTP/2 endpoint of `server`, or why it cannot be used.
pub(crate) fn endpoint_for(
    server: &XdsServer,
    connect_timeout: Duration,
) -> Result<Endpoint, ClientError> {
    let uri = &server.server_uri;
    let tls = match &server.channel_creds {
        ChannelCreds::Insecure => None,
        ChannelCreds::Tls {
            ca_certificate_file,
            certificate_file,
            private_key_file,
            ..
        } => Some(tls_config(
            uri,
            ca_certificate_file.as_deref(),
            certificate_file.as_deref().zip(private_key_file.as_deref()),
        )?),
        ChannelCreds::GoogleDefault => {
            return Err(ClientError::UnsupportedCredentials {
                server: uri.clone(),
                creds: "google_default",
            });
        }
    };
    let invalid = |message: String| ClientError::InvalidServerUri {
        server: uri.clone(),
        message,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let authority = if let Some(rest) = uri.strip_prefix("dns:///") {
        rest
    } else if let Some(rest) = uri.strip_prefix("http://") {
        if tls.is_some() {
            return Err(invalid(
                "`http://` with `tls` channel_creds; drop the scheme or use `dns:///`".to_string(),
            ));
        }
        rest
    } else if let Some(rest) = uri.strip_prefix("https://") {
        if tls.is_none() {
            return Err(invalid(
                "`https://` with `insecure` channel_creds; use `tls` channel_creds".to_string(),
            ));
        }
        rest
    } else if uri.contains("://") || uri.starts_with("unix:") {
        return Err(invalid("only TCP targets are supported".to_string()));
    } else {
        uri.as_str()
    };
    let endpoint = Endpoint::from_shared(format!("{scheme}://{authority}"))
        .map(|e| e.connect_timeout(connect_timeout))
        .map_err(|e| invalid(e.to_string()))?;
    match tls {
        Some(tls) => endpoint.tls_config(tls).map_err(|e| {
            invalid(format!(
                "TLS setup failed: {e}; expected a host name or IP the certificate can match"
            ))
        }),
        None => Ok(endpoint),
    }
}

/// A65 `tls` creds as a tonic TLS config. The server name checked is the URI's host.
fn tls_config(
    server: &str,
    ca_certificate_file: Option<&str>,
    identity: Option<(&str, &str)>,
) -> Result<ClientTlsConfig, ClientError> {
    let mut config = ClientTlsConfig::new();
    config = match ca_certificate_file {
        Some(path) => config.ca_certificate(Certificate::from_pem(read_pem(
            server,
            "ca_certificate_file",
            path,
        )?)),
        None => config.with_native_roots(),
    };
    if let Some((cert, key)) = identity {
        let cert = read_pem(server, "certificate_file", cert)?;
        let key = read_pem(server, "private_key_file", key)?;
        config = config.identity(Identity::from_pem(cert, key));
    }
    Ok(config)
}

/// Read a PEM file named by `field` of the `tls` creds config; it must hold a PEM block.
fn read_pem(server: &str, field: &'static str, path: &str) -> Result<Vec<u8>, ClientError> {
    let error = |message: String| ClientError::CredentialsFile {
        server: server.to_string(),
        field,
        path: path.to_string(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| error(e.to_string()))?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(error(format!(
            "no PEM block in {} bytes; expected `-----BEGIN ...-----`",
            bytes.len()
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests;
