//! The route table of one virtual host: routes compiled once per configuration update, then
//! matched per RPC (gRFC A28). Routes are tried in order and the first match wins, even when a
//! later route is more specific. A forwarding route yields a [`RouteDecision`] with a cluster drawn
//! by weight; a non-forwarding or unsupported action fails the RPC with a [`RouteError`] (the
//! channel maps it to `UNAVAILABLE`), as does an RPC that no route matches.
//!
//! A table is immutable and `Send + Sync`: the channel keeps it behind an `Arc` and swaps in a new
//! one when the resolver publishes a new snapshot. Matching takes no locks and allocates only for
//! multi-valued headers and on errors. It does not choose the virtual host ([`crate::resolver::vhost`]).

use std::sync::Arc;

use super::decision::RoutePlan;
use super::error::{NoVirtualHost, RouteError};
use super::matcher::RequestMatcher;
use super::{RandomSource, RequestInfo, RouteDecision};
use crate::resolver::vhost::select_virtual_host;
use crate::xds::resource::route::{RouteAction, RouteConfiguration, VirtualHost};

/// The compiled routes of one virtual host, for one authority.
#[derive(Debug)]
pub struct RouteTable {
    authority: String,
    virtual_host: String,
    routes: Vec<CompiledRoute>,
}

#[derive(Debug)]
struct CompiledRoute {
    index: usize,
    name: String,
    matcher: RequestMatcher,
    action: Action,
}

#[derive(Debug)]
enum Action {
    Forward(Arc<RoutePlan>),
    NonForwarding,
    Unsupported,
}

impl RouteTable {
    /// Compiles the routes of `vh`, the virtual host serving `authority`.
    pub fn new(authority: &str, vh: &VirtualHost) -> Self {
        let vh_overrides = Arc::new(vh.filter_overrides.clone());
        let routes = vh
            .routes
            .iter()
            .enumerate()
            .map(|(index, r)| CompiledRoute {
                index,
                name: r.name.clone(),
                matcher: RequestMatcher::new(&r.matcher),
                action: match &r.action {
                    RouteAction::Forward(f) => Action::Forward(Arc::new(RoutePlan::new(
                        index,
                        &r.name,
                        &vh_overrides,
                        &r.filter_overrides,
                        f,
                    ))),
                    RouteAction::NonForwarding => Action::NonForwarding,
                    RouteAction::Unsupported => Action::Unsupported,
                },
            })
            .collect();
        RouteTable {
            authority: authority.to_string(),
            virtual_host: vh.name.clone(),
            routes,
        }
    }

    /// Selects the virtual host of `config` that serves `authority` and compiles it.
    pub fn from_config(
        config: &RouteConfiguration,
        authority: &str,
    ) -> Result<Self, NoVirtualHost> {
        let vh = select_virtual_host(&config.virtual_hosts, authority)
            .and_then(|i| config.virtual_hosts.get(i));
        match vh {
            Some(vh) => Ok(RouteTable::new(authority, vh)),
            None => Err(NoVirtualHost {
                authority: authority.to_string(),
                route_config: config.name.clone(),
                domains: config
                    .virtual_hosts
                    .iter()
                    .flat_map(|vh| vh.domains.iter().map(String::as_str))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Routes one RPC: the first route whose match passes decides. `rng` supplies the runtime
    /// fraction draws and the weighted cluster draw.
    pub fn route(
        &self,
        req: &RequestInfo<'_>,
        rng: &mut impl RandomSource,
    ) -> Result<RouteDecision, RouteError> {
        let Some(route) = self.routes.iter().find(|r| r.matcher.matches(req, rng)) else {
            return Err(RouteError::NoRoute {
                path: req.path.to_string(),
                authority: self.authority.clone(),
                virtual_host: self.virtual_host.clone(),
                routes: self.routes.len(),
            });
        };
        let unsupported = || RouteError::Unsupported {
            path: req.path.to_string(),
            index: route.index,
            name: route.name.clone(),
        };
        match &route.action {
            Action::Forward(plan) => plan.decide(rng).ok_or_else(unsupported),
            Action::NonForwarding => Err(RouteError::NonForwarding {
                path: req.path.to_string(),
                index: route.index,
                name: route.name.clone(),
            }),
            Action::Unsupported => Err(unsupported()),
        }
    }

    /// The authority this table serves.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The name of the virtual host it was built from.
    pub fn virtual_host(&self) -> &str {
        &self.virtual_host
    }

    /// The number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether the virtual host has no routes (every RPC then fails with `NoRoute`).
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

#[cfg(test)]
mod tests;
