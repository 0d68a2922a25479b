//! [`ClusterBalancer`]: the load balancer of one cluster, the object the channel owns and feeds.
//!
//! It takes the cluster's validated `LbPolicy` and its EDS `ClusterLoadAssignment` (or a static
//! address list), keeps per-endpoint state (EDS health, connectivity reported by the connection
//! layer, the `usable` override set by outlier detection or active health checks) and, after every
//! change that matters, builds one immutable picker: EDS drops (gRFC A27 `drop_overloads`) →
//! the serving priority (A27/A56, `priority.rs`) → localities by weight when the policy is
//! `wrr_locality` (`locality.rs`) → the endpoint policy. The pipeline follows gRPC's xDS LB tree
//! (`priority` → `xds_cluster_impl` → `outlier_detection` → `wrr_locality` → endpoint policy), with
//! the cluster-impl and outlier pieces reduced to what picking needs. Circuit breaking and load
//! reporting are not here (resilience / telemetry).
//!
//! All methods take `&mut self` and run off the request path; [`ClusterBalancer::picker`] hands
//! out the current `Arc<dyn Picker>`, replaced only when something changed.
//!
//! Wiring (for the channel): one task owns the balancer and applies, in order, EDS/CDS updates
//! (`update_endpoints`, `update_policy`; connect/close per [`EndpointChanges`]), connectivity
//! events from the connection layer (`update_connectivity[ies]`), `usable` changes from the health
//! module (`set_usable`: outlier ejection, NOT_SERVING), and `on_timer` when `next_timer` elapses;
//! after each it publishes `picker()` (e.g. through a `watch` or `ArcSwap`). The request path
//! only loads that `Arc`, picks, acts on `Queue { connect }`, and counts load on the picked
//! handle (`EndpointLoad::start`, `InFlight::finish` with `latency_decay()`). Connect every
//! endpoint up front when `connects_eagerly()`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::xds::resource::cluster::LbPolicy;
use crate::xds::resource::endpoint::{ClusterLoadAssignment, HealthStatus, Locality};

use super::child::{EndpointPolicy, LbMetrics, PolicyEnv, connects_eagerly};
use super::endpoint::{Connectivity, EndpointHandle, EndpointId, EndpointSpec};
use super::ewma::Clock;
use super::locality::WeightedTarget;
use super::picker::{FixedPicker, PickError, PickResult, Picker};
use super::priority::{DEFAULT_FAILOVER_TIMEOUT, PrioritySelector};
use super::ring_hash::DEFAULT_RING_SIZE_CAP;
use super::rng::AtomicRng;
use crate::telemetry::MeshMetrics;

mod build;
mod drops;

pub use drops::DropPicker;

/// Process-wide endpoint id source, so ids stay unique across clusters sharing connections.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Knobs of a [`ClusterBalancer`]; `Default` gives gRPC's defaults, a random seed and tokio time.
#[derive(Debug, Clone)]
pub struct BalancerOptions {
    /// Seed of every random choice (start offsets, samples, shuffles, locality and drop draws).
    pub seed: u64,
    /// Where time comes from (p2c latency decay, the priority failover timer).
    pub clock: Clock,
    /// Local cap on ring-hash ring size (gRPC: 4096).
    pub ring_size_cap: u64,
    /// How long a CONNECTING priority holds traffic before failing over (gRFC A27: 10 s).
    pub failover_timeout: Duration,
}

impl Default for BalancerOptions {
    fn default() -> Self {
        BalancerOptions {
            seed: fastrand::u64(..),
            clock: Clock::tokio(),
            ring_size_cap: DEFAULT_RING_SIZE_CAP,
            failover_timeout: DEFAULT_FAILOVER_TIMEOUT,
        }
    }
}

/// An endpoint as the balancer tracks it, for the channel and the admin view.
#[derive(Debug, Clone)]
pub struct EndpointState {
    /// Handle (id, address, live load).
    pub handle: EndpointHandle,
    /// Where it sits and how it is weighed.
    pub spec: EndpointSpec,
    /// Connectivity as last reported.
    pub connectivity: Connectivity,
    /// `false` while ejected by outlier detection or failing active health checks.
    pub usable: bool,
    /// The ring-hash key: `hash_key`, else `ip:port` (computed once per update).
    ring_key: Arc<str>,
}

