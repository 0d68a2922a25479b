//! The validated `RouteConfiguration` (RDS, or inline in a listener): virtual hosts with their
//! domains, routes in order, retry policies and filter overrides (gRFCs A28, A31, A39, A42, A44).
//!
//! Routes gRPC ignores are dropped here (query-parameter matchers, `cluster_header`, ignored optional
//! cluster specifier plugins); routes with a non-forwarding or unsupported action are kept, because
//! they still win the first-match race and must fail the RPC. Choosing a virtual host and matching
//! requests is the `route` module's job.

use std::collections::HashSet;

use meshwork_proto::envoy::config::route::v3::{
    ClusterSpecifierPlugin, Route as ProtoRoute, RouteConfiguration as ProtoRouteConfiguration,
    VirtualHost as ProtoVirtualHost, route::Action,
};

use super::common::typed_struct::effective_type_url;
use super::common::{At, Invalid, Result, type_name};

pub mod action;
pub mod matcher;
pub mod overrides;
pub mod retry;

pub use action::{ForwardAction, HashPolicy, HashSource, WeightedCluster};
pub use matcher::{PathMatcher, RouteMatch};
pub use overrides::{FilterOverride, FilterOverrides};
pub use retry::RetryPolicy;

/// A validated RouteConfiguration.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteConfiguration {
    /// The resource name.
    pub name: String,
    /// Virtual hosts, in the order sent.
    pub virtual_hosts: Vec<VirtualHost>,
}

/// A validated virtual host.
#[derive(Clone, Debug, PartialEq)]
pub struct VirtualHost {
    /// Its name (informational).
    pub name: String,
    /// Domain patterns (`exact`, `*.suffix`, `prefix.*`, `*`).
    pub domains: Vec<String>,
    /// Routes, first match wins.
    pub routes: Vec<Route>,
    /// Retry policy for routes that have none (already folded into each route's action).
    pub retry_policy: Option<RetryPolicy>,
    /// Filter overrides for this virtual host.
    pub filter_overrides: FilterOverrides,
}

/// A validated route.
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    /// Its name (informational, may be empty).
    pub name: String,
    /// When it applies.
    pub matcher: RouteMatch,
    /// What happens then.
    pub action: RouteAction,
    /// Filter overrides for this route.
    pub filter_overrides: FilterOverrides,
}

/// What a matching route does.
#[derive(Clone, Debug, PartialEq)]
pub enum RouteAction {
    /// Send the RPC to a cluster.
    Forward(ForwardAction),
    /// `non_forwarding_action` (meant for servers): a client fails the RPC.
    NonForwarding,
    /// `redirect`, `direct_response` or `filter_action`: a client fails the RPC.
    Unsupported,
}

impl TryFrom<&ProtoRouteConfiguration> for RouteConfiguration {
    type Error = Invalid;

    fn try_from(rc: &ProtoRouteConfiguration) -> Result<Self> {
        let ignored = ignored_plugins(&rc.cluster_specifier_plugins)?;
        let virtual_hosts = rc
            .virtual_hosts
            .iter()
            .enumerate()
            .map(|(i, vh)| virtual_host(vh, &ignored).at_index("virtual_hosts", i))
            .collect::<Result<_>>()?;
        Ok(RouteConfiguration {
            name: rc.name.clone(),
            virtual_hosts,
        })
    }
}

/// Meshwork implements no cluster specifier plugin: optional ones are recorded (routes using them are
/// dropped), required ones are an error.
fn ignored_plugins(plugins: &[ClusterSpecifierPlugin]) -> Result<HashSet<String>> {
    let mut names = HashSet::new();
    for (i, p) in plugins.iter().enumerate() {
        let ext = p
            .extension
            .as_ref()
            .ok_or_else(|| Invalid::field("extension", "is required"))
            .at_index("cluster_specifier_plugins", i)?;
        if !names.insert(ext.name.clone()) {
            return Err(Invalid::field(
                "extension.name",
                format!("duplicate plugin name `{}`", ext.name),
            ))
            .at_index("cluster_specifier_plugins", i);
        }
        if !p.is_optional {
            let ty = match &ext.typed_config {
                Some(any) => effective_type_url(any).at_index("cluster_specifier_plugins", i)?,
                None => String::from("(none)"),
            };
            return Err(Invalid::new(format!(
                "plugin `{}` of type `{}` is not supported; mark it is_optional to let clients ignore routes that use it",
                ext.name,
                type_name(&ty)
            )))
            .at_index("cluster_specifier_plugins", i);
        }
    }
    Ok(names)
}

fn virtual_host(vh: &ProtoVirtualHost, ignored: &HashSet<String>) -> Result<VirtualHost> {
    if vh.domains.is_empty() {
        return Err(Invalid::field(
            "domains",
            "is empty; list at least one domain (or `*`)",
        ));
    }
    let retry_policy = match &vh.retry_policy {
        Some(p) => retry::retry_policy(p).at("retry_policy")?,
        None => None,
    };
    let mut routes = Vec::with_capacity(vh.routes.len());
    for (i, r) in vh.routes.iter().enumerate() {
        if let Some(route) = route(r, retry_policy.as_ref(), ignored).at_index("routes", i)? {
            routes.push(route);
        }
    }
    Ok(VirtualHost {
        name: vh.name.clone(),
        domains: vh.domains.clone(),
        routes,
        retry_policy,
        filter_overrides: overrides::filter_overrides(&vh.typed_per_filter_config)?,
    })
}

/// `Ok(None)` for routes gRPC ignores.
fn route(
    r: &ProtoRoute,
    vh_retry: Option<&RetryPolicy>,
    ignored: &HashSet<String>,
) -> Result<Option<Route>> {
    let m = r
        .r#match
        .as_ref()
        .ok_or_else(|| Invalid::field("match", "is required"))?;
    let Some(matcher) = matcher::route_match(m).at("match")? else {
        return Ok(None);
    };
    let action = match &r.action {
        Some(Action::Route(a)) => match action::route_action(a, vh_retry, ignored).at("route")? {
            action::Decoded::Forward(f) => RouteAction::Forward(f),
            action::Decoded::Drop => return Ok(None),
        },
        Some(Action::NonForwardingAction(_)) => RouteAction::NonForwarding,
        Some(_) => RouteAction::Unsupported,
        None => return Err(Invalid::new("route has no action; set route")),
    };
    Ok(Some(Route {
        name: r.name.clone(),
        matcher,
        action,
        filter_overrides: overrides::filter_overrides(&r.typed_per_filter_config)?,
    }))
}

#[cfg(test)]
mod tests;
