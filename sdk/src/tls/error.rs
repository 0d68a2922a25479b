//! [`TlsError`]: why TLS to an endpoint could not even start (provider, files, configuration).
//! Handshake failures themselves (including a SAN mismatch) come from rustls as I/O errors.

use std::path::PathBuf;

/// Why a certificate provider or a TLS client configuration is unusable. Each message names the
/// instance or file and what to change.
#[derive(Clone, Debug, thiserror::Error)]
pub enum TlsError {
    /// The cluster names an instance the bootstrap does not define.
    #[error(
        "certificate provider instance `{instance}` is not in the bootstrap's `certificate_providers` (known: {known:?}); add it there or fix the cluster's UpstreamTlsContext"
    )]
    UnknownInstance {
        /// The instance name.
        instance: String,
        /// The instances the bootstrap defines.
        known: Vec<String>,
    },
    /// The instance uses a plugin other than `file_watcher`.
    #[error(
        "certificate provider instance `{instance}` uses plugin `{plugin}`, which Meshwork does not implement; use plugin `file_watcher`"
    )]
    UnsupportedPlugin {
        /// The instance name.
        instance: String,
        /// Its `plugin_name`.
        plugin: String,
    },
    /// The plugin's `config` is invalid.
    #[error("certificate provider instance `{instance}`: invalid `file_watcher` config: {message}")]
    InvalidConfig {
        /// The instance name.
        instance: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// A file could not be read.
    #[error(
        "certificate provider instance `{instance}`: cannot read {role} `{}`: {reason}; check the path in the bootstrap and that this process may read it",
        path.display()
    )]
    Read {
        /// The instance name.
        instance: String,
        /// Which file (`certificate_file`, `private_key_file`, `ca_certificate_file`).
        role: &'static str,
        /// Its path.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// A file holds no usable PEM of the expected kind.
    #[error(
        "certificate provider instance `{instance}`: {role} `{}` {problem}; expected {expected}",
        path.display()
    )]
    Pem {
        /// The instance name.
        instance: String,
        /// Which file.
        role: &'static str,
        /// Its path.
        path: PathBuf,
        /// What was found.
        problem: String,
        /// What the file should hold.
        expected: &'static str,
    },
    /// The instance has no CA certificates but a cluster or server listener uses it for roots.
    #[error(
        "certificate provider instance `{instance}` has no `ca_certificate_file`, but a cluster (to verify servers) or a server listener (to verify clients) uses it as its CA; add one to its config"
    )]
    NoRoots {
        /// The instance name.
        instance: String,
    },
    /// The instance has no certificate and key but a cluster or server listener uses it as identity.
    #[error(
        "certificate provider instance `{instance}` has no `certificate_file` / `private_key_file`, but a cluster (client identity, mTLS) or a server listener (server identity) uses it; add both to its config"
    )]
    NoIdentity {
        /// The instance name.
        instance: String,
    },
    /// The provider stopped before loading anything.
    #[error("certificate provider instance `{instance}` stopped before loading its files")]
    Stopped {
        /// The instance name.
        instance: String,
    },
    /// rustls refused the material (e.g. a key that does not fit the certificate).
    #[error("TLS client configuration rejected: {0}; check the identity certificate and key")]
    Config(String),
}
