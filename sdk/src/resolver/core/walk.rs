//! One walk of a target's xDS tree over what the core knows: Listener → RouteConfiguration →
//! virtual host (gRFC A28) → clusters → EDS / LOGICAL_DNS / aggregate children (A37/A75).
//!
//! The walk records every resource the tree needs watched, the ones still without value or error,
//! and, when nothing is missing, the snapshot; or the whole-config error that stops it (A74).
//! It keeps no state between walks and changes nothing in the core.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::{Entry, ResourceKey};
use crate::resolver::aggregate::{Node, flatten};
use crate::resolver::error::{ClusterError, ResolveError};
use crate::resolver::snapshot::{ClusterConfig, ClusterEndpoints, Snapshot};
use crate::resolver::vhost::select_virtual_host;
use crate::xds::WatchError;
use crate::xds::resource::RouteConfiguration;
use crate::xds::resource::cluster::ClusterDiscovery;
use crate::xds::resource::listener::{Listener, RouteSource};
use crate::xds::resource::route::RouteAction;
use crate::xds::resource::{Cluster, ClusterLoadAssignment, Resource, ResourceKind};

/// How a walk ended.
pub(super) enum Outcome {
    /// Every resource has a value or an error: this is the configuration (generation unset).
    Complete(Snapshot),
    /// Some resources (see [`Walker::pending`]) have neither yet.
    Waiting,
    /// The Listener, RouteConfiguration or virtual host makes the whole config unusable.
    Failed(ResolveError),
}

/// One walk of the tree over the current entries.
pub(super) struct Walker<'a> {
    entries: &'a BTreeMap<ResourceKey, Entry>,
    /// Every resource the tree needs watched.
    pub(super) wanted: BTreeSet<ResourceKey>,
    /// Resources of the tree with neither value nor error.
    pub(super) pending: BTreeSet<ResourceKey>,
    clusters: BTreeMap<String, Result<ClusterConfig, ClusterError>>,
}

