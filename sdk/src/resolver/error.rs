//! Errors of the resolver: why a target has no usable configuration (whole-config errors of gRFC
//! A74: listener, route configuration, virtual host) and why one cluster of a snapshot is unusable
//! (cluster-scoped errors, which never block the rest of the configuration).
//!
//! Per-resource xDS errors come from the ADS client as [`WatchError`]s (gRFC A88 classes); this
//! module wraps them with the place they matter in the dependency tree. It does no I/O.

use std::time::Duration;

use crate::bootstrap::TargetError;
use crate::xds::WatchError;
use crate::xds::resource::ResourceKind;

/// Why a target has no (new) complete configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The target cannot be mapped to a Listener name.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// Resolvers run a background task and must be started inside a tokio runtime.
    #[error("the xDS resolver must be started inside a tokio runtime; start it from async code")]
    NoRuntime,
    /// The Listener has no usable value (does not exist, rejected with nothing cached, or the
    /// control plane was never reached).
    #[error("listener `{name}` is not usable: {error}")]
    Listener {
        /// The Listener resource name.
        name: String,
        /// What the ADS client reported.
        error: Box<WatchError>,
    },
    /// The RouteConfiguration named by the Listener has no usable value.
    #[error("route configuration `{name}` (named by listener `{listener}`) is not usable: {error}")]
    RouteConfiguration {
        /// The RouteConfiguration resource name.
        name: String,
        /// The Listener that names it.
        listener: String,
        /// What the ADS client reported.
        error: Box<WatchError>,
    },
    /// The control plane sent a server Listener (gRFC A36: an address, no `api_listener`) under
    /// the name a client resolves.
    #[error(
        "listener `{name}` is a server listener (address and filter chains, gRFC A36), not the API \
         listener a client needs; the control plane must send an `api_listener` with an \
         HttpConnectionManager for this target"
    )]
    NotAnApiListener {
        /// The listener name.
        name: String,
    },
    /// No virtual host of the route configuration matches the data-plane authority (gRFC A28).
    #[error(
        "no virtual host matches authority `{authority}` in route configuration `{route_config}` \
         (domains offered: {}); add `{authority}` (or a wildcard such as `*`) to a virtual host's \
         domains",
        if domains.is_empty() { "none".to_string() } else { domains.join(", ") }
    )]
    NoVirtualHost {
        /// The authority that was matched (the target's `host:port`).
        authority: String,
        /// The route configuration searched.
        route_config: String,
        /// Every domain pattern it offers.
        domains: Vec<String>,
    },
    /// [`wait_for_snapshot`](super::ResolverHandle::wait_for_snapshot) gave up while resources
    /// were still missing.
    #[error(
        "no complete configuration for listener `{listener}` after {}: {} {kind} resource `{name}` \
         not received from xds server `{server}`; {}",
        fmt_secs(*after),
        if *missing_count > 1 { format!("{missing_count} resources missing, first") } else { "the".to_string() },
        hint(*kind)
    )]
    Timeout {
        /// The target's Listener.
        listener: String,
        /// Kind of the first missing resource (in LDS → RDS → CDS → EDS order).
        kind: ResourceKind,
        /// Name of the first missing resource.
        name: String,
        /// How many resources are missing.
        missing_count: usize,
        /// The control plane asked.
        server: String,
        /// How long the caller waited.
        after: Duration,
    },
    /// The resolver task is gone (its handle was dropped or the task stopped).
    #[error("the xDS resolver for listener `{listener}` stopped; create a new one")]
    Stopped {
        /// The target's Listener.
        listener: String,
    },
}

impl ResolveError {
    /// Whether waiting longer may help: the control plane was unreachable, nothing was said about
    /// the data itself (gRFC A88 transient errors).
    pub fn is_transient(&self) -> bool {
        match self {
            ResolveError::Listener { error, .. }
            | ResolveError::RouteConfiguration { error, .. } => {
                matches!(**error, WatchError::Unreachable { .. })
            }
            ResolveError::Timeout { .. } => true,
            _ => false,
        }
    }
}

/// Why one cluster of a snapshot is unusable. RPCs routed to it fail; other clusters still work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// The Cluster resource has no usable value (does not exist, rejected, unreachable).
    #[error("cluster `{name}` is not usable: {error}")]
    Resource {
        /// The Cluster resource name.
        name: String,
        /// What the ADS client reported.
        error: Box<WatchError>,
    },
    /// The aggregate cluster graph loops back on itself (gRFC A37).
    #[error(
        "aggregate cluster `{name}` forms a loop ({}); remove the cycle from the clusters' \
         aggregate lists",
        path.join(" → ")
    )]
    AggregateLoop {
        /// The aggregate cluster whose graph loops.
        name: String,
        /// The path from `name` back to the repeated cluster.
        path: Vec<String>,
    },
    /// The aggregate cluster graph is deeper than gRPC allows (gRFC A37).
    #[error(
        "aggregate cluster `{name}` nests deeper than {max} levels (path {}); flatten the \
         aggregate clusters",
        path.join(" → ")
    )]
    AggregateTooDeep {
        /// The aggregate cluster whose graph is too deep.
        name: String,
        /// The path that went too deep.
        path: Vec<String>,
        /// The limit.
        max: usize,
    },
    /// Every branch of the aggregate cluster graph ends in an already listed cluster.
    #[error(
        "aggregate cluster `{name}` has no leaf clusters; list at least one EDS or LOGICAL_DNS \
         cluster under it"
    )]
    AggregateNoLeaves {
        /// The aggregate cluster.
        name: String,
    },
}

fn fmt_secs(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs.fract() == 0.0 {
        format!("{secs:.0} s")
    } else {
        format!("{secs:.1} s")
    }
}

fn hint(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Listener => {
            "check the target name matches a Listener the control plane serves"
        }
        ResourceKind::RouteConfiguration => {
            "check the listener's route_config_name matches a RouteConfiguration the control plane serves"
        }
        ResourceKind::Cluster => {
            "check the routes' cluster names match Clusters the control plane serves"
        }
        ResourceKind::ClusterLoadAssignment => {
            "check the cluster's EDS service_name matches a ClusterLoadAssignment the control plane serves"
        }
    }
}
