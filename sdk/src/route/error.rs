//! Why routing could not send an RPC anywhere. Each error names what was looked up, what was
//! found and what to check; the channel turns every one of them into `UNAVAILABLE` (gRFC A28: no
//! matching virtual host or route, or a route whose action a client cannot carry out).

use thiserror::Error;

/// No virtual host of the RouteConfiguration serves the channel's authority.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error(
    "no virtual host in route configuration `{route_config}` matches authority `{authority}` \
     (domains tried: {domains}); add the authority, a `*.`/`.*` wildcard or `*` to a virtual host's domains"
)]
pub struct NoVirtualHost {
    /// The channel's authority (`host:port` of the target).
    pub authority: String,
    /// The RouteConfiguration's name.
    pub route_config: String,
    /// Every domain pattern of the configuration, comma-separated, for the message.
    pub domains: String,
}

/// An RPC that routing cannot send.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum RouteError {
    /// No route of the virtual host matches the RPC.
    #[error(
        "no route matches `{path}` for authority `{authority}` (virtual host `{virtual_host}`, \
         {routes} routes tried in order); add a route matching this method, e.g. a `/` prefix catch-all"
    )]
    NoRoute {
        /// The RPC's path.
        path: String,
        /// The channel's authority.
        authority: String,
        /// The virtual host's name.
        virtual_host: String,
        /// How many routes were tried.
        routes: usize,
    },
    /// The first matching route has a `non_forwarding_action`, which only servers carry out.
    #[error(
        "route #{index} `{name}` matched `{path}` but has a non_forwarding_action, which clients \
         cannot carry out; give client routes a `route` action with a cluster"
    )]
    NonForwarding {
        /// The RPC's path.
        path: String,
        /// The route's position in the virtual host.
        index: usize,
        /// The route's name (may be empty).
        name: String,
    },
    /// The first matching route has an action gRPC clients do not support (redirect, direct
    /// response, filter action).
    #[error(
        "route #{index} `{name}` matched `{path}` but its action (redirect, direct_response or \
         filter_action) is not supported by gRPC clients; use a `route` action with a cluster"
    )]
    Unsupported {
        /// The RPC's path.
        path: String,
        /// The route's position in the virtual host.
        index: usize,
        /// The route's name (may be empty).
        name: String,
    },
}

impl RouteError {
    /// The status the RPC fails with: always `UNAVAILABLE` (gRFC A28), carrying this message.
    pub fn to_status(&self) -> tonic::Status {
        tonic::Status::unavailable(self.to_string())
    }
}

impl NoVirtualHost {
    /// The status RPCs fail with while no virtual host matches: `UNAVAILABLE`.
    pub fn to_status(&self) -> tonic::Status {
        tonic::Status::unavailable(self.to_string())
    }
}