/// Endpoints that appeared or disappeared in an update: connect or drop connections for them.
#[derive(Debug, Default, Clone)]
pub struct EndpointChanges {
    /// New endpoints (start IDLE).
    pub added: Vec<EndpointHandle>,
    /// Endpoints no longer in the assignment.
    pub removed: Vec<EndpointHandle>,
}

/// The load balancer of one cluster; see the module docs.
#[derive(Debug)]
pub struct ClusterBalancer {
    name: Arc<str>,
    config: LbPolicy,
    options: BalancerOptions,
    seeds: AtomicRng,
    endpoints: Vec<EndpointState>,
    index: HashMap<EndpointId, usize>,
    assigned: bool,
    drops: Vec<(Arc<str>, u32)>,
    layers: Vec<Layer>,
    selector: PrioritySelector,
    /// When weighted round robin next re-reads backend weights (clock nanos).
    weights_due: Option<u64>,
    state: Connectivity,
    picker: Arc<dyn Picker>,
    /// Channel target and telemetry for the policies' metrics (A78 WRR).
    metrics: (Arc<str>, MeshMetrics),
}

/// The policy objects of one priority: a flat endpoint policy, or one per locality.
#[derive(Debug, Default)]
struct Layer {
    flat: Option<EndpointPolicy>,
    localities: WeightedTarget,
}

impl ClusterBalancer {
    /// A balancer for cluster `name` with no assignment yet: picks queue until one arrives.
    pub fn new(name: impl Into<Arc<str>>, config: LbPolicy, options: BalancerOptions) -> Self {
        ClusterBalancer {
            name: name.into(),
            config,
            seeds: AtomicRng::new(options.seed),
            selector: PrioritySelector::new(options.failover_timeout),
            weights_due: None,
            options,
            endpoints: Vec::new(),
            index: HashMap::new(),
            assigned: false,
            drops: Vec::new(),
            layers: Vec::new(),
            state: Connectivity::Idle,
            picker: Arc::new(FixedPicker(PickResult::queue())),
            metrics: (Arc::from(""), MeshMetrics::disabled()),
        }
    }

    /// Records the policies' metrics (gRFC A78 WRR) for channel `target` into `mesh`. Policy
    /// objects made before are dropped and made again on the next build, now recording.
    pub(crate) fn set_metrics(&mut self, target: Arc<str>, mesh: MeshMetrics) {
        self.metrics = (target, mesh);
        self.layers.clear();
    }

    /// A balancer built from an EDS assignment.
    pub fn from_assignment(
        config: LbPolicy,
        assignment: &ClusterLoadAssignment,
        options: BalancerOptions,
    ) -> Self {
        let mut b = ClusterBalancer::new(assignment.cluster_name.as_str(), config, options);
        b.update_endpoints(assignment);
        b
    }

    /// A balancer over a static address list (no control plane): one priority, one locality,
    /// every endpoint weight 1 and health UNKNOWN.
    pub fn from_addresses(
        name: impl Into<Arc<str>>,
        addresses: impl IntoIterator<Item = SocketAddr>,
        config: LbPolicy,
        options: BalancerOptions,
    ) -> Self {
        let mut b = ClusterBalancer::new(name, config, options);
        let specs = addresses
            .into_iter()
            .map(|address| EndpointSpec {
                address,
                health: HealthStatus::Unknown,
                weight: 1,
                locality: Locality::default(),
                locality_weight: 1,
                priority: 0,
                hash_key: None,
            })
            .collect();
        b.apply(specs, Vec::new());
        b
    }

