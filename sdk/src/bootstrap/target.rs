//! `xds:` target → Listener resource name, data-plane authority and the control planes to ask
//! (gRFC A47 "gRPC Client Target URI Syntax", A27 for the old-style names); and a server's
//! listening address → its Listener name (gRFC A36 as amended by A47).
//!
//! Percent-encoding follows A47: when the template starts with `xdstp:`, the replacement is
//! encoded so that only RFC 3986 §3.3 path characters (which include `/`) stay literal.
//! Does not canonicalise `xdstp` context parameters or split names for the cache: that is the
//! xDS client's business.

use super::{Bootstrap, XdsServer};

/// The Listener a channel watches for its target, and where to ask for it.
#[derive(Clone, Debug, PartialEq)]
pub struct ListenerTarget {
    /// Listener resource name to subscribe to, e.g. `greeter:50051` or
    /// `xdstp://mesh.example.com/envoy.config.listener.v3.Listener/greeter:50051`.
    pub listener_name: String,
    /// The target's last path segment (`host:port`): the data plane's `:authority` and the key for
    /// virtual-host matching.
    pub data_plane_authority: String,
    /// The federation authority the name belongs to (an `authorities` key, `""` for an `xdstp:`
    /// name without one); `None` for an old-style name served by the top-level servers.
    pub authority: Option<String>,
    /// Control planes to ask, primary first (gRFC A71). Never empty for a validated bootstrap.
    pub xds_servers: Vec<XdsServer>,
}

/// Why a target cannot be turned into a Listener name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The scheme is not `xds`.
    #[error(
        "target `{target}` is not an xDS target: expected the scheme `xds:`, found {found}; write \
         it as `xds:///host:port` (or `xds://authority/host:port`), or build a channel from \
         static endpoints"
    )]
    NotXds {
        /// The target as given.
        target: String,
        /// What stood where the scheme should be.
        found: String,
    },
    /// No `host:port` after the last `/`.
    #[error(
        "target `{target}` names no service: expected `xds:///host:port` or \
         `xds://authority/host:port`, found nothing after the last `/`; append the service's \
         host:port"
    )]
    NoService {
        /// The target as given.
        target: String,
    },
    /// The target has a `?query` or `#fragment`.
    #[error(
        "target `{target}` has a query or fragment: expected `xds:///host:port` without `?` or \
         `#`; remove everything from the `?` or `#` on"
    )]
    QueryOrFragment {
        /// The target as given.
        target: String,
    },
    /// A `%` escape is malformed or does not decode to UTF-8.
    #[error(
        "target `{target}` has an invalid percent-escape: expected `%` and two hex digits that \
         decode to UTF-8 text; write a literal `%` as `%25`"
    )]
    BadEscape {
        /// The target as given.
        target: String,
    },
    /// The authority is not in the bootstrap's `authorities` map.
    #[error(
        "target `{target}` needs xDS authority `{authority}` ({}), which the bootstrap does not \
         define (known: {}); add an `authorities` entry named `{authority}` to the bootstrap, or \
         fix the target",
        if *.from_template { "from the listener name template" } else { "named in the target" },
        if known.is_empty() { "none".to_string() } else { format!("{known:?}") }
    )]
    UnknownAuthority {
        /// The target (or server address) as given.
        target: String,
        /// The authority that was looked up.
        authority: String,
        /// Whether the authority came from an `xdstp:` template rather than the target itself.
        from_template: bool,
        /// The authorities the bootstrap defines.
        known: Vec<String>,
    },
    /// An xDS-enabled server needs `server_listener_resource_name_template`.
    #[error(
        "the bootstrap has no server_listener_resource_name_template: expected one for an \
         xDS-enabled server listening on `{address}` (gRFC A36), found none; add e.g. \
         \"server_listener_resource_name_template\": \"grpc/server?xds.resource.listening_address=%s\""
    )]
    NoServerTemplate {
        /// The listening address.
        address: String,
    },
}

impl Bootstrap {
    /// Turns an `xds:` target (`xds:///host:port`, `xds://authority/host:port` or
    /// `xds:host:port`) into the Listener to watch (gRFC A47).
    ///
    /// ```
    /// use meshwork::bootstrap::{Authority, Bootstrap, Node, XdsServer};
    /// let bootstrap = Bootstrap::new(XdsServer::insecure("127.0.0.1:18000"), Node::new("n"))
    ///     .with_authority("mesh.example.com", Authority::new("mesh.example.com"));
    /// let target = bootstrap.listener_for_target("xds://mesh.example.com/greeter:50051")?;
    /// assert_eq!(
    ///     target.listener_name,
    ///     "xdstp://mesh.example.com/envoy.config.listener.v3.Listener/greeter:50051"
    /// );
    /// assert_eq!(target.data_plane_authority, "greeter:50051");
    /// # Ok::<(), meshwork::bootstrap::TargetError>(())
    /// ```
    pub fn listener_for_target(&self, target: &str) -> Result<ListenerTarget, TargetError> {
        let (authority, service) = split_target(target)?;
        let data_plane_authority = service.rsplit('/').next().unwrap_or_default().to_string();
        if data_plane_authority.is_empty() {
            return Err(TargetError::NoService {
                target: target.to_string(),
            });
        }
        let Some(authority) = authority else {
            let template = &self.client_default_listener_resource_name_template;
            return self.resolve_template(target, template, &service, data_plane_authority);
        };
        let entry = self
            .authorities
            .get(authority)
            .ok_or_else(|| self.unknown_authority(target, authority, false))?;
        let listener_name = expand(
            &entry.client_listener_resource_name_template,
            &percent_encode(&service),
        );
        Ok(ListenerTarget {
            listener_name,
            data_plane_authority,
            authority: Some(authority.to_string()),
            xds_servers: self.servers_or_default(&entry.xds_servers),
        })
    }

