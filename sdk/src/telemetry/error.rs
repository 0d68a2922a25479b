//! Errors from building and flushing telemetry exporters.

/// Why telemetry could not be set up or flushed.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The OTLP exporter could not be built (bad endpoint URL, bad env configuration).
    #[error(
        "could not build the OTLP {signal} exporter for endpoint `{endpoint}`: {reason}; \
         check the endpoint is an http(s) URL such as http://localhost:4317 \
         (OTEL_EXPORTER_OTLP_ENDPOINT or the per-signal OTEL_EXPORTER_OTLP_*_ENDPOINT)"
    )]
    Exporter {
        /// `metrics` or `traces`.
        signal: &'static str,
        /// The endpoint as configured (or `from environment`).
        endpoint: String,
        /// What the exporter builder said.
        reason: String,
    },
    /// An OTLP exporter was requested outside a Tokio runtime.
    #[error(
        "OTLP export needs a Tokio runtime, but telemetry was built outside one; \
         build it inside `#[tokio::main]` or `Runtime::block_on`, or turn OTLP off"
    )]
    NoRuntime,
    /// Flushing or shutting down an exporter failed.
    #[error("flushing {signal} failed: {reason}; check the OTLP collector is reachable")]
    Flush {
        /// `metrics` or `traces`.
        signal: &'static str,
        /// What the SDK said.
        reason: String,
    },
    /// [`TelemetryBuilder::enable_metric`](super::TelemetryBuilder::enable_metric) was given a
    /// name Meshwork does not know.
    #[error(
        "unknown metric `{name}`: no instrument has that name; the instruments that can be \
         enabled are: {known} (the A66 per-call, xDS client and outlier-detection metrics are \
         always on)"
    )]
    UnknownMetric {
        /// The name given.
        name: String,
        /// The names that can be enabled, comma-separated.
        known: String,
    },
}
