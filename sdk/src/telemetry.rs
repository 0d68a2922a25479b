//! Telemetry: gRPC's OpenTelemetry metrics (gRFC A66 names, units, attributes and buckets), the
//! A78 xDS client metrics and Meshwork's own `meshwork.*` counters, spans with W3C trace context
//! propagation (A72 attempts, OTel RPC semconv), and export over OTLP/gRPC or as Prometheus text.
//!
//! The per-RPC parts are generic tower layers over `http::Request<B>` / `http::Response<B>`,
//! so they wrap a `MeshChannel`, a plain `tonic::transport::Channel` or a tonic server alike:
//! - [`CallMetricsLayer`]: outermost on the client (call duration, call span);
//! - [`AttemptMetricsLayer`]: inside retry (attempt started / duration / sizes, attempt span,
//!   `traceparent` injection);
//! - [`ServerMetricsLayer`]: on the server (started / duration / sizes, server span from the
//!   incoming `traceparent`).
//!
//! Instruments (names in [`names`]):
//! - per call (A66): `grpc.client.attempt.started`, `grpc.client.attempt.duration`,
//!   `grpc.client.attempt.{sent,rcvd}_total_compressed_message_size` (optional labels
//!   `grpc.lb.locality`, `grpc.lb.backend_service`, off by default, see [`OptionalLabel`]),
//!   `grpc.client.call.duration`, `grpc.server.call.{started,duration}`,
//!   `grpc.server.call.{sent,rcvd}_total_compressed_message_size`;
//! - xDS client (A78, A88): `grpc.xds_client.connected`, `grpc.xds_client.server_failure`,
//!   `grpc.xds_client.resource_updates_valid` / `_invalid`, `grpc.xds_client.resources`
//!   (observable gauge over the CSDS cache);
//! - outlier detection (A91): `grpc.lb.outlier_detection.ejections_enforced` / `_unenforced`;
//! - Meshwork's own: `meshwork.breaker.overflows`, `meshwork.outlier.ejections`,
//!   `meshwork.fault.injected`, `meshwork.retry.budget_exhausted`;
//! - off by default, enabled by name with [`TelemetryBuilder::enable_metric`] (gRFC A79; the list
//!   is [`names::OPTIONAL_METRICS`]): A96 retries `grpc.client.call.retries`,
//!   `grpc.client.call.transparent_retries`, `grpc.client.call.retry_delay`
//!   (`grpc.client.call.hedges` is accepted but never recorded: Meshwork does not hedge); A94
//!   subchannels `grpc.subchannel.disconnections` (optional label `grpc.disconnect_error`),
//!   `grpc.subchannel.connection_attempts_{succeeded,failed}`,
//!   `grpc.subchannel.open_connections` (optional label `grpc.security_level`); A78 weighted
//!   round robin `grpc.lb.wrr.rr_fallback`, `grpc.lb.wrr.endpoint_weight_{not_yet_usable,stale}`,
//!   `grpc.lb.wrr.endpoint_weights` (weights from ORCA load reports, see [`crate::orca`]).
//!
//! All of them hang off one [`Telemetry`] handle ([`Telemetry::from_env`],
//! [`Telemetry::builder`] or [`Telemetry::disabled`]). Status, sizes and timing are observed by
//! wrapping the bodies (see `body`); nothing here buffers messages or changes what is sent.
//! Recording is cheap: each layer caches, per request path, the `grpc.method` value and the
//! instruments pre-bound to its attribute sets (`bound`, `entries`; a channel's call and attempt
//! layers share one cache and hand the first attempt its call's start and entry, `handoff`), and
//! makes no span at all when no tracer is configured.
//!
//! Spans are `tracing` spans (target [`SPAN_TARGET`], see `spans`), so an application's own
//! spans around a client call or inside a handler nest with them. They reach OpenTelemetry
//! through tracing-opentelemetry: add [`Telemetry::tracing_layer`] to your subscriber, e.g.
//! `tracing_subscriber::registry().with(telemetry.tracing_layer()).init()` (Meshwork installs
//! no subscriber; without the layer the spans are not exported and no `traceparent` is sent).
//! Not done here: A96 hedge counts (Meshwork does not hedge), `grpc-trace-bin`, message
//! events; a GOAWAY with `NO_ERROR` is reported as `unknown` (hyper does not tell it apart
//! from the peer closing the socket; other codes are `GOAWAY <CODE>`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use meshwork::telemetry::{AttemptMetricsLayer, CallMetricsLayer, Telemetry};
//! let telemetry = Telemetry::from_env()?;
//! let target = "dns:///localhost:50051";
//! let channel = tonic::transport::Endpoint::from_static("http://localhost:50051").connect_lazy();
//! // With a retry layer of your own, the call layer goes outside it, the attempt layer inside:
//! //     .layer(CallMetricsLayer::new(&telemetry, target))
//! //     .layer(your_retry_layer)
//! //     .layer(AttemptMetricsLayer::new(&telemetry, target))
//! // A channel that never retries makes one attempt per call: one layer records both.
//! let channel = tower::ServiceBuilder::new()
//!     .layer(AttemptMetricsLayer::with_call(&telemetry, target))
//!     .service(channel);
//! # let _ = (channel, CallMetricsLayer::new(&telemetry, target)); Ok(()) }
//! ```

mod attempt;
mod body;
mod bound;
mod builder;
mod call;
mod clock;
mod counter;
mod entries;
mod error;
mod experimental;
mod framing;
mod handle;
mod handoff;
mod instruments;
mod lb_labels;
mod mesh;
mod method;
pub mod names;
mod prometheus;
mod propagation;
mod scrape;
mod server;
mod spans;
pub mod status;

pub use attempt::{
    AttemptBody, AttemptFinish, AttemptFuture, AttemptMetrics, AttemptMetricsLayer, BoxError,
};
pub use body::{
    Boxed, Finish, Outcome, Plain, RequestBody, ResponseBody, ResponseFuture, WrapBody,
};
pub use builder::{SCOPE_NAME, TelemetryBuilder};
pub use call::{CallBody, CallFinish, CallFuture, CallMetrics, CallMetricsLayer};
pub use error::TelemetryError;
pub use framing::FrameCounter;
pub use handle::Telemetry;
pub use lb_labels::{LbLabelSlot, LbLabels, OptionalLabel, locality_value};
pub use mesh::{
    DetectionMethod, DisconnectError, FaultKind, MeshMetrics, ResourceCount, RetryCounts,
    RetryRecorder, SecurityLevel, SubchannelMetrics, UnenforcedReason, WrrMetrics, WrrUpdate,
    XdsResourceSource,
};
pub use method::MethodRegistry;
pub use scrape::{
    MetricsOptions, MetricsServer, MetricsServerError, PROMETHEUS_CONTENT_TYPE,
    serve as serve_metrics,
};
pub use server::{ServerBody, ServerFinish, ServerFuture, ServerMetrics, ServerMetricsLayer};
pub use spans::{AttemptInfo, OtelContext, SPAN_TARGET};

#[cfg(test)]
mod tests;
