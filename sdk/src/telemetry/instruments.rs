//! The gRFC A66 per-call instruments, built once per [`Telemetry`](super::Telemetry) from a Meter.
//!
//! Histograms carry the A66 bucket boundaries as instrument advice
//! (`HistogramBuilder::with_boundaries`), so no SDK View is needed and any exporter sees them.
//! Recording (attributes, timing) happens in the layers; this module only builds.

use opentelemetry::metrics::{Counter, Histogram, Meter};

use super::names::*;

/// Client-side A66 instruments (attempt and call).
#[derive(Debug, Clone)]
pub(crate) struct ClientInstruments {
    pub attempt_started: Counter<u64>,
    pub attempt_duration: Histogram<f64>,
    pub attempt_sent: Histogram<u64>,
    pub attempt_rcvd: Histogram<u64>,
    pub call_duration: Histogram<f64>,
}

/// Server-side A66 instruments.
#[derive(Debug, Clone)]
pub(crate) struct ServerInstruments {
    pub started: Counter<u64>,
    pub duration: Histogram<f64>,
    pub sent: Histogram<u64>,
    pub rcvd: Histogram<u64>,
}

impl ClientInstruments {
    pub fn new(meter: &Meter) -> Self {
        Self {
            attempt_started: meter
                .u64_counter(CLIENT_ATTEMPT_STARTED)
                .with_unit("{attempt}")
                .with_description("Number of client call attempts started.")
                .build(),
            attempt_duration: latency(
                meter,
                CLIENT_ATTEMPT_DURATION,
                "End-to-end time taken to complete a client call attempt.",
            ),
            attempt_sent: size(
                meter,
                CLIENT_ATTEMPT_SENT_SIZE,
                "Compressed message bytes sent per client call attempt.",
            ),
            attempt_rcvd: size(
                meter,
                CLIENT_ATTEMPT_RCVD_SIZE,
                "Compressed message bytes received per call attempt.",
            ),
            call_duration: latency(
                meter,
                CLIENT_CALL_DURATION,
                "Time taken by gRPC to complete an RPC from application's perspective.",
            ),
        }
    }
}

impl ServerInstruments {
    pub fn new(meter: &Meter) -> Self {
        Self {
            started: meter
                .u64_counter(SERVER_CALL_STARTED)
                .with_unit("{call}")
                .with_description("Number of server calls started.")
                .build(),
            duration: latency(
                meter,
                SERVER_CALL_DURATION,
                "End-to-end time taken to complete a call from server transport's perspective.",
            ),
            sent: size(
                meter,
                SERVER_CALL_SENT_SIZE,
                "Compressed message bytes sent per server call.",
            ),
            rcvd: size(
                meter,
                SERVER_CALL_RCVD_SIZE,
                "Compressed message bytes received per server call.",
            ),
        }
    }
}

fn latency(meter: &Meter, name: &'static str, description: &'static str) -> Histogram<f64> {
    meter
        .f64_histogram(name)
        .with_unit("s")
        .with_description(description)
        .with_boundaries(LATENCY_BUCKETS.to_vec())
        .build()
}

fn size(meter: &Meter, name: &'static str, description: &'static str) -> Histogram<u64> {
    meter
        .u64_histogram(name)
        .with_unit("By")
        .with_description(description)
        .with_boundaries(SIZE_BUCKETS.to_vec())
        .build()
}
