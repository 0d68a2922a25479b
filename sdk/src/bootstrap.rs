//! The gRPC xDS bootstrap: where the control plane is and who this client is.
//!
//! Reads the format of grpc/grpc `doc/grpc_xds_bootstrap_format.md` (gRFCs A27, A29, A30, A47, A65,
//! A71). Does no network I/O.
//!
//! CONTRACT (shared with the ADS client; keep these types and fields, add freely):
//! [`Bootstrap`], [`XdsServer`], [`ChannelCreds`], [`Node`], [`Locality`], [`Authority`],
//! [`CertificateProvider`].

use std::collections::BTreeMap;

/// A parsed, validated gRPC xDS bootstrap.
#[derive(Clone, Debug, PartialEq)]
pub struct Bootstrap {
    /// Control planes in order: the first is primary, later ones are fallbacks (gRFC A71). Never empty.
    pub xds_servers: Vec<XdsServer>,
    /// Who this client is, sent on every new ADS stream.
    pub node: Node,
    /// Certificate-provider instances by name (gRFC A29).
    pub certificate_providers: BTreeMap<String, CertificateProvider>,
    /// Federation authorities by name (gRFC A47).
    pub authorities: BTreeMap<String, Authority>,
    /// Template for listener names of `xds:` targets without an authority; `%s` is replaced by the
    /// target's `host:port`. Default `"%s"`.
    pub client_default_listener_resource_name_template: String,
    /// Template for xDS-enabled servers' listener names (gRFC A36); `%s` → `ip:port`.
    pub server_listener_resource_name_template: Option<String>,
}

/// One control plane.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct XdsServer {
    /// gRPC target of the control plane, e.g. `127.0.0.1:18000` or `dns:///istiod:15010`.
    pub server_uri: String,
    /// The first channel credentials type this client supports.
    pub channel_creds: ChannelCreds,
    /// Server features, unknown entries kept but ignored (`xds_v3`, `ignore_resource_deletion`,
    /// `fail_on_data_errors`, `resource_timer_is_transient_error`, `trusted_xds_server`).
    pub server_features: Vec<String>,
}

impl XdsServer {
    /// Whether the bootstrap lists `feature` for this server.
    pub fn has_feature(&self, feature: &str) -> bool {
        self.server_features.iter().any(|f| f == feature)
    }
}

/// Credentials for the connection to a control plane.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChannelCreds {
    /// Plaintext.
    Insecure,
    /// TLS, optionally mutual (gRFC A65).
    Tls {
        /// PEM CA bundle; `None` = system roots.
        ca_certificate_file: Option<String>,
        /// PEM client certificate chain (mTLS); set together with `private_key_file`.
        certificate_file: Option<String>,
        /// PEM private key (mTLS).
        private_key_file: Option<String>,
    },
    /// Google default credentials: accepted in the bootstrap, not supported by this client.
    GoogleDefault,
}

/// The `node` sent to the control plane.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Node {
    /// Node id.
    pub id: String,
    /// Node cluster.
    pub cluster: String,
    /// Where this client runs.
    pub locality: Option<Locality>,
    /// Free-form metadata (a JSON object).
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// Region / zone / sub-zone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Locality {
    /// Region.
    pub region: String,
    /// Zone.
    pub zone: String,
    /// Sub-zone.
    pub sub_zone: String,
}

/// A federation authority (gRFC A47).
#[derive(Clone, Debug, PartialEq)]
pub struct Authority {
    /// Template for listener names of `xds://<authority>/...` targets; starts with
    /// `xdstp://<authority>/`.
    pub client_listener_resource_name_template: String,
    /// Control planes of this authority; empty = the top-level `xds_servers`.
    pub xds_servers: Vec<XdsServer>,
}

/// A certificate-provider plugin instance (gRFC A29).
#[derive(Clone, Debug, PartialEq)]
pub struct CertificateProvider {
    /// Plugin name, e.g. `file_watcher`.
    pub plugin_name: String,
    /// Plugin configuration as given.
    pub config: serde_json::Value,
}
