//! The cluster manager's state: one [`ClusterBalancer`] per cluster of the target's snapshot
//! (xDS `xds_cluster_manager`, gRFC A27/A28), the endpoint connections each balancer's endpoints
//! use, and the [`RouteState`] built from them.
//!
//! Clusters are created when they appear in a snapshot, updated in place (`update_endpoints`,
//! `update_policy`) when they change, and dropped with their connections when they disappear.
//! EDS clusters take their assignment from the snapshot; LOGICAL_DNS clusters are resolved by the
//! manager task off the request path ([`ClusterSet::on_dns`]) and become one locality of
//! endpoints; aggregate clusters (A37/A75) get an [`AggregatePicker`] over their leaves. It is
//! plain state driven by the task in `manager`: no I/O here besides asking connections to
//! connect, which only wakes their tasks.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::aggregate::{AggregatePicker, Leaf};
use super::state::{ClusterEntry, EndpointRoute, RouteState, Routing};
use crate::balancer::{
    AtomicRng, BalancerOptions, Clock, ClusterBalancer, Connectivity, EndpointChanges, EndpointId,
};
use crate::connection::{ConnectionPool, EndpointConnection};
use crate::resolver::{ClusterEndpoints, Snapshot};
use crate::xds::resource::cluster::LbPolicy;
use crate::xds::resource::endpoint::{
    ClusterLoadAssignment, Endpoint, HealthStatus, Locality, LocalityEndpoints, Priority,
};

/// A LOGICAL_DNS name the task should resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DnsLookup {
    /// The cluster.
    pub(crate) cluster: String,
    /// Host name.
    pub(crate) host: String,
    /// Port.
    pub(crate) port: u16,
}

/// Every cluster of one channel; see the module docs.
#[derive(Debug)]
pub(crate) struct ClusterSet {
    pool: ConnectionPool,
    seeds: AtomicRng,
    clock: Clock,
    clusters: BTreeMap<String, Slot>,
    /// The endpoint table of the last published state; `None` after endpoints changed.
    endpoints: Option<Arc<HashMap<EndpointId, EndpointRoute>>>,
}

mod inspect;

#[derive(Debug)]
enum Slot {
    Leaf(Box<LeafCluster>),
    Aggregate(Vec<String>),
    Failed(Arc<str>),
}

#[derive(Debug)]
struct LeafCluster {
    balancer: ClusterBalancer,
    source: Source,
    connections: HashMap<EndpointId, EndpointConnection>,
    dns_error: Option<Arc<str>>,
}

#[derive(Debug, PartialEq)]
enum Source {
    Eds(Arc<ClusterLoadAssignment>),
    Dns { host: String, port: u16 },
    Static,
}

impl ClusterSet {
    /// An empty set whose connections come from `pool`.
    pub(crate) fn new(pool: ConnectionPool, seed: u64, clock: Clock) -> Self {
        ClusterSet {
            pool,
            seeds: AtomicRng::new(seed),
            clock,
            clusters: BTreeMap::new(),
            endpoints: None,
        }
    }

    fn options(&self) -> BalancerOptions {
        BalancerOptions {
            seed: self.seeds.next_u64(),
            clock: self.clock.clone(),
            ..BalancerOptions::default()
        }
    }

    /// Adds a static cluster (no control plane) over `addresses`.
    pub(crate) fn add_static(&mut self, name: &str, addresses: Vec<SocketAddr>, policy: LbPolicy) {
        let balancer = ClusterBalancer::from_addresses(name, addresses, policy, self.options());
        let added = balancer
            .endpoints()
            .iter()
            .map(|e| e.handle.clone())
            .collect();
        let mut leaf = LeafCluster::new(balancer, Source::Static);
        leaf.attach(
            &self.pool,
            EndpointChanges {
                added,
                removed: Vec::new(),
            },
        );
        self.clusters
            .insert(name.to_string(), Slot::Leaf(Box::new(leaf)));
        self.endpoints = None;
    }

    /// Brings the clusters in line with `snapshot`; returns the DNS names to resolve.
    pub(crate) fn apply(&mut self, snapshot: &Snapshot) -> Vec<DnsLookup> {
        self.clusters
            .retain(|name, _| snapshot.clusters.contains_key(name));
        let mut lookups = Vec::new();
        for (name, config) in &snapshot.clusters {
            let config = match config {
                Ok(config) => config,
                Err(error) => {
                    self.clusters
                        .insert(name.clone(), Slot::Failed(error.to_string().into()));
                    continue;
                }
            };
            let policy = config.cluster.lb_policy.clone();
            match &config.endpoints {
                ClusterEndpoints::Eds {
                    assignment: Ok(cla),
                    ..
                } => {
                    self.apply_eds(name, policy, cla);
                }
                ClusterEndpoints::Eds {
                    service_name,
                    assignment: Err(error),
                } => {
                    let message = format!(
                        "cluster `{name}` has no endpoints: EDS resource `{service_name}`: {error}"
                    );
                    self.clusters
                        .insert(name.clone(), Slot::Failed(message.into()));
                }
                ClusterEndpoints::LogicalDns { host, port } => {
                    lookups.extend(self.apply_dns(name, policy, host, *port));
                }
                ClusterEndpoints::Aggregate { leaf_clusters } => {
                    self.clusters
                        .insert(name.clone(), Slot::Aggregate(leaf_clusters.clone()));
                }
            }
        }
        self.endpoints = None;
        lookups
    }

