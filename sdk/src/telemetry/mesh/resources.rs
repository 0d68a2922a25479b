//! The `grpc.xds_client.resources` gauge (gRFC A78, cache states amended by A88): an observable
//! gauge whose callback asks every registered xDS client for its resource counts when metrics
//! are collected, so the gauge reads the same cache entries the CSDS dump reads (A88).
//!
//! Clients register as weak [`XdsResourceSource`]s: a dropped client simply stops reporting.
//! A label set reported at the previous collection and absent now is observed once as 0, so a
//! resource that moves from `acked` to `nacked_but_cached` does not leave a stale `acked` series
//! behind, whatever the SDK does with unobserved series. Nothing is recorded between
//! collections, so the request path never pays for this gauge.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{AsyncInstrument, Meter, ObservableGauge};

use super::super::names::{
    ATTR_TARGET, ATTR_XDS_AUTHORITY, ATTR_XDS_CACHE_STATE, ATTR_XDS_RESOURCE_TYPE,
    XDS_CLIENT_RESOURCES,
};

/// Something that can count its cached xDS resources (an xDS client).
pub trait XdsResourceSource: Send + Sync {
    /// The number of resources per (authority, cache state, resource type), read now.
    fn resource_counts(&self) -> Vec<ResourceCount>;
}

/// One series of the `grpc.xds_client.resources` gauge.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ResourceCount {
    /// `grpc.xds.authority`: the `xdstp` authority, or `#old`.
    pub authority: String,
    /// `grpc.xds.cache_state`, e.g. `acked` or `nacked_but_cached`.
    pub cache_state: &'static str,
    /// `grpc.xds.resource_type`, e.g. `envoy.config.listener.v3.Listener`.
    pub resource_type: &'static str,
    /// How many resources are in that state.
    pub count: u64,
}

/// The registered sources and the series reported last time.
#[derive(Default)]
pub(crate) struct Registry {
    sources: Vec<(Arc<str>, Weak<dyn XdsResourceSource>)>,
    last: BTreeSet<SeriesKey>,
}

/// (target, authority, cache state, resource type).
type SeriesKey = (Arc<str>, String, &'static str, &'static str);

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("sources", &self.sources.len())
            .finish_non_exhaustive()
    }
}

/// Builds the observable gauge over `registry`.
pub(crate) fn gauge(meter: &Meter, registry: Arc<Mutex<Registry>>) -> ObservableGauge<u64> {
    meter
        .u64_observable_gauge(XDS_CLIENT_RESOURCES)
        .with_unit("{resource}")
        .with_description("Number of xDS resources.")
        .with_callback(move |observer| observe(&registry, observer))
        .build()
}

/// Adds `source` under `target`.
pub(crate) fn register(
    registry: &Mutex<Registry>,
    target: &str,
    source: Weak<dyn XdsResourceSource>,
) {
    let mut r = registry.lock().unwrap_or_else(PoisonError::into_inner);
    r.sources.retain(|(_, s)| s.strong_count() > 0);
    r.sources.push((Arc::from(target), source));
}

fn observe(registry: &Mutex<Registry>, observer: &dyn AsyncInstrument<u64>) {
    let mut r = registry.lock().unwrap_or_else(PoisonError::into_inner);
    r.sources.retain(|(_, s)| s.strong_count() > 0);
    let mut now: BTreeMap<SeriesKey, u64> = BTreeMap::new();
    for (target, source) in &r.sources {
        let Some(source) = source.upgrade() else {
            continue;
        };
        for c in source.resource_counts() {
            let key = (target.clone(), c.authority, c.cache_state, c.resource_type);
            *now.entry(key).or_default() += c.count;
        }
    }
    let gone: Vec<SeriesKey> = r
        .last
        .iter()
        .filter(|k| !now.contains_key(*k))
        .cloned()
        .collect();
    for key in gone {
        observer.observe(0, &attributes(&key));
    }
    for (key, count) in &now {
        observer.observe(*count, &attributes(key));
    }
    r.last = now.into_keys().collect();
}

fn attributes((target, authority, state, kind): &SeriesKey) -> [KeyValue; 4] {
    [
        KeyValue::new(ATTR_TARGET, target.to_string()),
        KeyValue::new(ATTR_XDS_AUTHORITY, authority.clone()),
        KeyValue::new(ATTR_XDS_CACHE_STATE, *state),
        KeyValue::new(ATTR_XDS_RESOURCE_TYPE, *kind),
    ]
}
