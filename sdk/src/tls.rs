//! xDS-driven TLS to endpoints, client side (gRFC A29 "xDS-based security").
//!
//! A cluster whose CDS `transport_socket` carries an `UpstreamTlsContext` (validated into
//! [`UpstreamTls`]) names bootstrap *certificate-provider instances* for its root CA and, for
//! mTLS, its identity. This module turns that into a TLS handshake:
//! - [`CertificateProviders`] resolves an instance name through the bootstrap's
//!   `certificate_providers` map and runs the plugin. Only `file_watcher` exists (A29): it reads
//!   `certificate_file`, `private_key_file` and `ca_certificate_file` (PEM) and reads them again
//!   every `refresh_interval` (default 10 min, tokio time), so a rotated certificate is used by
//!   the *next* connection; open connections keep the one they were made with. A reload that fails
//!   keeps the last good files. Any other plugin is an error when a connection first needs it.
//! - [`ClientTls`] makes one rustls client configuration per connection attempt from the
//!   providers' current material: ALPN `h2`, SNI only when the cluster sets `sni`, the identity
//!   certificate when the cluster names one. As A29 requires, the server's certificate chain is
//!   verified against the root provider's CA **without** a hostname check; instead some subject
//!   alternative name of the server's leaf certificate (DNS, URI, IP, e-mail) must match one of
//!   the cluster's `match_subject_alt_names` (any SAN passes when the list is empty).
//!
//! gRPC applies this only to channels built with `XdsChannelCredentials`; Meshwork honours the
//! control plane's TLS configuration by default and offers
//! [`ChannelOptions::xds_security`](crate::channel::ChannelOptions::xds_security) to turn it
//! off. The server side ([`ServerTls`], A29 `DownstreamTlsContext` on A36 xDS-enabled servers)
//! presents the identity provider's certificate and verifies client certificates against the
//! CA provider when the filter chain names one. Not here: SPIFFE trust-bundle maps
//! (A87), the A98 SNI-based SAN check, certificate revocation.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use crate::bootstrap::CertificateProvider as ProviderConfig;

mod client;
mod error;
mod file_watcher;
mod san;
mod server;
mod verifier;

pub use crate::xds::resource::cluster::UpstreamTls;
pub(crate) use client::ClientTls;
pub use error::TlsError;
pub use file_watcher::{DEFAULT_REFRESH_INTERVAL, FileWatcherConfig};
pub use san::SubjectAltName;
pub(crate) use server::ServerTls;
pub(crate) use verifier::handshake_error;

use file_watcher::FileWatcher;

/// The name of the one certificate-provider plugin Meshwork implements (gRFC A29).
pub const FILE_WATCHER_PLUGIN: &str = "file_watcher";

/// The bootstrap's certificate-provider instances, each started on first use and shared by every
/// connection that names it. Cheap to clone; clones share the running providers, which stop when
/// the last clone is dropped.
#[derive(Clone, Debug, Default)]
pub struct CertificateProviders {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    configs: BTreeMap<String, ProviderConfig>,
    running: Mutex<HashMap<String, Arc<FileWatcher>>>,
}

impl CertificateProviders {
    /// The instances of a bootstrap's `certificate_providers` (nothing is read yet).
    pub fn new(configs: BTreeMap<String, ProviderConfig>) -> Self {
        CertificateProviders {
            inner: Arc::new(Inner {
                configs,
                running: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The instance names known.
    pub fn instance_names(&self) -> impl Iterator<Item = &str> {
        self.inner.configs.keys().map(String::as_str)
    }

    /// The running provider of `instance`, started now (on the current tokio runtime) if needed.
    fn provider(&self, instance: &str) -> Result<Arc<FileWatcher>, TlsError> {
        let mut running = self
            .inner
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(provider) = running.get(instance) {
            return Ok(provider.clone());
        }
        let Some(config) = self.inner.configs.get(instance) else {
            return Err(TlsError::UnknownInstance {
                instance: instance.to_string(),
                known: self.inner.configs.keys().cloned().collect(),
            });
        };
        if config.plugin_name != FILE_WATCHER_PLUGIN {
            return Err(TlsError::UnsupportedPlugin {
                instance: instance.to_string(),
                plugin: config.plugin_name.clone(),
            });
        }
        let parsed = FileWatcherConfig::from_json(&config.config).map_err(|message| {
            TlsError::InvalidConfig {
                instance: instance.to_string(),
                message,
            }
        })?;
        let provider = Arc::new(FileWatcher::start(instance, parsed));
        running.insert(instance.to_string(), provider.clone());
        Ok(provider)
    }
}
