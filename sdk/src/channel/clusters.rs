//! The cluster manager's state: one [`ClusterBalancer`] per cluster of the target's snapshot
//! (xDS `xds_cluster_manager`, gRFC A27/A28), the endpoint connections each balancer's endpoints
//! use, and the [`RouteState`] built from them.
//!
//! Clusters are created when they appear in a snapshot, updated in place (`update_endpoints`,
//! `update_policy`) when they change, and dropped with their connections when they disappear.
//! EDS clusters take their assignment from the snapshot; LOGICAL_DNS clusters are resolved by the
//! manager task off the request path ([`ClusterSet::on_dns`]) and become one locality of
//! endpoints; aggregate clusters (A37/A75) get an [`AggregatePicker`] over their leaves. Each
//! leaf also carries its resilience state (`leaf`): the A32 breaker and `max_requests`, the A50
//! outlier detector (swept from [`ClusterSet::on_timer`]) and A17 health verdicts
//! ([`ClusterSet::on_health`]), all applied through `set_usable`. A leaf asks the pool for
//! connections secured as its cluster's upstream TLS says (gRFC A29); a CDS update that changes
//! the TLS settings replaces the leaf, so its endpoints get connections with the new settings.
//! It is
//! plain state driven by the task in `manager`: no I/O here besides asking connections to
//! connect, which only wakes their tasks.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::aggregate::{AggregatePicker, Leaf};
use super::events::EventSink;
use super::state::{ClusterEntry, EndpointRoute, RouteState, Routing};
use crate::balancer::{
    AtomicRng, BalancerOptions, Clock, ClusterBalancer, Connectivity, EndpointChanges, EndpointId,
};
use crate::connection::{ConnectionPool, EndpointConnection};
use crate::health::outlier::OutlierOptions;
use crate::resolver::ClusterConfig;
use crate::resolver::{ClusterEndpoints, Snapshot};
use crate::telemetry::MeshMetrics;
use crate::tls::UpstreamTls;
use crate::xds::resource::cluster::LbPolicy;
use crate::xds::resource::endpoint::ClusterLoadAssignment;

mod dns;
mod leaf;

pub(crate) use dns::DnsLookup;
pub(crate) use leaf::Limits;
use leaf::{LeafCluster, Reports};

/// Every cluster of one channel; see the module docs.
#[derive(Debug)]
pub(crate) struct ClusterSet {
    pool: ConnectionPool,
    seeds: AtomicRng,
    clock: Clock,
    clusters: BTreeMap<String, Slot>,
    /// The endpoint table of the last published state; `None` after endpoints changed.
    endpoints: Option<Arc<HashMap<EndpointId, EndpointRoute>>>,
    /// Randomness of outlier-detection enforcement draws.
    rng: AtomicRng,
    outlier_options: OutlierOptions,
    /// Where leaves report ejections.
    events: EventSink,
    /// Where leaves record outlier-detection metrics (gRFC A91), and the channel target.
    metrics: (Arc<str>, MeshMetrics),
    /// Addresses whose active health check last said "not serving".
    unhealthy: std::collections::HashSet<SocketAddr>,
}

mod inspect;

#[derive(Debug)]
enum Slot {
    Leaf(Box<LeafCluster>),
    Aggregate(Vec<String>),
    Failed(Arc<str>),
}

