//! Non-per-call instruments: gRFC A78 xDS client metrics (with A88's cache states), gRFC A91
//! outlier-detection metrics and Meshwork's own `meshwork.*`, plus the off-by-default A96 retry
//! (`retry`), A94 subchannel (`subchannel`) and A78 weighted-round-robin (`wrr`) instruments,
//! built only when enabled by name (`experimental`).
//!
//! Only the instruments and typed record functions live here; the xDS client, breakers, outlier
//! detection, fault injection and the retry budget call them. A78 and A91 metrics are
//! experimental in gRPC (off by default there); Meshwork records them whenever telemetry is on.
//! A disabled [`MeshMetrics`] records nothing and costs a branch. The `grpc.xds_client.resources`
//! gauge is observed at collection time from the registered clients (`resources`).

use std::sync::{Arc, Mutex, Weak};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Meter, ObservableGauge};

use super::experimental::EnabledMetrics;
use super::lb_labels::{LbLabels, OptionalLabels};
use super::method::MethodRegistry;
use super::names::*;

mod resources;
mod retry;
mod subchannel;
mod wrr;

pub use resources::{ResourceCount, XdsResourceSource};
pub use retry::{RetryCounts, RetryRecorder};
pub use subchannel::{DisconnectError, SecurityLevel, SubchannelMetrics};
pub use wrr::{WrrMetrics, WrrUpdate};

/// Record functions for xDS client and mesh-behaviour metrics. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct MeshMetrics {
    inner: Option<Arc<Instruments>>,
}

#[derive(Debug)]
struct Instruments {
    xds_connected: Gauge<u64>,
    xds_valid: Counter<u64>,
    xds_invalid: Counter<u64>,
    xds_server_failure: Counter<u64>,
    xds_sources: Arc<Mutex<resources::Registry>>,
    /// Kept so the callback lives as long as the instruments.
    _xds_resources: ObservableGauge<u64>,
    ejections_enforced: Counter<u64>,
    ejections_unenforced: Counter<u64>,
    breaker_overflows: Counter<u64>,
    outlier_ejections: Counter<u64>,
    fault_injected: Counter<u64>,
    retry_budget_exhausted: Counter<u64>,
    /// Off-by-default families; `None` when none of their instruments is enabled.
    retry: Option<Arc<retry::Instruments>>,
    subchannel: Option<Arc<subchannel::Instruments>>,
    wrr: Option<Arc<wrr::Instruments>>,
    optional: OptionalLabels,
}

/// The outlier-detection algorithm that found an outlier (gRFC A91
/// `grpc.lb.outlier_detection.detection_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectionMethod {
    /// `success_rate`.
    SuccessRate,
    /// `failure_percentage`.
    FailurePercentage,
}

/// Why a detected outlier was not ejected (gRFC A91
/// `grpc.lb.outlier_detection.unenforced_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnenforcedReason {
    /// `enforcement_percentage`: the enforcement draw said no.
    EnforcementPercentage,
    /// `max_ejection_overflow`: `max_ejection_percent` was reached.
    MaxEjectionOverflow,
}

impl DetectionMethod {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            DetectionMethod::SuccessRate => "success_rate",
            DetectionMethod::FailurePercentage => "failure_percentage",
        }
    }
}

impl UnenforcedReason {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            UnenforcedReason::EnforcementPercentage => "enforcement_percentage",
            UnenforcedReason::MaxEjectionOverflow => "max_ejection_overflow",
        }
    }
}

/// Which fault the fault filter injected (attribute `meshwork.fault.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// A fixed delay before the request goes on.
    Delay,
    /// The request was answered with an error status without reaching a backend.
    Abort,
}

impl MeshMetrics {
    /// Instruments that record nothing.
    pub fn disabled() -> Self {
        Self::default()
    }

