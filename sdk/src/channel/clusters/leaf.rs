//! One leaf cluster as the channel's manager owns it: its [`ClusterBalancer`], the endpoint
//! connections, and the per-cluster resilience state that lives off the request path — the
//! process-wide circuit breaker and its `max_requests` (gRFC A32), the outlier detector (A50)
//! and the endpoints active health checks (A17) report unhealthy.
//!
//! An endpoint is usable unless outlier detection ejected it or its health check says it is not
//! serving; every change is pushed to the balancer with `set_usable`, which builds a new picker.
//! Each applied outlier decision is logged and reported to the channel's [`EventSink`] as an
//! ejection (with its reason and end) or a return, and counted: `meshwork.outlier.ejections`
//! for every ejection, gRFC A91 `grpc.lb.outlier_detection.ejections_enforced` for those of the
//! success-rate and failure-percentage algorithms, and `_unenforced` for the outliers a sweep
//! found but did not eject. The leaf also holds its cluster's upstream TLS settings (gRFC A29),
//! with which it asks the pool for its endpoints' connections. No I/O here besides asking
//! connections to connect.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::time::Instant;

use super::super::events::{EventSink, MeshEvent, reason_text};
use crate::balancer::{AtomicRng, ClusterBalancer, Connectivity, EndpointChanges, EndpointId};
use crate::connection::{ConnectionPool, EndpointConnection};
use crate::health::outlier::{Action, Decision, OutlierDetector, OutlierOptions, Reason};
use crate::resilience::{BreakerRegistry, ClusterBreaker};
use crate::telemetry::{DetectionMethod, LbLabels, MeshMetrics};
use crate::tls::UpstreamTls;
use crate::xds::resource::cluster::OutlierDetection;

/// A cluster's resilience settings.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Limits {
    /// The breaker's registry key: cluster name and EDS service name (static channels: the
    /// target, so two static channels never share a count).
    pub(crate) breaker_key: (String, Option<String>),
    /// `circuit_breakers` `max_requests` (1024 when unset).
    pub(crate) max_requests: u32,
    /// `outlier_detection`, if any.
    pub(crate) outlier_detection: Option<OutlierDetection>,
}

/// Where a leaf reports what outlier detection did.
#[derive(Clone, Debug)]
pub(super) struct Reports {
    /// The channel's event stream (admin `Watch`).
    pub(super) events: EventSink,
    /// The channel target (`grpc.target`).
    pub(super) target: Arc<str>,
    /// Mesh metrics.
    pub(super) metrics: MeshMetrics,
}

#[derive(Debug)]
pub(super) struct LeafCluster {
    pub(super) balancer: ClusterBalancer,
    pub(super) source: super::Source,
    pub(super) connections: HashMap<EndpointId, EndpointConnection>,
    pub(super) dns_error: Option<Arc<str>>,
    /// The cluster's upstream TLS (`None` = plaintext); fixed for the leaf's life.
    pub(super) tls: Option<UpstreamTls>,
    limits: Limits,
    pub(super) breaker: Arc<ClusterBreaker>,
    outlier: OutlierDetector,
    unhealthy: HashSet<EndpointId>,
    reports: Reports,
}

impl LeafCluster {
    pub(super) fn new(
        mut balancer: ClusterBalancer,
        source: super::Source,
        limits: Limits,
        tls: Option<UpstreamTls>,
        options: OutlierOptions,
        reports: Reports,
    ) -> Self {
        balancer.set_metrics(reports.target.clone(), reports.metrics.clone());
        let (cluster, eds) = &limits.breaker_key;
        let breaker = BreakerRegistry::global().breaker(cluster, eds.as_deref());
        let mut outlier = OutlierDetector::new(options);
        outlier.update_config(limits.outlier_detection.as_ref(), Instant::now());
        LeafCluster {
            balancer,
            source,
            connections: HashMap::new(),
            dns_error: None,
            tls,
            limits,
            breaker,
            outlier,
            unhealthy: HashSet::new(),
            reports,
        }
    }

    /// The cluster's `max_requests`.
    pub(super) fn max_requests(&self) -> u32 {
        self.limits.max_requests
    }

    /// The outlier counter the request path bumps for `id`.
    pub(super) fn counter(
        &self,
        id: EndpointId,
    ) -> Option<Arc<crate::health::outlier::CallCounter>> {
        self.outlier.counter(id)
    }

    /// The optional attempt-metric labels of endpoint `id`: its locality and this cluster.
    pub(super) fn lb_labels(&self, id: EndpointId) -> Arc<LbLabels> {
        let cluster = self.balancer.name();
        Arc::new(match self.balancer.endpoint(id) {
            Some(e) => {
                let l = &e.spec.locality;
                LbLabels::new(cluster, &l.region, &l.zone, &l.sub_zone)
            }
            None => LbLabels::new(cluster, "", "", ""),
        })
    }

    /// Applies new settings (a CDS update); returns whether a picker changed.
    pub(super) fn update_limits(&mut self, limits: Limits) -> bool {
        if limits == self.limits {
            return false;
        }
        if limits.breaker_key != self.limits.breaker_key {
            let (cluster, eds) = &limits.breaker_key;
            self.breaker = BreakerRegistry::global().breaker(cluster, eds.as_deref());
        }
        let decisions = self
            .outlier
            .update_config(limits.outlier_detection.as_ref(), Instant::now());
        self.limits = limits;
        self.apply_decisions(&decisions)
    }

