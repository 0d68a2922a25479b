//! Non-per-call instruments: gRFC A78 xDS client metrics and Meshwork's own `meshwork.*`.
//!
//! Only the instruments and typed record functions live here; the xDS client, breakers, outlier
//! detection, fault injection and the retry budget call them. A78 metrics are experimental in
//! gRPC (off by default there); Meshwork records them whenever telemetry is on. A disabled
//! [`MeshMetrics`] records nothing and costs a branch.

use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Meter};

use super::names::*;

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
    breaker_overflows: Counter<u64>,
    outlier_ejections: Counter<u64>,
    fault_injected: Counter<u64>,
    retry_budget_exhausted: Counter<u64>,
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

    pub(crate) fn new(meter: &Meter) -> Self {
        let counter = |name: &'static str, unit: &'static str, description: &'static str| {
            meter
                .u64_counter(name)
                .with_unit(unit)
                .with_description(description)
                .build()
        };
        Self {
            inner: Some(Arc::new(Instruments {
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
            })),
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
