//! What the resolver publishes: an immutable, complete [`Snapshot`] of a target's xDS
//! configuration (gRFC A74's `XdsConfig`), and the [`ResolverState`] around it (last good
//! snapshot, current whole-config error, per-resource errors).
//!
//! A snapshot holds the Listener, its RouteConfiguration (from RDS or inline), the virtual host
//! chosen for the target's authority (gRFC A28), and a config-or-error for every cluster the
//! virtual host's routes name, plus every cluster under them in aggregate graphs (A37/A75). It is
//! data only: route matching and picking endpoints happen elsewhere.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::error::{ClusterError, ResolveError};
use crate::xds::WatchError;
use crate::xds::resource::route::VirtualHost;
use crate::xds::resource::{
    Cluster, ClusterLoadAssignment, Listener, ResourceKind, RouteConfiguration,
};

/// A complete, consistent configuration for one target. Never changes once published; a newer
/// one has a higher [`generation`](Snapshot::generation).
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// Increases by one with every published snapshot of a resolver (the first is 1).
    pub generation: u64,
    /// The target's Listener.
    pub listener: Arc<Listener>,
    /// The RouteConfiguration in force: the Listener's inline one or the one fetched by RDS.
    pub route_config: Arc<RouteConfiguration>,
    /// Index of the selected virtual host in `route_config.virtual_hosts`.
    pub virtual_host_index: usize,
    /// Every cluster named by the selected virtual host's routes, and every cluster under an
    /// aggregate one, with its configuration or the reason it is unusable.
    pub clusters: BTreeMap<String, Result<ClusterConfig, ClusterError>>,
}

/// One usable cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterConfig {
    /// The Cluster resource.
    pub cluster: Arc<Cluster>,
    /// Where its endpoints come from, resolved as far as xDS goes.
    pub endpoints: ClusterEndpoints,
}

/// A cluster's endpoints, per discovery type.
#[derive(Clone, Debug, PartialEq)]
pub enum ClusterEndpoints {
    /// EDS: the ClusterLoadAssignment, or why there is none (gRFC A74's "resolution note": the
    /// cluster itself stays usable and fails its RPCs until endpoints arrive).
    Eds {
        /// The EDS resource name.
        service_name: String,
        /// The endpoints, or the EDS error.
        assignment: Result<Arc<ClusterLoadAssignment>, WatchError>,
    },
    /// LOGICAL_DNS: one host name, resolved by the balancer (not by the resolver).
    LogicalDns {
        /// Host name.
        host: String,
        /// Port.
        port: u16,
    },
    /// Aggregate: the leaf clusters in priority order (depth-first, duplicates removed; gRFC
    /// A37/A75). Each leaf has its own entry in [`Snapshot::clusters`]. Leaves whose Cluster
    /// resource failed are listed too, so that failover skips them like any failing priority.
    Aggregate {
        /// Leaf cluster names, highest priority first.
        leaf_clusters: Vec<String>,
    },
}

/// A per-resource error, as shown to operators next to the snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceError {
    /// Resource kind.
    pub kind: ResourceKind,
    /// Resource name.
    pub name: String,
    /// What the ADS client reported.
    pub error: WatchError,
    /// The last good value keeps serving (gRFC A88 ambient error); `false` means the resource has
    /// no value at all.
    pub ambient: bool,
}

/// Everything a consumer of a resolver sees. Published through a `tokio::sync::watch` channel.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResolverState {
    /// The last good, complete snapshot. Kept across ambient errors and while a newer config is
    /// still incomplete; cleared when the Listener or RouteConfiguration becomes unusable or no
    /// virtual host matches (then `error` says why and RPCs should fail).
    pub snapshot: Option<Arc<Snapshot>>,
    /// A whole-config error (Listener, RouteConfiguration, virtual host), if one holds now.
    pub error: Option<ResolveError>,
    /// Resources the next snapshot still waits for, in LDS → RDS → CDS → EDS order.
    pub waiting_for: Vec<(ResourceKind, String)>,
    /// Every watched resource currently in error, ambient ones included.
    pub resource_errors: Vec<ResourceError>,
}

impl Snapshot {
    /// The virtual host selected for the target's authority.
    pub fn virtual_host(&self) -> Option<&VirtualHost> {
        self.route_config.virtual_hosts.get(self.virtual_host_index)
    }

    /// The configuration of cluster `name`, or why it is unusable; `None` if the snapshot does
    /// not know the cluster.
    pub fn cluster(&self, name: &str) -> Option<Result<&ClusterConfig, &ClusterError>> {
        self.clusters.get(name).map(Result::as_ref)
    }

    /// Same configuration, whatever the generations.
    pub(crate) fn same_config(&self, other: &Snapshot) -> bool {
        self.listener == other.listener
            && self.route_config == other.route_config
            && self.virtual_host_index == other.virtual_host_index
            && self.clusters == other.clusters
    }
}