    /// Takes connections for added endpoints (feeding their current state) and lets go of
    /// removed ones.
    pub(super) fn attach(&mut self, pool: &ConnectionPool, changes: EndpointChanges) {
        for handle in &changes.removed {
            self.connections.remove(&handle.id());
            self.unhealthy.remove(&handle.id());
        }
        let mut states = Vec::with_capacity(changes.added.len());
        for handle in &changes.added {
            // The pool says whether the connection it makes is TLS (xDS security may be off).
            let connection = pool.get_with(handle.address(), self.tls.as_ref(), |security| {
                let reports = &self.reports;
                let labels = self.lb_labels(handle.id());
                reports
                    .metrics
                    .subchannel(&reports.target, &labels, security)
            });
            states.push((handle.id(), connection.state()));
            self.connections.insert(handle.id(), connection);
        }
        self.balancer.update_connectivities(states);
        self.outlier
            .update_endpoints(self.balancer.endpoints().iter().map(|e| e.handle.id()));
        self.connect_if_eager();
    }

    pub(super) fn connect_if_eager(&self) {
        if self.balancer.connects_eagerly() {
            self.connections
                .values()
                .for_each(EndpointConnection::connect);
        }
    }

    fn ids_at(&self, address: SocketAddr) -> Vec<EndpointId> {
        self.connections
            .iter()
            .filter(|(_, c)| c.address() == address)
            .map(|(id, _)| *id)
            .collect()
    }

    /// A change of the pooled connection `connection` (an [`EndpointConnection::id`]).
    pub(super) fn on_connectivity(&mut self, connection: u64, state: Connectivity) -> bool {
        let ids: Vec<EndpointId> = self
            .connections
            .iter()
            .filter(|(_, c)| c.id() == connection)
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

    /// A health-check verdict for `address` (gRFC A17); returns whether a picker changed.
    pub(super) fn on_health(&mut self, address: SocketAddr, serving: bool) -> bool {
        let mut changed = false;
        for id in self.ids_at(address) {
            let was = if serving {
                self.unhealthy.remove(&id)
            } else {
                self.unhealthy.insert(id)
            };
            if was {
                changed |= self.push_usable(id);
            }
        }
        changed
    }

    /// When the outlier detector's next sweep is due.
    pub(super) fn next_sweep(&self) -> Option<Instant> {
        self.outlier.next_sweep()
    }

    /// Runs the outlier sweep if due; returns whether a picker changed.
    pub(super) fn on_sweep(&mut self, now: Instant, rng: &AtomicRng) -> bool {
        if self.outlier.next_sweep().is_none_or(|due| due > now) {
            return false;
        }
        let decisions = self.outlier.sweep(now, rng);
        let (r, cluster) = (&self.reports, self.balancer.name());
        for (reason, why) in self.outlier.take_unenforced() {
            if let Some(method) = detection_method(reason) {
                r.metrics
                    .outlier_ejection_unenforced(&r.target, cluster, method, why);
            }
        }
        self.apply_decisions(&decisions)
    }

    /// Until when each ejected endpoint stays ejected, for the admin view.
    pub(super) fn ejections(&self) -> HashMap<EndpointId, Instant> {
        self.balancer
            .endpoints()
            .iter()
            .filter_map(|e| {
                let id = e.handle.id();
                self.outlier.ejected_until(id).map(|until| (id, until))
            })
            .collect()
    }

    fn apply_decisions(&mut self, decisions: &[Decision]) -> bool {
        let mut changed = false;
        let now = Instant::now();
        for d in decisions {
            let address = self
                .balancer
                .endpoint(d.endpoint)
                .map(|e| e.handle.address());
            let cluster = self.balancer.name().to_string();
            let reason = reason_text(d.reason);
            match d.action {
                Action::Eject => {
                    tracing::info!(%cluster, ?address, reason, "outlier detection ejected an endpoint");
                    let until = self.outlier.ejected_until(d.endpoint);
                    let (r, target) = (&self.reports, &*self.reports.target);
                    r.metrics.outlier_ejection(target, &cluster);
                    if let Some(method) = detection_method(d.reason) {
                        r.metrics
                            .outlier_ejection_enforced(target, &cluster, method);
                    }
                    if let (Some(endpoint), Some(until)) = (address, until) {
                        self.reports.events.emit(MeshEvent::Ejection {
                            at: now,
                            cluster,
                            endpoint,
                            until,
                            reason: d.reason,
                        });
                    }
                }
                Action::Uneject => {
                    tracing::info!(%cluster, ?address, reason, "outlier detection returned an endpoint");
                    if let Some(endpoint) = address {
                        self.reports.events.emit(MeshEvent::Unejection {
                            at: now,
                            cluster,
                            endpoint,
                            reason: d.reason,
                        });
                    }
                }
            }
            changed |= self.push_usable(d.endpoint);
        }
        changed
    }

    /// Usable = not ejected and not reported unhealthy.
    fn push_usable(&mut self, id: EndpointId) -> bool {
        let usable = !self.outlier.is_ejected(id) && !self.unhealthy.contains(&id);
        self.balancer.set_usable(id, usable)
    }

    /// `Err` when a LOGICAL_DNS cluster has no endpoints because resolution failed.
    pub(super) fn usable(&self) -> Result<(), Arc<str>> {
        match &self.dns_error {
            Some(error) if self.balancer.endpoints().is_empty() => Err(error.clone()),
            _ => Ok(()),
        }
    }
}

/// The gRFC A91 detection method of an ejection reason (`None` for Meshwork's own).
fn detection_method(reason: Reason) -> Option<DetectionMethod> {
    match reason {
        Reason::SuccessRate => Some(DetectionMethod::SuccessRate),
        Reason::FailurePercentage => Some(DetectionMethod::FailurePercentage),
        _ => None,
    }
}