    /// The Listener an xDS-enabled server listening on `address` (`ip:port`) watches
    /// (gRFC A36, A47), from `server_listener_resource_name_template`.
    pub fn listener_for_server(&self, address: &str) -> Result<ListenerTarget, TargetError> {
        let template = self
            .server_listener_resource_name_template
            .as_deref()
            .ok_or_else(|| TargetError::NoServerTemplate {
                address: address.to_string(),
            })?;
        self.resolve_template(address, template, address, address.to_string())
    }

    /// Fills `template`; an `xdstp:` result selects its authority's servers, others use the
    /// top-level ones.
    fn resolve_template(
        &self,
        target: &str,
        template: &str,
        service: &str,
        data_plane_authority: String,
    ) -> Result<ListenerTarget, TargetError> {
        if !template.starts_with("xdstp:") {
            return Ok(ListenerTarget {
                listener_name: expand(template, service),
                data_plane_authority,
                authority: None,
                xds_servers: self.xds_servers.clone(),
            });
        }
        let listener_name = expand(template, &percent_encode(service));
        let authority = xdstp_authority(&listener_name);
        let entry = self
            .authorities
            .get(authority)
            .ok_or_else(|| self.unknown_authority(target, authority, true))?;
        Ok(ListenerTarget {
            data_plane_authority,
            authority: Some(authority.to_string()),
            xds_servers: self.servers_or_default(&entry.xds_servers),
            listener_name,
        })
    }

    fn servers_or_default(&self, servers: &[XdsServer]) -> Vec<XdsServer> {
        if servers.is_empty() {
            self.xds_servers.clone()
        } else {
            servers.to_vec()
        }
    }

    fn unknown_authority(&self, target: &str, authority: &str, from_template: bool) -> TargetError {
        TargetError::UnknownAuthority {
            target: target.to_string(),
            authority: authority.to_string(),
            from_template,
            known: self.authorities.keys().cloned().collect(),
        }
    }
}

/// Splits `xds:[//authority]/path` into the authority (`None` when absent or empty) and the
/// percent-decoded path without its leading `/`.
fn split_target(target: &str) -> Result<(Option<&str>, String), TargetError> {
    let Some((scheme, rest)) = target.split_once(':') else {
        return Err(TargetError::NotXds {
            target: target.to_string(),
            found: "no scheme".to_string(),
        });
    };
    if !scheme.eq_ignore_ascii_case("xds") {
        return Err(TargetError::NotXds {
            target: target.to_string(),
            found: format!("`{scheme}:`"),
        });
    }
    if rest.contains(['?', '#']) {
        return Err(TargetError::QueryOrFragment {
            target: target.to_string(),
        });
    }
    let (authority, path) = match rest.strip_prefix("//") {
        Some(after) => match after.find('/') {
            Some(slash) => (&after[..slash], &after[slash..]),
            None => (after, ""),
        },
        None => ("", rest),
    };
    let path = path.strip_prefix('/').unwrap_or(path);
    if path.is_empty() {
        return Err(TargetError::NoService {
            target: target.to_string(),
        });
    }
    let decoded = percent_decode(path).ok_or_else(|| TargetError::BadEscape {
        target: target.to_string(),
    })?;
    Ok(((!authority.is_empty()).then_some(authority), decoded))
}

/// The authority of an `xdstp:` name: `xdstp://<authority>/...`, or `""` when it has none.
fn xdstp_authority(name: &str) -> &str {
    let rest = name.strip_prefix("xdstp:").unwrap_or(name);
    match rest.strip_prefix("//") {
        Some(after) => after.split(['/', '?', '#']).next().unwrap_or_default(),
        None => "",
    }
}

/// Replaces every `%s` in `template` by `value`.
fn expand(template: &str, value: &str) -> String {
    template.replace("%s", value)
}

/// Encodes every byte that is not an RFC 3986 §3.3 path character (unreserved, sub-delims, `:`,
/// `@`, `/`) as `%XX` (gRFC A47).
pub(super) fn percent_encode(value: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        let literal = byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&byte);
        if literal {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    out
}

/// Decodes `%XX` escapes; `None` if an escape is malformed or the result is not UTF-8.
fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value.get(i + 1..i + 3)?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests;
