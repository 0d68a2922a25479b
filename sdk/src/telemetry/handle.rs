//! The [`Telemetry`] handle: instruments, tracer, propagator and exporters of one process.
//!
//! A `Telemetry` is cheap to clone and shared by every channel and server layer. It owns the
//! meter and tracer providers it built (OTLP push, Prometheus pull) or uses the user's / the
//! global ones. RPC spans are `tracing` spans: [`Telemetry::tracing_layer`] is the
//! tracing-opentelemetry layer that exports them (and the application's spans) through this
//! telemetry's tracer; the application adds it to its subscriber, Meshwork installs none. [`Telemetry::disabled`] holds nothing: layers then forward requests untouched.
//! Building exporters lives in `builder`; rendering Prometheus text in `prometheus`.

use std::fmt;
use std::sync::Arc;

use opentelemetry::InstrumentationScope;
use opentelemetry::global::{self, BoxedTracer};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{Filtered, LevelFilter};
use tracing_subscriber::registry::LookupSpan;

use super::builder::TelemetryBuilder;
use super::error::TelemetryError;
use super::handoff::ClientCaches;
use super::instruments::{ClientInstruments, ServerInstruments};
use super::lb_labels::OptionalLabels;
use super::mesh::MeshMetrics;
use super::method::MethodRegistry;
use super::prometheus::PrometheusReader;

/// Process-wide telemetry: gRFC A66 metrics, spans, trace propagation and exporters.
///
/// ```
/// # fn main() -> Result<(), meshwork::telemetry::TelemetryError> {
/// use meshwork::telemetry::{MethodRegistry, Telemetry};
/// let telemetry = Telemetry::builder()
///     .service_name("greeter-client")
///     .prometheus(true)
///     .methods(MethodRegistry::none().service("helloworld.Greeter"))
///     .build()?;
/// assert!(telemetry.prometheus_text().is_empty());
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct Telemetry {
    inner: Option<Arc<Inner>>,
}

/// What an enabled `Telemetry` holds; read by the layers.
pub(crate) struct Inner {
    pub client: ClientInstruments,
    pub server: ServerInstruments,
    pub mesh: MeshMetrics,
    /// Where spans go; `None`: the layers make no spans.
    pub spans: Option<SpanTracer>,
    pub propagator: Box<dyn TextMapPropagator + Send + Sync>,
    pub methods: MethodRegistry,
    /// Optional attempt labels that are on (gRFC A79).
    pub optional: OptionalLabels,
    pub meter_provider: Option<SdkMeterProvider>,
    pub tracer_provider: Option<SdkTracerProvider>,
    pub prometheus: Option<PrometheusReader>,
    /// The per-target entry caches shared by call and attempt layers.
    pub client_caches: ClientCaches,
}

/// The tracer behind [`Telemetry::tracing_layer`].
pub(crate) enum SpanTracer {
    /// The global tracer provider, looked up when the layer is made.
    Global(InstrumentationScope),
    /// A tracer of the provider Meshwork built or was given.
    Sdk(SdkTracer),
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            None => f.write_str("Telemetry(disabled)"),
            Some(i) => f
                .debug_struct("Telemetry")
                .field("tracing", &i.spans.is_some())
                .field("prometheus", &i.prometheus.is_some())
                .field("own_meter_provider", &i.meter_provider.is_some())
                .finish(),
        }
    }
}

impl Telemetry {
    /// Telemetry that records nothing; layers built from it only forward (near-zero cost).
    pub fn disabled() -> Self {
        Self { inner: None }
    }

    /// A builder for telemetry configured in code.
    pub fn builder() -> TelemetryBuilder {
        TelemetryBuilder::new()
    }

    /// Telemetry configured from the standard OpenTelemetry environment variables.
    ///
    /// - `OTEL_SDK_DISABLED=true`: [`Telemetry::disabled`].
    /// - `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`: push metrics over
    ///   OTLP/gRPC every `OTEL_METRIC_EXPORT_INTERVAL` ms (default 60 s); headers, timeout and
    ///   compression come from the usual `OTEL_EXPORTER_OTLP_*` variables (opentelemetry-otlp
    ///   reads them).
    /// - `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: export spans.
    /// - `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES`: the resource.
    ///
    /// The Prometheus reader is always on, so [`Telemetry::prometheus_text`] works. Must run
    /// inside a Tokio runtime when an OTLP endpoint is set.
    pub fn from_env() -> Result<Self, TelemetryError> {
        TelemetryBuilder::from_env().build()
    }

