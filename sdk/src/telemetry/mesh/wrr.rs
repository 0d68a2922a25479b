//! gRFC A78 weighted-round-robin metrics, recorded each time a `client_side_weighted_round_robin`
//! scheduler is built (on endpoint changes and every `weight_update_period`), never per pick:
//! `grpc.lb.wrr.rr_fallback`, `grpc.lb.wrr.endpoint_weight_not_yet_usable`,
//! `grpc.lb.wrr.endpoint_weight_stale` and `grpc.lb.wrr.endpoint_weights`.
//!
//! Labels: `grpc.target`, plus `grpc.lb.locality` / `grpc.lb.backend_service` when those
//! optional labels are on (A78, A89). The attribute set is built once per policy instance.

use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};

use super::super::experimental::EnabledMetrics;
use super::super::lb_labels::{LbLabels, OptionalLabels};
use super::super::names::*;

/// The A78 WRR instruments that are on.
#[derive(Debug)]
pub(super) struct Instruments {
    fallback: Option<Counter<u64>>,
    not_yet_usable: Option<Counter<u64>>,
    stale: Option<Counter<u64>>,
    weights: Option<Histogram<f64>>,
}

/// Records the WRR metrics of one policy instance (a cluster's priority or locality); a no-op
/// when none is enabled. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct WrrMetrics {
    inner: Option<Arc<Bound>>,
}

#[derive(Debug)]
struct Bound {
    instruments: Arc<Instruments>,
    attrs: Box<[KeyValue]>,
}

/// What one scheduler update saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WrrUpdate<'a> {
    /// Fewer than two endpoints had a usable weight: the picker is plain round robin.
    pub rr_fallback: bool,
    /// Endpoints without a usable weight yet (no report, or in the blackout period).
    pub not_yet_usable: u64,
    /// Endpoints whose weight expired.
    pub stale: u64,
    /// Every endpoint's weight, 0 when unusable.
    pub weights: &'a [f64],
}

pub(super) fn build(meter: &Meter, on: EnabledMetrics) -> Option<Arc<Instruments>> {
    if !on.any(&[
        WRR_RR_FALLBACK,
        WRR_WEIGHT_NOT_YET_USABLE,
        WRR_WEIGHT_STALE,
        WRR_ENDPOINT_WEIGHTS,
    ]) {
        return None;
    }
    let counter = |name: &'static str, unit: &'static str, description: &'static str| {
        on.is_on(name).then(|| {
            meter
                .u64_counter(name)
                .with_unit(unit)
                .with_description(description)
                .build()
        })
    };
    Some(Arc::new(Instruments {
        fallback: counter(
            WRR_RR_FALLBACK,
            "{update}",
            "Number of scheduler updates in which there were not enough endpoints with valid \
             weight, which caused the WRR policy to fall back to RR behavior.",
        ),
        not_yet_usable: counter(
            WRR_WEIGHT_NOT_YET_USABLE,
            "{endpoint}",
            "Number of endpoints from each scheduler update that don't yet have usable weight \
             information (no load report yet, or still in the blackout period).",
        ),
        stale: counter(
            WRR_WEIGHT_STALE,
            "{endpoint}",
            "Number of endpoints from each scheduler update whose latest weight is older than \
             the expiration period.",
        ),
        weights: on.is_on(WRR_ENDPOINT_WEIGHTS).then(|| {
            meter
                .f64_histogram(WRR_ENDPOINT_WEIGHTS)
                .with_unit("{weight}")
                .with_description(
                    "Weight of each endpoint, recorded on every scheduler update; endpoints \
                     without usable weights are recorded as weight 0.",
                )
                .build()
        }),
    }))
}

impl WrrMetrics {
    pub(super) fn new(
        instruments: Arc<Instruments>,
        target: &str,
        lb: &LbLabels,
        optional: OptionalLabels,
    ) -> Self {
        let mut attrs = vec![KeyValue::new(ATTR_TARGET, target.to_owned())];
        attrs.extend(optional.attributes(lb));
        WrrMetrics {
            inner: Some(Arc::new(Bound {
                instruments,
                attrs: attrs.into_boxed_slice(),
            })),
        }
    }

    /// Whether any WRR instrument is on (callers may skip computing a [`WrrUpdate`]).
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Records one scheduler update.
    pub fn record(&self, update: &WrrUpdate<'_>) {
        let Some(b) = &self.inner else { return };
        let i = &b.instruments;
        if let Some(c) = &i.fallback
            && update.rr_fallback
        {
            c.add(1, &b.attrs);
        }
        if let Some(c) = &i.not_yet_usable
            && update.not_yet_usable > 0
        {
            c.add(update.not_yet_usable, &b.attrs);
        }
        if let Some(c) = &i.stale
            && update.stale > 0
        {
            c.add(update.stale, &b.attrs);
        }
        if let Some(h) = &i.weights {
            for w in update.weights {
                h.record(*w, &b.attrs);
            }
        }
    }
}
