//! The `server_listeners:` section of the mesh file: listening addresses of xDS-enabled servers
//! (gRFC A36) and their downstream TLS (gRFC A29).

use serde::Deserialize;

/// The `server_listener_resource_name_template` the dev control plane names server Listeners
/// with (the example of gRFC A36); servers' bootstraps must use the same one.
pub const SERVER_LISTENER_NAME_TEMPLATE: &str = "grpc/server?xds.resource.listening_address=%s";

/// A listening address of an xDS-enabled server and how it serves (gRFC A36, A29).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerListener {
    /// The server's listening `ip:port`, exactly as it binds (e.g. `0.0.0.0:8080`).
    pub address: String,
    /// The resource name; `None` = [`SERVER_LISTENER_NAME_TEMPLATE`] with `address`.
    #[serde(default)]
    pub name: Option<String>,
    /// Downstream TLS; `None` = plaintext.
    #[serde(default)]
    pub tls: Option<ServerTls>,
}

/// Downstream TLS of a server listener (gRFC A29). The fields name certificate-provider
/// instances of the *server's* bootstrap.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTls {
    /// Instance holding the server's certificate and key.
    pub identity_instance: String,
    /// Instance whose CA certificates verify client certificates; `None` = clients are not
    /// asked for one.
    #[serde(default)]
    pub ca_instance: Option<String>,
    /// Refuse clients without a certificate from `ca_instance` (mTLS).
    #[serde(default)]
    pub require_client_certificate: bool,
}

impl ServerListener {
    /// The Listener's resource name.
    pub fn resource_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| SERVER_LISTENER_NAME_TEMPLATE.replace("%s", &self.address))
    }
}