    pub(crate) fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Some(Arc::new(inner)),
        }
    }

    pub(crate) fn inner(&self) -> Option<&Arc<Inner>> {
        self.inner.as_ref()
    }

    /// Whether anything is recorded.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Whether spans are made (a tracer is configured).
    pub fn is_tracing(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| i.spans.is_some())
    }

    /// The tracing-opentelemetry layer exporting `tracing` spans through this telemetry's tracer
    /// (the one OTLP export is configured on); `None` when telemetry or spans are off.
    ///
    /// Meshwork's call, attempt and server spans are `tracing` spans (target
    /// [`SPAN_TARGET`](super::SPAN_TARGET)); add this layer to the application's subscriber so
    /// they, and the application's own spans around and inside RPCs, reach the exporter as one
    /// trace. A library installs no subscriber: this is the application's call. The layer takes
    /// spans at INFO and above only (Meshwork's are INFO): the DEBUG/TRACE spans hyper, h2 and
    /// tower make per request would otherwise all be exported, at several µs per RPC.
    ///
    /// ```
    /// use meshwork::telemetry::Telemetry;
    /// use tracing_subscriber::layer::SubscriberExt as _;
    /// let telemetry = Telemetry::builder()
    ///     .tracer_provider(opentelemetry_sdk::trace::SdkTracerProvider::builder().build())
    ///     .build()
    ///     .unwrap_or_default();
    /// let subscriber = tracing_subscriber::registry().with(telemetry.tracing_layer());
    /// tracing::subscriber::with_default(subscriber, || { /* make RPCs */ });
    /// ```
    pub fn tracing_layer<S>(
        &self,
    ) -> Option<Filtered<OpenTelemetryLayer<S, BoxedTracer>, LevelFilter, S>>
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    {
        let tracer = match self.inner.as_ref()?.spans.as_ref()? {
            SpanTracer::Global(scope) => global::tracer_with_scope(scope.clone()),
            SpanTracer::Sdk(tracer) => BoxedTracer::new(Box::new(tracer.clone())),
        };
        Some(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(LevelFilter::INFO),
        )
    }

    /// Record functions for xDS client and mesh metrics (no-ops when disabled).
    pub fn mesh(&self) -> MeshMetrics {
        self.inner
            .as_ref()
            .map(|i| i.mesh.clone())
            .unwrap_or_default()
    }

    /// The method registry the layers use for `grpc.method` (`None` when disabled).
    pub fn methods(&self) -> Option<&MethodRegistry> {
        self.inner.as_ref().map(|i| &i.methods)
    }

    /// The meter provider Meshwork built or was given (`None` for global / disabled).
    pub fn meter_provider(&self) -> Option<&SdkMeterProvider> {
        self.inner.as_ref().and_then(|i| i.meter_provider.as_ref())
    }

    /// The current metrics in Prometheus text format 0.0.4, for an admin `/metrics` endpoint.
    ///
    /// Empty when telemetry is disabled, the Prometheus reader is off, or metrics go to a
    /// provider Meshwork did not build. A collection error is rendered as a comment line.
    pub fn prometheus_text(&self) -> String {
        match self.inner.as_ref().and_then(|i| i.prometheus.as_ref()) {
            None => String::new(),
            Some(reader) => reader
                .render()
                .unwrap_or_else(|e| format!("# metrics collection failed: {e}\n")),
        }
    }

    /// Exports everything recorded so far (finished spans, then metrics) and waits for it.
    ///
    /// Blocks the calling thread: from async code, call it inside `spawn_blocking`.
    pub fn force_flush(&self) -> Result<(), TelemetryError> {
        let Some(i) = &self.inner else { return Ok(()) };
        if let Some(p) = &i.tracer_provider {
            p.force_flush().map_err(|e| flush_error("traces", e))?;
        }
        if let Some(p) = &i.meter_provider {
            p.force_flush().map_err(|e| flush_error("metrics", e))?;
        }
        Ok(())
    }

    /// Flushes and stops the exporters. Blocks like [`Telemetry::force_flush`].
    pub fn shutdown(&self) -> Result<(), TelemetryError> {
        let Some(i) = &self.inner else { return Ok(()) };
        if let Some(p) = &i.tracer_provider {
            p.shutdown().map_err(|e| flush_error("traces", e))?;
        }
        if let Some(p) = &i.meter_provider {
            p.shutdown().map_err(|e| flush_error("metrics", e))?;
        }
        Ok(())
    }
}

fn flush_error(signal: &'static str, e: impl fmt::Display) -> TelemetryError {
    TelemetryError::Flush {
        signal,
        reason: e.to_string(),
    }
}