    fn apply_eds(&mut self, name: &str, policy: LbPolicy, cla: &Arc<ClusterLoadAssignment>) {
        let source = Source::Eds(cla.clone());
        if let Some(Slot::Leaf(leaf)) = self.clusters.get_mut(name)
            && matches!(leaf.source, Source::Eds(_))
        {
            leaf.balancer.update_policy(policy);
            if leaf.source != source {
                let changes = leaf.balancer.update_endpoints(cla);
                leaf.source = source;
                leaf.attach(&self.pool, changes);
            }
            leaf.connect_if_eager();
            return;
        }
        let mut balancer = ClusterBalancer::new(name, policy, self.options());
        let changes = balancer.update_endpoints(cla);
        let mut leaf = LeafCluster::new(balancer, source);
        leaf.attach(&self.pool, changes);
        self.clusters
            .insert(name.to_string(), Slot::Leaf(Box::new(leaf)));
    }

    fn apply_dns(
        &mut self,
        name: &str,
        policy: LbPolicy,
        host: &str,
        port: u16,
    ) -> Option<DnsLookup> {
        let source = Source::Dns {
            host: host.to_string(),
            port,
        };
        if let Some(Slot::Leaf(leaf)) = self.clusters.get_mut(name)
            && leaf.source == source
        {
            leaf.balancer.update_policy(policy);
            leaf.connect_if_eager();
            return None;
        }
        let balancer = ClusterBalancer::new(name, policy, self.options());
        self.clusters.insert(
            name.to_string(),
            Slot::Leaf(Box::new(LeafCluster::new(balancer, source))),
        );
        Some(DnsLookup {
            cluster: name.to_string(),
            host: host.to_string(),
            port,
        })
    }