#[derive(Debug, PartialEq)]
pub(super) enum Source {
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
            rng: AtomicRng::new(seed.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15),
            outlier_options: OutlierOptions::default(),
            events: EventSink::default(),
            metrics: (Arc::from(""), MeshMetrics::disabled()),
            unhealthy: std::collections::HashSet::new(),
        }
    }

    /// Sets where leaves report ejections (set before clusters are added).
    pub(crate) fn set_events(&mut self, events: EventSink) {
        self.events = events;
    }

    /// Sets where leaves record outlier-detection metrics, for channel `target` (set before
    /// clusters are added).
    pub(crate) fn set_metrics(&mut self, target: &str, metrics: MeshMetrics) {
        self.metrics = (Arc::from(target), metrics);
    }

    /// Sets the Meshwork-only outlier-detection options (consecutive-failure extension).
    pub(crate) fn set_outlier_options(&mut self, options: OutlierOptions) {
        self.outlier_options = options;
    }

    fn reports(&self) -> Reports {
        Reports {
            events: self.events.clone(),
            target: self.metrics.0.clone(),
            metrics: self.metrics.1.clone(),
        }
    }

    /// A new leaf cluster with this set's outlier options and reports.
    fn leaf(
        &self,
        balancer: ClusterBalancer,
        source: Source,
        limits: Limits,
        tls: Option<UpstreamTls>,
    ) -> LeafCluster {
        LeafCluster::new(
            balancer,
            source,
            limits,
            tls,
            self.outlier_options,
            self.reports(),
        )
    }

    fn options(&self) -> BalancerOptions {
        BalancerOptions {
            seed: self.seeds.next_u64(),
            clock: self.clock.clone(),
            ..BalancerOptions::default()
        }
    }

    /// Adds a static cluster (no control plane) over `addresses`.
    pub(crate) fn add_static(
        &mut self,
        name: &str,
        addresses: Vec<SocketAddr>,
        policy: LbPolicy,
        limits: Limits,
    ) {
        let balancer = ClusterBalancer::from_addresses(name, addresses, policy, self.options());
        let added = balancer
            .endpoints()
            .iter()
            .map(|e| e.handle.clone())
            .collect();
        let mut leaf = self.leaf(balancer, Source::Static, limits, None);
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
            let limits = limits_of(name, config);
            let tls = config.cluster.tls.clone();
            match &config.endpoints {
                ClusterEndpoints::Eds {
                    assignment: Ok(cla),
                    ..
                } => {
                    self.apply_eds(name, policy, cla, limits, tls);
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
                    lookups.extend(self.apply_dns(name, policy, (host, *port), limits, tls));
                }
                ClusterEndpoints::Aggregate { leaf_clusters } => {
                    self.clusters
                        .insert(name.clone(), Slot::Aggregate(leaf_clusters.clone()));
                }
            }
        }
        self.reapply_health();
        self.endpoints = None;
        lookups
    }

    fn apply_eds(
        &mut self,
        name: &str,
        policy: LbPolicy,
        cla: &Arc<ClusterLoadAssignment>,
        limits: Limits,
        tls: Option<UpstreamTls>,
    ) {
        let source = Source::Eds(cla.clone());
        if let Some(Slot::Leaf(leaf)) = self.clusters.get_mut(name)
            && matches!(leaf.source, Source::Eds(_))
            && leaf.tls == tls
        {
            leaf.balancer.update_policy(policy);
            leaf.update_limits(limits);
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
        let mut leaf = self.leaf(balancer, source, limits, tls);
        leaf.attach(&self.pool, changes);
        self.clusters
            .insert(name.to_string(), Slot::Leaf(Box::new(leaf)));
    }

    /// Feeds one pooled connection's connectivity (by [`EndpointConnection::id`]) to every
    /// balancer with an endpoint on it; reconnects an IDLE endpoint of an eagerly connecting
    /// policy. Returns whether a picker changed.
    pub(crate) fn on_connectivity(&mut self, connection: u64, state: Connectivity) -> bool {
        let mut changed = false;
        for slot in self.clusters.values_mut() {
            if let Slot::Leaf(leaf) = slot {
                changed |= leaf.on_connectivity(connection, state);
            }
        }
        changed
    }

    /// Applies an active health check's verdict on `address` to every cluster using it;
    /// returns whether a picker changed.
    pub(crate) fn on_health(&mut self, address: SocketAddr, serving: bool) -> bool {
        if serving {
            self.unhealthy.remove(&address);
        } else {
            self.unhealthy.insert(address);
        }
        let mut changed = false;
        for slot in self.clusters.values_mut() {
            if let Slot::Leaf(leaf) = slot {
                changed |= leaf.on_health(address, serving);
            }
        }
        changed
    }

    /// Marks endpoints that appeared at an address known to be unhealthy.
    fn reapply_health(&mut self) {
        for slot in self.clusters.values_mut() {
            if let Slot::Leaf(leaf) = slot {
                for address in &self.unhealthy {
                    leaf.on_health(*address, false);
                }
            }
        }
    }

    /// Time until the earliest balancer timer or outlier-detection sweep.
    pub(crate) fn next_timer(&self) -> Option<Duration> {
        let now = Instant::now();
        let balancers = self.leaves().filter_map(|l| l.balancer.next_timer());
        let sweeps = self
            .leaves()
            .filter_map(|l| l.next_sweep())
            .map(|due| due.saturating_duration_since(now));
        balancers.chain(sweeps).min()
    }

    /// Runs due balancer timers and outlier sweeps; returns whether a picker changed.
    pub(crate) fn on_timer(&mut self) -> bool {
        let now = Instant::now();
        let mut changed = false;
        for slot in self.clusters.values_mut() {
            if let Slot::Leaf(leaf) = slot {
                changed |= leaf.balancer.on_timer();
                changed |= leaf.on_sweep(now, &self.rng);
            }
        }
        changed
    }

    /// Every pooled connection in use, by [`EndpointConnection::id`], for connectivity
    /// subscriptions (one address may have a plaintext and a TLS connection).
    pub(crate) fn connections_by_id(&self) -> HashMap<u64, EndpointConnection> {
        self.leaves()
            .flat_map(|l| l.connections.values())
            .map(|c| (c.id(), c.clone()))
            .collect()
    }

    /// One connection per address in use, for active health checks.
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
                        let cluster: Arc<str> = leaf.balancer.name().into();
                        leaf.connections.iter().map(move |(id, connection)| {
                            (
                                *id,
                                EndpointRoute {
                                    cluster: cluster.clone(),
                                    connection: connection.clone(),
                                    decay,
                                    breaker: leaf.breaker.clone(),
                                    max_requests: leaf.max_requests(),
                                    counter: leaf.counter(*id),
                                    lb: leaf.lb_labels(*id),
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
            stream_cap: None,
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

/// A cluster's resilience settings from its CDS resource: breaker keyed by cluster and EDS
/// service name (gRFC A32), `max_requests`, `outlier_detection`.
fn limits_of(name: &str, config: &ClusterConfig) -> Limits {
    let eds = match &config.endpoints {
        ClusterEndpoints::Eds { service_name, .. } => Some(service_name.clone()),
        _ => None,
    };
    Limits {
        breaker_key: (name.to_string(), eds),
        max_requests: config.cluster.max_requests,
        outlier_detection: config.cluster.outlier_detection.clone(),
    }
}