    pub(crate) fn new(meter: &Meter, enabled: EnabledMetrics, optional: OptionalLabels) -> Self {
        let counter = |name: &'static str, unit: &'static str, description: &'static str| {
            meter
                .u64_counter(name)
                .with_unit(unit)
                .with_description(description)
                .build()
        };
        let xds_sources = Arc::new(Mutex::new(resources::Registry::default()));
        Self {
            inner: Some(Arc::new(Instruments {
                _xds_resources: resources::gauge(meter, xds_sources.clone()),
                xds_sources,
                xds_server_failure: counter(
                    XDS_CLIENT_SERVER_FAILURE,
                    "{failure}",
                    "xDS servers going from healthy to unhealthy: a connectivity failure or an \
                     ADS stream that failed without seeing a response (gRFC A57).",
                ),
                ejections_enforced: counter(
                    OUTLIER_EJECTIONS_ENFORCED,
                    "{ejection}",
                    "Enforced outlier ejections by detection method.",
                ),
                ejections_unenforced: counter(
                    OUTLIER_EJECTIONS_UNENFORCED,
                    "{ejection}",
                    "Detected outliers not ejected, by detection method and reason.",
                ),
                xds_connected: meter
                    .u64_gauge(XDS_CLIENT_CONNECTED)
                    .with_unit("{bool}")
                    .with_description(
                        "Whether the xDS client has a working ADS stream to the xDS server.",
                    )
                    .build(),
                xds_valid: counter(
                    XDS_CLIENT_UPDATES_VALID,
                    "{resource}",
                    "Resources received that were considered valid.",
                ),
                xds_invalid: counter(
                    XDS_CLIENT_UPDATES_INVALID,
                    "{resource}",
                    "Resources received that were considered invalid.",
                ),
                breaker_overflows: counter(
                    BREAKER_OVERFLOWS,
                    "{request}",
                    "Requests refused because a circuit breaker was full.",
                ),
                outlier_ejections: counter(
                    OUTLIER_EJECTIONS,
                    "{ejection}",
                    "Endpoints ejected by outlier detection.",
                ),
                fault_injected: counter(
                    FAULT_INJECTED,
                    "{fault}",
                    "Faults (delays, aborts) injected into RPCs.",
                ),
                retry_budget_exhausted: counter(
                    RETRY_BUDGET_EXHAUSTED,
                    "{retry}",
                    "Retries not made because the retry budget was exhausted.",
                ),
                retry: retry::build(meter, enabled),
                subchannel: subchannel::build(meter, enabled),
                wrr: wrr::build(meter, enabled),
                optional,
            })),
        }
    }

    /// The A96 recorder of channel `target`, whose `grpc.method` values follow `methods`
    /// (the telemetry's registry, as for the A66 metrics). Disabled unless an A96 instrument
    /// is enabled.
    pub fn retry_recorder(&self, target: &str, methods: &MethodRegistry) -> RetryRecorder {
        match self.inner.as_ref().and_then(|i| i.retry.clone()) {
            Some(instruments) => RetryRecorder::new(instruments, target, methods.clone()),
            None => RetryRecorder::default(),
        }
    }

    /// The A94 recorder of one endpoint connection held for channel `target`, labelled with
    /// `lb`'s enabled optional labels (and `security`, if `grpc.security_level` is on).
    /// Disabled unless an A94 instrument is enabled.
    pub fn subchannel(
        &self,
        target: &str,
        lb: &LbLabels,
        security: SecurityLevel,
    ) -> SubchannelMetrics {
        match self.inner.as_ref() {
            Some(i) => match &i.subchannel {
                Some(s) => SubchannelMetrics::new(s.clone(), target, lb, i.optional, security),
                None => SubchannelMetrics::default(),
            },
            None => SubchannelMetrics::default(),
        }
    }

    /// The A78 WRR recorder of one policy instance of channel `target`, labelled with `lb`'s
    /// enabled optional labels. Disabled unless a WRR instrument is enabled.
    pub fn wrr(&self, target: &str, lb: &LbLabels) -> WrrMetrics {
        match self.inner.as_ref() {
            Some(i) => match &i.wrr {
                Some(w) => WrrMetrics::new(w.clone(), target, lb, i.optional),
                None => WrrMetrics::default(),
            },
            None => WrrMetrics::default(),
        }
    }

    /// `grpc.xds_client.connected`: 1 while the ADS stream to `server` works, else 0.
    pub fn xds_connected(&self, target: &str, server: &str, connected: bool) {
        if let Some(i) = &self.inner {
            let attrs = [
                target_kv(target),
                KeyValue::new(ATTR_XDS_SERVER, server.to_owned()),
            ];
            i.xds_connected.record(u64::from(connected), &attrs);
        }
    }

    /// `grpc.xds_client.resource_updates_valid` / `_invalid`: `count` resources of
    /// `resource_type` (e.g. `envoy.config.listener.v3.Listener`) in one response.
    pub fn xds_resource_updates(
        &self,
        target: &str,
        server: &str,
        resource_type: &str,
        valid: u64,
        invalid: u64,
    ) {
        if let Some(i) = &self.inner {
            let attrs = [
                target_kv(target),
                KeyValue::new(ATTR_XDS_SERVER, server.to_owned()),
                KeyValue::new(ATTR_XDS_RESOURCE_TYPE, resource_type.to_owned()),
            ];
            if valid > 0 {
                i.xds_valid.add(valid, &attrs);
            }
            if invalid > 0 {
                i.xds_invalid.add(invalid, &attrs);
            }
        }
    }

    /// `grpc.xds_client.server_failure`: the xDS server `server` went from healthy to unhealthy.
    pub fn xds_server_failure(&self, target: &str, server: &str) {
        if let Some(i) = &self.inner {
            let attrs = [
                target_kv(target),
                KeyValue::new(ATTR_XDS_SERVER, server.to_owned()),
            ];
            i.xds_server_failure.add(1, &attrs);
        }
    }

    /// Reports `source`'s resources in the `grpc.xds_client.resources` gauge under `target`
    /// until `source` is dropped.
    pub fn watch_xds_resources(&self, target: &str, source: Weak<dyn XdsResourceSource>) {
        if let Some(i) = &self.inner {
            resources::register(&i.xds_sources, target, source);
        }
    }

    /// `grpc.lb.outlier_detection.ejections_enforced`: `method` ejected an endpoint of
    /// `cluster` (the `grpc.lb.backend_service` label).
    pub fn outlier_ejection_enforced(&self, target: &str, cluster: &str, method: DetectionMethod) {
        if let Some(i) = &self.inner {
            let attrs = [
                target_kv(target),
                KeyValue::new(ATTR_BACKEND_SERVICE, cluster.to_owned()),
                KeyValue::new(ATTR_DETECTION_METHOD, method.as_str()),
            ];
            i.ejections_enforced.add(1, &attrs);
        }
    }

    /// `grpc.lb.outlier_detection.ejections_unenforced`: `method` found an outlier in
    /// `cluster` that was not ejected, for `reason`.
    pub fn outlier_ejection_unenforced(
        &self,
        target: &str,
        cluster: &str,
        method: DetectionMethod,
        reason: UnenforcedReason,
    ) {
        if let Some(i) = &self.inner {
            let attrs = [
                target_kv(target),
                KeyValue::new(ATTR_BACKEND_SERVICE, cluster.to_owned()),
                KeyValue::new(ATTR_DETECTION_METHOD, method.as_str()),
                KeyValue::new(ATTR_UNENFORCED_REASON, reason.as_str()),
            ];
            i.ejections_unenforced.add(1, &attrs);
        }
    }

    /// `meshwork.breaker.overflows`: one request refused by `cluster`'s circuit breaker.
    pub fn breaker_overflow(&self, target: &str, cluster: &str) {
        self.count(|i| &i.breaker_overflows, target, cluster, None);
    }

    /// `meshwork.outlier.ejections`: one endpoint of `cluster` ejected.
    pub fn outlier_ejection(&self, target: &str, cluster: &str) {
        self.count(|i| &i.outlier_ejections, target, cluster, None);
    }

    /// `meshwork.fault.injected`: one fault of `kind` injected into an RPC to `cluster`.
    pub fn fault_injected(&self, target: &str, cluster: &str, kind: FaultKind) {
        let kind = match kind {
            FaultKind::Delay => "delay",
            FaultKind::Abort => "abort",
        };
        self.count(|i| &i.fault_injected, target, cluster, Some(kind));
    }

    /// `meshwork.retry.budget_exhausted`: one retry refused by the budget of `cluster`.
    pub fn retry_budget_exhausted(&self, target: &str, cluster: &str) {
        self.count(|i| &i.retry_budget_exhausted, target, cluster, None);
    }

    fn count(
        &self,
        pick: impl Fn(&Instruments) -> &Counter<u64>,
        target: &str,
        cluster: &str,
        kind: Option<&'static str>,
    ) {
        let Some(i) = &self.inner else { return };
        let base = [
            target_kv(target),
            KeyValue::new(ATTR_CLUSTER, cluster.to_owned()),
        ];
        match kind {
            None => pick(i).add(1, &base),
            Some(kind) => {
                let [t, c] = base;
                pick(i).add(1, &[t, c, KeyValue::new(ATTR_FAULT_KIND, kind)]);
            }
        }
    }
}

fn target_kv(target: &str) -> KeyValue {
    KeyValue::new(ATTR_TARGET, target.to_owned())
}

#[cfg(test)]
mod tests;
