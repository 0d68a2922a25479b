//! The gRPC xDS bootstrap: where the control plane is and who this client is.
//!
//! Reads the format of grpc/grpc `doc/grpc_xds_bootstrap_format.md` (gRFCs A27, A29, A30, A47, A65,
//! A71) from a file, from the `GRPC_XDS_BOOTSTRAP` / `GRPC_XDS_BOOTSTRAP_CONFIG` environment
//! variables, or built in code, and turns `xds:` targets into Listener resource names (gRFC A47).
//! Does no network I/O, and does not check that files it names (certificates, keys) exist: the
//! code that opens them reports that.
//!
//! CONTRACT (shared with the ADS client; keep these types and fields, add freely):
//! [`Bootstrap`], [`XdsServer`], [`ChannelCreds`], [`Node`], [`Locality`], [`Authority`],
//! [`CertificateProvider`].

use std::collections::BTreeMap;
use std::time::Duration;

mod duration;
mod error;
mod json;
mod load;
mod parse;
mod server;
mod target;
mod validate;

pub(crate) use duration::parse_json_duration;
pub use error::{BootstrapError, BootstrapSource, FieldError};
pub use load::{BOOTSTRAP_CONFIG_ENV, BOOTSTRAP_FILE_ENV};
pub use target::{ListenerTarget, TargetError};

/// Default `refresh_interval` of `tls` channel credentials (gRFC A65): ten minutes.
pub const DEFAULT_TLS_REFRESH_INTERVAL: Duration = Duration::from_secs(600);

/// Default `client_default_listener_resource_name_template` (gRFC A47): the target's `host:port`.
pub const DEFAULT_CLIENT_LISTENER_TEMPLATE: &str = "%s";

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
        /// How often the files are re-read; default [`DEFAULT_TLS_REFRESH_INTERVAL`]. Never zero.
        refresh_interval: Duration,
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
    /// Plugin configuration as given; an empty object when the bootstrap omits it.
    pub config: serde_json::Value,
}

impl Bootstrap {
    /// A bootstrap built in code: one control plane, this node, every other field at its default.
    ///
    /// ```
    /// use meshwork::bootstrap::{Bootstrap, Node, XdsServer};
    /// let bootstrap = Bootstrap::new(XdsServer::insecure("127.0.0.1:18000"), Node::new("client-1"));
    /// assert_eq!(bootstrap.listener_for_target("xds:///greeter:50051")?.listener_name, "greeter:50051");
    /// # Ok::<(), meshwork::bootstrap::TargetError>(())
    /// ```
    pub fn new(server: XdsServer, node: Node) -> Self {
        Self {
            xds_servers: vec![server],
            node,
            certificate_providers: BTreeMap::new(),
            authorities: BTreeMap::new(),
            client_default_listener_resource_name_template: DEFAULT_CLIENT_LISTENER_TEMPLATE
                .to_string(),
            server_listener_resource_name_template: None,
        }
    }

    /// Adds a fallback control plane after the ones already listed (gRFC A71).
    pub fn with_fallback(mut self, server: XdsServer) -> Self {
        self.xds_servers.push(server);
        self
    }

    /// Adds (or replaces) the federation authority `name` (gRFC A47).
    pub fn with_authority(mut self, name: impl Into<String>, authority: Authority) -> Self {
        self.authorities.insert(name.into(), authority);
        self
    }

    /// Adds (or replaces) the certificate-provider instance `name` (gRFC A29).
    pub fn with_certificate_provider(
        mut self,
        name: impl Into<String>,
        provider: CertificateProvider,
    ) -> Self {
        self.certificate_providers.insert(name.into(), provider);
        self
    }
}

impl XdsServer {
    /// A control plane reached over plaintext, with no server features.
    pub fn insecure(server_uri: impl Into<String>) -> Self {
        Self {
            server_uri: server_uri.into(),
            channel_creds: ChannelCreds::Insecure,
            server_features: Vec::new(),
        }
    }

    /// The same server with other channel credentials.
    pub fn with_channel_creds(mut self, channel_creds: ChannelCreds) -> Self {
        self.channel_creds = channel_creds;
        self
    }

    /// The same server with one more server feature (e.g. `xds_v3`, `fail_on_data_errors`).
    pub fn with_feature(mut self, feature: impl Into<String>) -> Self {
        self.server_features.push(feature.into());
        self
    }

    /// Whether the bootstrap lists `feature` for this server.
    pub fn has_feature(&self, feature: &str) -> bool {
        self.server_features.iter().any(|f| f == feature)
    }
}

impl ChannelCreds {
    /// TLS to the control plane with the given CA bundle (`None` = system roots), no client
    /// certificate, and the default refresh interval.
    pub fn tls(ca_certificate_file: Option<String>) -> Self {
        Self::Tls {
            ca_certificate_file,
            certificate_file: None,
            private_key_file: None,
            refresh_interval: DEFAULT_TLS_REFRESH_INTERVAL,
        }
    }

    /// The `type` name this credential has in the bootstrap JSON.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Insecure => "insecure",
            Self::Tls { .. } => "tls",
            Self::GoogleDefault => "google_default",
        }
    }
}

impl Node {
    /// A node with this id and nothing else.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ..Self::default()
        }
    }
}

impl Authority {
    /// The authority `name` with the default listener template
    /// `xdstp://<name>/envoy.config.listener.v3.Listener/%s` and the top-level control planes.
    pub fn new(name: &str) -> Self {
        Self {
            client_listener_resource_name_template: Self::default_template(name),
            xds_servers: Vec::new(),
        }
    }

    /// The same authority served by its own control planes instead of the top-level ones.
    pub fn with_xds_servers(mut self, xds_servers: Vec<XdsServer>) -> Self {
        self.xds_servers = xds_servers;
        self
    }

    /// The default `client_listener_resource_name_template` of authority `name` (gRFC A47).
    pub fn default_template(name: &str) -> String {
        format!("xdstp://{name}/envoy.config.listener.v3.Listener/%s")
    }
}

#[cfg(test)]
mod tests;