    /// Applies a new EDS assignment. Endpoints are matched by address: one that stays keeps its
    /// id, load counters, connectivity and `usable` flag.
    pub fn update_endpoints(&mut self, assignment: &ClusterLoadAssignment) -> EndpointChanges {
        let mut specs = Vec::new();
        for (p, priority) in assignment.priorities.iter().enumerate() {
            for l in &priority.localities {
                for e in &l.endpoints {
                    specs.push(EndpointSpec {
                        address: e.address,
                        health: e.health,
                        weight: e.weight.max(1),
                        locality: l.locality.clone(),
                        locality_weight: l.weight,
                        priority: u32::try_from(p).unwrap_or(u32::MAX),
                        hash_key: e.hash_key.clone(),
                    });
                }
            }
        }
        let drops = assignment
            .drop_overloads
            .iter()
            .map(|d| (Arc::from(d.category.as_str()), d.fraction.per_million()))
            .collect();
        self.apply(specs, drops)
    }

    /// Replaces the LB policy (a CDS update); policy state such as rings is rebuilt.
    pub fn update_policy(&mut self, config: LbPolicy) {
        if config != self.config {
            self.config = config;
            self.layers.clear();
            self.rebuild();
        }
    }

    /// Records an endpoint's connectivity; returns whether a new picker was built.
    pub fn update_connectivity(&mut self, id: EndpointId, state: Connectivity) -> bool {
        self.mutate(id, |e| set_connectivity(e, state))
    }

    /// Records many connectivity changes and builds at most one picker; returns whether it did.
    pub fn update_connectivities(
        &mut self,
        changes: impl IntoIterator<Item = (EndpointId, Connectivity)>,
    ) -> bool {
        let mut changed = false;
        for (id, state) in changes {
            if let Some(&i) = self.index.get(&id) {
                changed |= set_connectivity(&mut self.endpoints[i], state);
            }
        }
        if changed {
            self.rebuild();
        }
        changed
    }

    /// Sets the `usable` override (outlier ejection, active health check); an unusable endpoint
    /// counts as TRANSIENT_FAILURE (gRFC A50). Returns whether a new picker was built.
    pub fn set_usable(&mut self, id: EndpointId, usable: bool) -> bool {
        self.mutate(id, |e| std::mem::replace(&mut e.usable, usable) != usable)
    }

    /// Runs due timers at the clock's current time (the priority failover timer, the weighted
    /// round robin weight refresh); returns whether a new picker was built. Call it when
    /// [`ClusterBalancer::next_timer`] elapses.
    pub fn on_timer(&mut self) -> bool {
        let now = self.options.clock.now_nanos();
        let due = self.next_deadline().is_some_and(|d| d <= now);
        if due {
            self.rebuild();
        }
        due
    }

    /// Time left until [`ClusterBalancer::on_timer`] should run, if a timer is armed.
    pub fn next_timer(&self) -> Option<Duration> {
        let now = self.options.clock.now_nanos();
        self.next_deadline()
            .map(|d| Duration::from_nanos(d.saturating_sub(now)))
    }

