//! gRFC A96 retry metrics: `grpc.client.call.retries`, `grpc.client.call.transparent_retries`
//! and `grpc.client.call.retry_delay`, recorded once per call by the channel's retry layer.
//!
//! Labels `grpc.method` (the same [`MethodRegistry`] rule as the A66 metrics, so unregistered
//! methods are `other`) and `grpc.target`. A count or delay of 0 is not recorded (A96), so a
//! call that needed no retry costs nothing beyond the check. `grpc.client.call.hedges` has no
//! instrument: Meshwork does not hedge, so every call would record 0.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Histogram, Meter};

use super::super::experimental::EnabledMetrics;
use super::super::method::MethodRegistry;
use super::super::names::*;

/// The A96 instruments that are on.
#[derive(Debug)]
pub(super) struct Instruments {
    retries: Option<Histogram<u64>>,
    transparent: Option<Histogram<u64>>,
    delay: Option<Histogram<f64>>,
}

/// Records one channel's A96 retry metrics; a no-op when none is enabled. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct RetryRecorder {
    inner: Option<Arc<Recorder>>,
}

#[derive(Debug)]
struct Recorder {
    instruments: Arc<Instruments>,
    target: KeyValue,
    methods: MethodRegistry,
}

/// What the retry layer saw during one call.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RetryCounts {
    /// Retries made (attempts after the first), transparent retries excluded.
    pub retries: u32,
    /// Transparent retries made (gRFC A6: attempts that never reached the server).
    pub transparent: u32,
    /// Total time with no attempt in flight (backoff delays).
    pub delay: Duration,
}

pub(super) fn build(meter: &Meter, on: EnabledMetrics) -> Option<Arc<Instruments>> {
    if !on.any(&[
        CLIENT_CALL_RETRIES,
        CLIENT_CALL_TRANSPARENT_RETRIES,
        CLIENT_CALL_RETRY_DELAY,
    ]) {
        return None;
    }
    Some(Arc::new(Instruments {
        retries: on.is_on(CLIENT_CALL_RETRIES).then(|| {
            meter
                .u64_histogram(CLIENT_CALL_RETRIES)
                .with_unit("{retry}")
                .with_description(
                    "Number of retries during the client call, transparent retries excluded; \
                     calls without retries are not recorded.",
                )
                .with_boundaries(RETRY_BUCKETS.to_vec())
                .build()
        }),
        transparent: on.is_on(CLIENT_CALL_TRANSPARENT_RETRIES).then(|| {
            meter
                .u64_histogram(CLIENT_CALL_TRANSPARENT_RETRIES)
                .with_unit("{transparent_retry}")
                .with_description(
                    "Number of transparent retries during the client call; calls without \
                     transparent retries are not recorded.",
                )
                .with_boundaries(TRANSPARENT_RETRY_BUCKETS.to_vec())
                .build()
        }),
        delay: on.is_on(CLIENT_CALL_RETRY_DELAY).then(|| {
            meter
                .f64_histogram(CLIENT_CALL_RETRY_DELAY)
                .with_unit("s")
                .with_description(
                    "Total time of delay while there is no active attempt during the client \
                     call.",
                )
                .with_boundaries(LATENCY_BUCKETS.to_vec())
                .build()
        }),
    }))
}

impl RetryRecorder {
    pub(super) fn new(
        instruments: Arc<Instruments>,
        target: &str,
        methods: MethodRegistry,
    ) -> Self {
        RetryRecorder {
            inner: Some(Arc::new(Recorder {
                instruments,
                target: KeyValue::new(ATTR_TARGET, target.to_owned()),
                methods,
            })),
        }
    }

    /// Whether any A96 instrument is on (otherwise [`RetryRecorder::record`] does nothing).
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Records one finished call to request path `path` (`/package.Service/Method`).
    pub fn record(&self, path: &str, counts: RetryCounts) {
        let Some(r) = &self.inner else { return };
        let i = &r.instruments;
        let retries = i.retries.as_ref().filter(|_| counts.retries > 0);
        let transparent = i.transparent.as_ref().filter(|_| counts.transparent > 0);
        let delay = i.delay.as_ref().filter(|_| !counts.delay.is_zero());
        if retries.is_none() && transparent.is_none() && delay.is_none() {
            return;
        }
        let attrs = [
            KeyValue::new(ATTR_METHOD, r.methods.attribute(path)),
            r.target.clone(),
        ];
        if let Some(h) = retries {
            h.record(u64::from(counts.retries), &attrs);
        }
        if let Some(h) = transparent {
            h.record(u64::from(counts.transparent), &attrs);
        }
        if let Some(h) = delay {
            h.record(counts.delay.as_secs_f64(), &attrs);
        }
    }
}