/// What is known about one resource, as the walk uses it.
enum Lookup<'a> {
    Pending,
    Failed(&'a WatchError),
    Value(&'a Resource),
}

impl<'a> Walker<'a> {
    pub(super) fn new(entries: &'a BTreeMap<ResourceKey, Entry>) -> Self {
        Walker {
            entries,
            wanted: BTreeSet::new(),
            pending: BTreeSet::new(),
            clusters: BTreeMap::new(),
        }
    }

    /// Walks the tree of Listener `listener_name`, choosing the virtual host for `authority`.
    pub(super) fn walk(&mut self, listener_name: &str, authority: &str) -> Outcome {
        let listener = match self.listener(listener_name) {
            Ok(Some(l)) => l,
            Ok(None) => return Outcome::Waiting,
            Err(e) => return Outcome::Failed(e),
        };
        let route_config = match self.route_config(&listener) {
            Ok(Some(rc)) => rc,
            Ok(None) => return Outcome::Waiting,
            Err(e) => return Outcome::Failed(e),
        };
        let Some(index) = select_virtual_host(&route_config.virtual_hosts, authority) else {
            return Outcome::Failed(ResolveError::NoVirtualHost {
                authority: authority.to_string(),
                route_config: route_config.name.clone(),
                domains: route_config
                    .virtual_hosts
                    .iter()
                    .flat_map(|vh| vh.domains.iter().cloned())
                    .collect(),
            });
        };
        let mut roots: Vec<&str> = Vec::new();
        for route in &route_config.virtual_hosts[index].routes {
            if let RouteAction::Forward(forward) = &route.action {
                for wc in &forward.clusters {
                    if !roots.contains(&wc.name.as_str()) {
                        roots.push(&wc.name);
                    }
                }
            }
        }
        for root in roots {
            self.add_cluster(root);
        }
        if !self.pending.is_empty() {
            return Outcome::Waiting;
        }
        Outcome::Complete(Snapshot {
            generation: 0,
            listener,
            route_config: route_config.clone(),
            virtual_host_index: index,
            clusters: std::mem::take(&mut self.clusters),
        })
    }

    fn lookup(&self, kind: ResourceKind, name: &str) -> Lookup<'a> {
        let entries: &'a BTreeMap<ResourceKey, Entry> = self.entries;
        match entries.get(&(kind, name.to_string())) {
            Some(Entry {
                value: Some(value), ..
            }) => Lookup::Value(value),
            Some(Entry {
                error: Some(error), ..
            }) => Lookup::Failed(error),
            _ => Lookup::Pending,
        }
    }

    /// Wants resource `(kind, name)`; its value, `None` while pending, or its error.
    fn want(
        &mut self,
        kind: ResourceKind,
        name: &str,
    ) -> Result<Option<&'a Resource>, &'a WatchError> {
        self.wanted.insert((kind, name.to_string()));
        match self.lookup(kind, name) {
            // The client watches by kind, so a value is of the kind asked for.
            Lookup::Value(value) if value.kind() == kind => Ok(Some(value)),
            Lookup::Failed(error) => Err(error),
            _ => {
                self.pending.insert((kind, name.to_string()));
                Ok(None)
            }
        }
    }

    fn listener(&mut self, name: &str) -> Result<Option<Arc<Listener>>, ResolveError> {
        match self.want(ResourceKind::Listener, name) {
            Ok(Some(Resource::Listener(l))) => Ok(Some(l.clone())),
            Ok(Some(Resource::ServerListener(_))) => Err(ResolveError::NotAnApiListener {
                name: name.to_string(),
            }),
            Ok(_) => Ok(None),
            Err(error) => Err(ResolveError::Listener {
                name: name.to_string(),
                error: Box::new(error.clone()),
            }),
        }
    }

    fn route_config(
        &mut self,
        listener: &Listener,
    ) -> Result<Option<Arc<RouteConfiguration>>, ResolveError> {
        let name = match &listener.route_source {
            RouteSource::Inline(rc) => return Ok(Some(rc.clone())),
            RouteSource::Rds { name } => name,
        };
        match self.want(ResourceKind::RouteConfiguration, name) {
            Ok(Some(Resource::RouteConfiguration(rc))) => Ok(Some(rc.clone())),
            Ok(_) => Ok(None),
            Err(error) => Err(ResolveError::RouteConfiguration {
                name: name.clone(),
                listener: listener.name.clone(),
                error: Box::new(error.clone()),
            }),
        }
    }

    /// Adds cluster `name` (and what it depends on) to the walk.
    fn add_cluster(&mut self, name: &str) {
        if self.clusters.contains_key(name) {
            return;
        }
        let cluster = match self.want(ResourceKind::Cluster, name) {
            Ok(Some(Resource::Cluster(c))) => c.clone(),
            Ok(_) => return,
            Err(error) => {
                let error = ClusterError::Resource {
                    name: name.to_string(),
                    error: Box::new(error.clone()),
                };
                self.clusters.insert(name.to_string(), Err(error));
                return;
            }
        };
        let endpoints = match &cluster.discovery {
            ClusterDiscovery::Eds { service_name } => {
                let Some(assignment) = self.eds(service_name) else {
                    return;
                };
                ClusterEndpoints::Eds {
                    service_name: service_name.clone(),
                    assignment,
                }
            }
            ClusterDiscovery::LogicalDns { host, port } => ClusterEndpoints::LogicalDns {
                host: host.clone(),
                port: *port,
            },
            ClusterDiscovery::Aggregate { .. } => return self.add_aggregate(name, cluster),
        };
        let config = ClusterConfig { cluster, endpoints };
        self.clusters.insert(name.to_string(), Ok(config));
    }

    /// The endpoints of EDS resource `service_name`, or their error (A74's resolution note);
    /// `None` while pending.
    fn eds(
        &mut self,
        service_name: &str,
    ) -> Option<Result<Arc<ClusterLoadAssignment>, WatchError>> {
        match self.want(ResourceKind::ClusterLoadAssignment, service_name) {
            Ok(Some(Resource::ClusterLoadAssignment(a))) => Some(Ok(a.clone())),
            Ok(_) => None,
            Err(error) => Some(Err(error.clone())),
        }
    }

    /// Adds aggregate cluster `name`, and every cluster under it unless its graph is unusable
    /// (those stay watched, so a fix of the graph is seen).
    fn add_aggregate(&mut self, name: &str, cluster: Arc<Cluster>) {
        let entries = self.entries;
        let node = |n: &str| aggregate_node(entries, n);
        let flat = flatten(name, &node);
        for reached in &flat.reached {
            self.wanted.insert((ResourceKind::Cluster, reached.clone()));
        }
        let leaf_clusters = match flat.leaves {
            Ok(leaves) => leaves,
            Err(error) => {
                self.clusters.insert(name.to_string(), Err(error));
                return;
            }
        };
        let config = ClusterConfig {
            cluster,
            endpoints: ClusterEndpoints::Aggregate { leaf_clusters },
        };
        // Inserted before the children, so that a child never walks back into it.
        self.clusters.insert(name.to_string(), Ok(config));
        for reached in &flat.reached {
            self.add_cluster(reached);
        }
    }
}

/// What the aggregate walk needs to know about cluster `name`.
fn aggregate_node<'a>(entries: &'a BTreeMap<ResourceKey, Entry>, name: &str) -> Node<'a> {
    match entries.get(&(ResourceKind::Cluster, name.to_string())) {
        Some(Entry {
            value: Some(Resource::Cluster(c)),
            ..
        }) => match &c.discovery {
            ClusterDiscovery::Aggregate { clusters } => Node::Aggregate(clusters),
            _ => Node::Leaf,
        },
        Some(Entry { error: Some(_), .. }) => Node::Leaf,
        _ => Node::Unknown,
    }
}