    fn next_deadline(&self) -> Option<u64> {
        match (self.selector.next_deadline(), self.weights_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The current picker (the same `Arc` until something changes).
    pub fn picker(&self) -> Arc<dyn Picker> {
        self.picker.clone()
    }

    /// Aggregate connectivity of the serving priority.
    pub fn state(&self) -> Connectivity {
        self.state
    }

    /// Whether the policy wants every endpoint connected up front (round_robin, least_request,
    /// p2c, WRR) rather than only when a pick asks (ring_hash, pick_first).
    pub fn connects_eagerly(&self) -> bool {
        connects_eagerly(&self.config)
    }

    /// The decay time the channel passes to [`super::InFlight::finish`] when it records a
    /// latency: the p2c policy's `decay`, else Linkerd's 10 s.
    pub fn latency_decay(&self) -> Duration {
        fn find(p: &LbPolicy) -> Option<Duration> {
            match p {
                LbPolicy::PeakEwma(c) => Some(c.decay),
                LbPolicy::WrrLocality(inner) => find(inner),
                _ => None,
            }
        }
        find(&self.config).unwrap_or(Duration::from_secs(10))
    }

    /// One endpoint's state, by id.
    pub fn endpoint(&self, id: EndpointId) -> Option<&EndpointState> {
        self.index.get(&id).map(|&i| &self.endpoints[i])
    }

    /// The cluster name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every endpoint with its state, in assignment order.
    pub fn endpoints(&self) -> &[EndpointState] {
        &self.endpoints
    }

    fn mutate(&mut self, id: EndpointId, f: impl FnOnce(&mut EndpointState) -> bool) -> bool {
        let changed = match self.index.get(&id) {
            Some(&i) => f(&mut self.endpoints[i]),
            None => false,
        };
        if changed {
            self.rebuild();
        }
        changed
    }

    fn apply(&mut self, specs: Vec<EndpointSpec>, drops: Vec<(Arc<str>, u32)>) -> EndpointChanges {
        let mut old: HashMap<SocketAddr, EndpointState> = self
            .endpoints
            .drain(..)
            .map(|e| (e.spec.address, e))
            .collect();
        let mut changes = EndpointChanges::default();
        self.endpoints = specs
            .into_iter()
            .map(|spec| match old.remove(&spec.address) {
                Some(prev) => EndpointState {
                    ring_key: ring_key(&spec),
                    spec,
                    ..prev
                },
                None => {
                    let id = EndpointId(NEXT_ID.fetch_add(1, Ordering::Relaxed));
                    let handle = EndpointHandle::new(id, spec.address);
                    changes.added.push(handle.clone());
                    EndpointState {
                        handle,
                        ring_key: ring_key(&spec),
                        spec,
                        connectivity: Connectivity::Idle,
                        usable: true,
                    }
                }
            })
            .collect();
        changes.removed = old.into_values().map(|e| e.handle).collect();
        self.index = self
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| (e.handle.id(), i))
            .collect();
        self.drops = drops;
        self.assigned = true;
        self.rebuild();
        changes
    }

    /// The answer when nothing can serve, naming the cluster and why.
    fn failure(&self) -> PickResult {
        let total = self.endpoints.len();
        if total == 0 {
            return PickResult::Fail(PickError::new(format!(
                "cluster `{}` has no endpoints; check that its EDS resource lists endpoints in localities with a positive weight",
                self.name
            )));
        }
        let unhealthy = self
            .endpoints
            .iter()
            .filter(|e| !e.spec.health.is_usable())
            .count();
        let usable = |e: &&EndpointState| e.spec.health.is_usable();
        let ejected = self
            .endpoints
            .iter()
            .filter(usable)
            .filter(|e| !e.usable)
            .count();
        let failing = self
            .endpoints
            .iter()
            .filter(usable)
            .filter(|e| e.usable && e.connectivity == Connectivity::TransientFailure)
            .count();
        PickResult::Fail(PickError::new(format!(
            "all {total} endpoints of cluster `{}` are unavailable: {unhealthy} unhealthy in EDS, {ejected} ejected (outlier detection or health check), {failing} failing to connect; check the backends and the control plane's health reports",
            self.name
        )))
    }

    fn env(&self) -> PolicyEnv {
        PolicyEnv {
            clock: self.options.clock.clone(),
            ring_size_cap: self.options.ring_size_cap,
            metrics: LbMetrics {
                target: self.metrics.0.clone(),
                cluster: self.name.clone(),
                mesh: self.metrics.1.clone(),
            },
        }
    }
}

/// Records a connectivity change; a return to READY restarts the A58 weight blackout.
fn set_connectivity(e: &mut EndpointState, state: Connectivity) -> bool {
    let old = std::mem::replace(&mut e.connectivity, state);
    if state == Connectivity::Ready && old != Connectivity::Ready {
        e.handle.backend_weight().restart_blackout();
    }
    old != state
}

/// The key an endpoint is hashed by on the ring (gRFC A76: `hash_key` wins over the address).
fn ring_key(spec: &EndpointSpec) -> Arc<str> {
    match &spec.hash_key {
        Some(key) => Arc::from(key.as_str()),
        None => Arc::from(spec.address.to_string()),
    }
}

#[cfg(test)]
mod tests;