    /// Every LOGICAL_DNS cluster, for periodic re-resolution.
    pub(crate) fn dns_lookups(&self) -> Vec<DnsLookup> {
        self.clusters
            .iter()
            .filter_map(|(name, slot)| match slot {
                Slot::Leaf(leaf) => match &leaf.source {
                    Source::Dns { host, port } => Some(DnsLookup {
                        cluster: name.clone(),
                        host: host.clone(),
                        port: *port,
                    }),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    /// Applies a DNS answer (or failure); returns whether anything changed.
    pub(crate) fn on_dns(
        &mut self,
        lookup: &DnsLookup,
        result: Result<Vec<SocketAddr>, String>,
    ) -> bool {
        let Some(Slot::Leaf(leaf)) = self.clusters.get_mut(&lookup.cluster) else {
            return false;
        };
        if leaf.source
            != (Source::Dns {
                host: lookup.host.clone(),
                port: lookup.port,
            })
        {
            return false;
        }
        match result {
            Ok(addresses) => {
                leaf.dns_error = None;
                let cla = dns_assignment(lookup, addresses);
                let changes = leaf.balancer.update_endpoints(&cla);
                leaf.attach(&self.pool, changes);
            }
            Err(error) => {
                leaf.dns_error = Some(
                    format!(
                        "LOGICAL_DNS cluster `{}`: resolving `{}:{}` failed: {error}; check the \
                         cluster's host name",
                        lookup.cluster, lookup.host, lookup.port
                    )
                    .into(),
                );
            }
        }
        self.endpoints = None;
        true
    }

    /// Feeds one address's connectivity to every balancer with an endpoint there; reconnects an
    /// IDLE endpoint of an eagerly connecting policy. Returns whether a picker changed.
    pub(crate) fn on_connectivity(&mut self, address: SocketAddr, state: Connectivity) -> bool {
        let mut changed = false;
        for slot in self.clusters.values_mut() {
            if let Slot::Leaf(leaf) = slot {
                changed |= leaf.on_connectivity(address, state);
            }
        }
        changed
    }

    /// Time until the earliest balancer timer.
    pub(crate) fn next_timer(&self) -> Option<Duration> {
        self.leaves().filter_map(|l| l.balancer.next_timer()).min()
    }

    /// Runs due balancer timers; returns whether a picker changed.
    pub(crate) fn on_timer(&mut self) -> bool {
        let mut changed = false;
        for slot in self.clusters.values_mut() {
            if let Slot::Leaf(leaf) = slot {
                changed |= leaf.balancer.on_timer();
            }
        }
        changed
    }

    /// One connection per address in use, for connectivity subscriptions.
    pub(crate) fn connections(&self) -> HashMap<SocketAddr, EndpointConnection> {
        self.leaves()
            .flat_map(|l| l.connections.values())
            .map(|c| (c.address(), c.clone()))
            .collect()
    }

    /// The state to publish, with `routing`.
    pub(crate) fn state(&mut self, routing: Routing) -> RouteState {
        let endpoints = match &self.endpoints {
            Some(endpoints) => endpoints.clone(),
            None => {
                let table: HashMap<EndpointId, EndpointRoute> = self
                    .leaves()
                    .flat_map(|leaf| {
                        let decay = leaf.balancer.latency_decay();
                        leaf.connections.iter().map(move |(id, connection)| {
                            (
                                *id,
                                EndpointRoute {
                                    connection: connection.clone(),
                                    decay,
                                },
                            )
                        })
                    })
                    .collect();
                let table = Arc::new(table);
                self.endpoints = Some(table.clone());
                table
            }
        };
        let clusters = self
            .clusters
            .iter()
            .map(|(name, slot)| (name.clone(), self.entry(name, slot)))
            .collect();
        RouteState {
            routing,
            clusters,
            endpoints,
            snapshot: None,
            faults: None,
            view: Arc::new(self.inspect()),
        }
    }

    fn entry(&self, name: &str, slot: &Slot) -> ClusterEntry {
        match slot {
            Slot::Leaf(leaf) => match leaf.usable() {
                Ok(()) => ClusterEntry::Ready(leaf.balancer.picker()),
                Err(message) => ClusterEntry::Failed(message),
            },
            Slot::Failed(message) => ClusterEntry::Failed(message.clone()),
            Slot::Aggregate(names) => {
                let leaves = names.iter().map(|leaf| self.aggregate_leaf(leaf)).collect();
                ClusterEntry::Ready(Arc::new(AggregatePicker::new(name, leaves)))
            }
        }
    }

    fn aggregate_leaf(&self, name: &str) -> Leaf {
        match self.clusters.get(name) {
            Some(Slot::Leaf(leaf)) => match leaf.usable() {
                Ok(()) => Leaf::Usable {
                    picker: leaf.balancer.picker(),
                    state: leaf.balancer.state(),
                },
                Err(message) => Leaf::Failed(message),
            },
            Some(Slot::Failed(message)) => Leaf::Failed(message.clone()),
            Some(Slot::Aggregate(_)) | None => {
                Leaf::Failed(format!("leaf cluster `{name}` is not in the configuration").into())
            }
        }
    }

    fn leaves(&self) -> impl Iterator<Item = &LeafCluster> {
        self.clusters.values().filter_map(|slot| match slot {
            Slot::Leaf(leaf) => Some(&**leaf),
            _ => None,
        })
    }
}

impl LeafCluster {
    fn new(balancer: ClusterBalancer, source: Source) -> Self {
        LeafCluster {
            balancer,
            source,
            connections: HashMap::new(),
            dns_error: None,
        }
    }

    /// Takes connections for added endpoints (feeding their current state) and lets go of
    /// removed ones.
    fn attach(&mut self, pool: &ConnectionPool, changes: EndpointChanges) {
        for handle in &changes.removed {
            self.connections.remove(&handle.id());
        }
        let mut states = Vec::with_capacity(changes.added.len());
        for handle in &changes.added {
            let connection = pool.get(handle.address());
            states.push((handle.id(), connection.state()));
            self.connections.insert(handle.id(), connection);
        }
        self.balancer.update_connectivities(states);
        self.connect_if_eager();
    }

    fn connect_if_eager(&self) {
        if self.balancer.connects_eagerly() {
            self.connections
                .values()
                .for_each(EndpointConnection::connect);
        }
    }

    fn on_connectivity(&mut self, address: SocketAddr, state: Connectivity) -> bool {
        let ids: Vec<EndpointId> = self
            .connections
            .iter()
            .filter(|(_, c)| c.address() == address)
            .map(|(id, _)| *id)
            .collect();
        if ids.is_empty() {
            return false;
        }
        let changed = self
            .balancer
            .update_connectivities(ids.iter().map(|id| (*id, state)));
        if state == Connectivity::Idle {
            self.connect_if_eager();
        }
        changed
    }

    /// `Err` when a LOGICAL_DNS cluster has no endpoints because resolution failed.
    fn usable(&self) -> Result<(), Arc<str>> {
        match &self.dns_error {
            Some(error) if self.balancer.endpoints().is_empty() => Err(error.clone()),
            _ => Ok(()),
        }
    }
}

/// One locality holding every address a LOGICAL_DNS name resolved to (duplicates removed).
fn dns_assignment(lookup: &DnsLookup, addresses: Vec<SocketAddr>) -> ClusterLoadAssignment {
    let mut unique = Vec::with_capacity(addresses.len());
    for address in addresses {
        if !unique.contains(&address) {
            unique.push(address);
        }
    }
    let endpoints = unique
        .into_iter()
        .map(|address| Endpoint {
            address,
            additional_addresses: Vec::new(),
            health: HealthStatus::Unknown,
            weight: 1,
            hash_key: None,
            hostname: lookup.host.clone(),
        })
        .collect();
    ClusterLoadAssignment {
        cluster_name: lookup.cluster.clone(),
        priorities: vec![Priority {
            localities: vec![LocalityEndpoints {
                locality: Locality::default(),
                weight: 1,
                endpoints,
            }],
        }],
        drop_overloads: Vec::new(),
    }
}
