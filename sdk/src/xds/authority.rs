//! Which control planes serve a resource name (gRFC A47 "xDS Federation").
//!
//! A name of the form `xdstp://<authority>/<type>/<id>?<context params>` belongs to that authority:
//! it is fetched from the authority's `xds_servers` in the bootstrap, or from the top-level
//! `xds_servers` when that list is empty. Any other name (old style) goes to the top-level servers.
//! `xdstp` names are canonicalized (context parameters sorted by key, so `?b=2&a=1` and
//! `?a=1&b=2` are one resource) before they are subscribed or matched against a response. An
//! authority missing from the bootstrap is an error for the watcher, not a subscription.
//!
//! Pure functions over the bootstrap. Does not check that the `<type>` segment matches the
//! watched kind, and keeps percent-escapes and `#` fragments as they are.

use super::error::WatchError;
use super::resource::ResourceKind;
use crate::bootstrap::{Bootstrap, XdsServer};

/// The scheme prefix of federation resource names.
pub const XDSTP_PREFIX: &str = "xdstp://";

/// Where a watched name is fetched from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Placement {
    /// The name to subscribe (canonical for `xdstp` names, unchanged otherwise).
    pub name: String,
    /// The ordered control planes serving it (primary first, then fallbacks).
    pub servers: Vec<XdsServer>,
}

/// Where `name` of `kind` is fetched from, or why it cannot be.
pub(crate) fn place(
    bootstrap: &Bootstrap,
    kind: ResourceKind,
    name: &str,
) -> Result<Placement, WatchError> {
    let Some(rest) = name.strip_prefix(XDSTP_PREFIX) else {
        return Ok(Placement {
            name: name.to_string(),
            servers: bootstrap.xds_servers.clone(),
        });
    };
    let Some((authority, _)) = rest.split_once('/') else {
        return Err(WatchError::UnknownAuthority {
            kind,
            name: name.to_string(),
            authority: rest.to_string(),
            message: "the name has no `/<type>/<id>` after the authority; expected \
                      `xdstp://<authority>/<type>/<id>`"
                .to_string(),
        });
    };
    let Some(entry) = bootstrap.authorities.get(authority) else {
        let known: Vec<_> = bootstrap.authorities.keys().map(String::as_str).collect();
        return Err(WatchError::UnknownAuthority {
            kind,
            name: name.to_string(),
            authority: authority.to_string(),
            message: format!(
                "the bootstrap's `authorities` has [{}]; add `{authority}` there or fix the name",
                known.join(", ")
            ),
        });
    };
    let servers = if entry.xds_servers.is_empty() {
        bootstrap.xds_servers.clone()
    } else {
        entry.xds_servers.clone()
    };
    Ok(Placement {
        name: canonical_name(name),
        servers,
    })
}

/// `name` with its `xdstp` context parameters sorted; other names unchanged.
pub fn canonical_name(name: &str) -> String {
    if !name.starts_with(XDSTP_PREFIX) {
        return name.to_string();
    }
    let (body, fragment) = match name.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (name, None),
    };
    let Some((path, query)) = body.split_once('?') else {
        return name.to_string();
    };
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    params.sort_unstable();
    let mut out = path.to_string();
    if !params.is_empty() {
        out.push('?');
        out.push_str(&params.join("&"));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bootstrap::{Authority, Node};

    const LDS: ResourceKind = ResourceKind::Listener;

    fn bootstrap() -> Bootstrap {
        Bootstrap::new(XdsServer::insecure("top:1"), Node::new("n"))
            .with_authority("shared", Authority::new("shared"))
            .with_authority(
                "own",
                Authority::new("own").with_xds_servers(vec![XdsServer::insecure("own:1")]),
            )
    }

    #[test]
    fn context_params_are_sorted_and_other_names_kept() {
        assert_eq!(
            canonical_name("xdstp://a/envoy.config.listener.v3.Listener/x?b=2&a=1"),
            "xdstp://a/envoy.config.listener.v3.Listener/x?a=1&b=2"
        );
        assert_eq!(
            canonical_name("xdstp://a/t/x?z=1#frag"),
            "xdstp://a/t/x?z=1#frag"
        );
        assert_eq!(canonical_name("xdstp://a/t/x"), "xdstp://a/t/x");
        assert_eq!(canonical_name("greeter:50051?b&a"), "greeter:50051?b&a");
    }

    #[test]
    fn names_go_to_their_authority_or_the_top_level_servers() {
        let b = bootstrap();
        let old = place(&b, LDS, "greeter:50051").expect("old style");
        assert_eq!(old.servers, b.xds_servers);
        let own = place(&b, LDS, "xdstp://own/t/x?b=1&a=2").expect("own servers");
        assert_eq!(own.name, "xdstp://own/t/x?a=2&b=1");
        assert_eq!(own.servers, vec![XdsServer::insecure("own:1")]);
        let shared = place(&b, LDS, "xdstp://shared/t/x").expect("empty list");
        assert_eq!(
            shared.servers, b.xds_servers,
            "empty list = top-level servers"
        );
    }

    #[test]
    fn an_unknown_authority_is_an_error_that_names_it() {
        let err = place(&bootstrap(), LDS, "xdstp://nope/t/x").expect_err("unknown");
        let text = err.to_string();
        assert!(
            matches!(err, WatchError::UnknownAuthority { ref authority, .. } if authority == "nope")
        );
        assert!(
            text.contains("nope") && text.contains("own, shared"),
            "{text}"
        );
        assert!(place(&bootstrap(), LDS, "xdstp://own").is_err());
    }
}
