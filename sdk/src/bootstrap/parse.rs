//! Bootstrap JSON text → [`Bootstrap`]: the top level, `node`, `certificate_providers` (gRFC A29),
//! `authorities` and the listener name templates (gRFC A47). Server entries are in `server.rs`.
//!
//! Unknown fields are ignored everywhere (grpc_xds_bootstrap_format.md). Does not read files or
//! the environment (`load.rs`), and does not check that an `xdstp:` default template names a
//! known authority: that is an error of the target that uses it (`target.rs`), as in gRFC A47.

use std::collections::BTreeMap;

use serde_json::Value;

use super::error::{BootstrapError, BootstrapSource};
use super::json::{Cursor, Object};
use super::server::parse_servers;
use super::{
    Authority, Bootstrap, CertificateProvider, DEFAULT_CLIENT_LISTENER_TEMPLATE, Locality, Node,
};

impl Bootstrap {
    /// Parses and validates bootstrap JSON; `source` names where it came from in error messages.
    ///
    /// ```
    /// use meshwork::bootstrap::{Bootstrap, BootstrapSource};
    /// let json = r#"{"xds_servers": [{"server_uri": "127.0.0.1:18000",
    ///                                 "channel_creds": [{"type": "insecure"}]}]}"#;
    /// let bootstrap = Bootstrap::from_json_str(json, BootstrapSource::InCode)?;
    /// assert_eq!(bootstrap.xds_servers[0].server_uri, "127.0.0.1:18000");
    /// # Ok::<(), meshwork::bootstrap::BootstrapError>(())
    /// ```
    pub fn from_json_str(json: &str, source: BootstrapSource) -> Result<Self, BootstrapError> {
        let value: Value = serde_json::from_str(json).map_err(|e| BootstrapError::Json {
            origin: source.clone(),
            line: e.line(),
            column: e.column(),
            message: json_message(&e),
        })?;
        parse_root(&Cursor::root(&source, &value))
    }
}

fn parse_root(root: &Cursor<'_>) -> Result<Bootstrap, BootstrapError> {
    let top = root.object()?;
    let servers = top.required(
        "xds_servers",
        "a list of xDS servers",
        "add \"xds_servers\": [{\"server_uri\": \"127.0.0.1:18000\", \"channel_creds\": \
         [{\"type\": \"insecure\"}]}]",
    )?;
    let xds_servers = parse_servers(&servers, false)?;
    let node = match top.get("node") {
        Some(node) => parse_node(&node.object()?)?,
        None => Node::default(),
    };
    let certificate_providers = match top.get("certificate_providers") {
        Some(providers) => parse_certificate_providers(&providers.object()?)?,
        None => BTreeMap::new(),
    };
    let authorities = match top.get("authorities") {
        Some(authorities) => parse_authorities(&authorities.object()?)?,
        None => BTreeMap::new(),
    };
    let client_default_listener_resource_name_template = top
        .opt_string("client_default_listener_resource_name_template")?
        .unwrap_or(DEFAULT_CLIENT_LISTENER_TEMPLATE)
        .to_string();
    let server_listener_resource_name_template = top
        .opt_string("server_listener_resource_name_template")?
        .map(str::to_string);
    Ok(Bootstrap {
        xds_servers,
        node,
        certificate_providers,
        authorities,
        client_default_listener_resource_name_template,
        server_listener_resource_name_template,
    })
}

fn parse_node(node: &Object<'_>) -> Result<Node, BootstrapError> {
    let locality = match node.get("locality") {
        Some(locality) => {
            let locality = locality.object()?;
            Some(Locality {
                region: owned(locality.opt_string("region")?),
                zone: owned(locality.opt_string("zone")?),
                sub_zone: owned(locality.opt_string("sub_zone")?),
            })
        }
        None => None,
    };
    let metadata = match node.get("metadata") {
        Some(metadata) => metadata.object()?.map().clone(),
        None => serde_json::Map::new(),
    };
    Ok(Node {
        id: owned(node.opt_string("id")?),
        cluster: owned(node.opt_string("cluster")?),
        locality,
        metadata,
    })
}

fn parse_certificate_providers(
    providers: &Object<'_>,
) -> Result<BTreeMap<String, CertificateProvider>, BootstrapError> {
    let mut out = BTreeMap::new();
    for (name, entry) in providers.entries() {
        let provider = entry.object()?;
        let plugin_name = provider
            .required(
                "plugin_name",
                "the plugin name as a string",
                "add \"plugin_name\": \"file_watcher\"",
            )?
            .string()?;
        let config = match provider.get("config") {
            Some(config) => Value::Object(config.object()?.map().clone()),
            None => Value::Object(serde_json::Map::new()),
        };
        let plugin_name = plugin_name.to_string();
        out.insert(
            name.to_string(),
            CertificateProvider {
                plugin_name,
                config,
            },
        );
    }
    Ok(out)
}

fn parse_authorities(
    authorities: &Object<'_>,
) -> Result<BTreeMap<String, Authority>, BootstrapError> {
    let mut out = BTreeMap::new();
    for (name, entry) in authorities.entries() {
        let authority = entry.object()?;
        let template = match authority.get("client_listener_resource_name_template") {
            Some(field) => {
                let template = field.string()?;
                if !template_fits_authority(name, template) {
                    return Err(field.error(
                        &format!("a template starting with `xdstp://{name}/`"),
                        &format!(
                            "start the template with `xdstp://{name}/` (this authority's name), \
                             or remove it for the default `{}`",
                            Authority::default_template(name)
                        ),
                    ));
                }
                template.to_string()
            }
            None => Authority::default_template(name),
        };
        let xds_servers = match authority.get("xds_servers") {
            Some(servers) => parse_servers(&servers, true)?,
            None => Vec::new(),
        };
        out.insert(
            name.to_string(),
            Authority {
                client_listener_resource_name_template: template,
                xds_servers,
            },
        );
    }
    Ok(out)
}

/// gRFC A47: an authority's client listener template must start with `xdstp://<name>/`.
pub(super) fn template_fits_authority(name: &str, template: &str) -> bool {
    template
        .strip_prefix("xdstp://")
        .and_then(|rest| rest.strip_prefix(name))
        .is_some_and(|rest| rest.starts_with('/'))
}

fn owned(value: Option<&str>) -> String {
    value.unwrap_or_default().to_string()
}

/// serde_json's message without its trailing " at line L column C" (reported separately).
fn json_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}
