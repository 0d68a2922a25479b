//! [`TelemetryBuilder`]: where metrics and spans go (OTLP, Prometheus, the user's or the global
//! providers) and which methods get their own `grpc.method` value.
//!
//! OTLP uses opentelemetry-otlp's gRPC (tonic) exporter, which itself reads the standard
//! `OTEL_EXPORTER_OTLP_*` variables; the periodic reader reads `OTEL_METRIC_EXPORT_INTERVAL`;
//! the resource reads `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES`. This module only wires
//! them; it never opens a connection itself (the exporter connects lazily).

use std::time::Duration;

use opentelemetry::InstrumentationScope;
use opentelemetry::global;
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;

use super::error::TelemetryError;
use super::handle::{Inner, SpanTracer, Telemetry};
use super::handoff::ClientCaches;
use super::instruments::{ClientInstruments, ServerInstruments};
use super::lb_labels::{OptionalLabel, OptionalLabels};
use super::mesh::MeshMetrics;
use super::method::MethodRegistry;
use super::prometheus::PrometheusReader;

/// The instrumentation scope name of every Meshwork meter and tracer.
pub const SCOPE_NAME: &str = "meshwork";

/// Where an OTLP signal is sent.
#[derive(Debug, Clone)]
enum Otlp {
    /// Endpoint from `OTEL_EXPORTER_OTLP_*_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT`.
    FromEnv,
    /// An explicit endpoint URL.
    Endpoint(String),
}

/// Configures a [`Telemetry`]. Start from [`Telemetry::builder`].
pub struct TelemetryBuilder {
    disabled: bool,
    service_name: Option<String>,
    otlp_metrics: Option<Otlp>,
    otlp_traces: Option<Otlp>,
    export_interval: Option<Duration>,
    prometheus: bool,
    global: bool,
    meter_provider: Option<SdkMeterProvider>,
    tracer_provider: Option<SdkTracerProvider>,
    propagator: Option<Box<dyn TextMapPropagator + Send + Sync>>,
    methods: MethodRegistry,
    optional: OptionalLabels,
    pub(super) enabled_metrics: super::experimental::EnabledMetrics,
}

impl std::fmt::Debug for TelemetryBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryBuilder")
            .field("disabled", &self.disabled)
            .field("otlp_metrics", &self.otlp_metrics)
            .field("otlp_traces", &self.otlp_traces)
            .field("prometheus", &self.prometheus)
            .field("global", &self.global)
            .finish_non_exhaustive()
    }
}

impl TelemetryBuilder {
    /// Metrics on (Prometheus reader only), no spans, every method by name.
    pub fn new() -> Self {
        Self {
            disabled: false,
            service_name: None,
            otlp_metrics: None,
            otlp_traces: None,
            export_interval: None,
            prometheus: true,
            global: false,
            meter_provider: None,
            tracer_provider: None,
            propagator: None,
            methods: MethodRegistry::all(),
            optional: OptionalLabels::default(),
            enabled_metrics: Default::default(),
        }
    }

    /// The configuration [`Telemetry::from_env`] builds.
    pub fn from_env() -> Self {
        let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
        let mut b = Self::new();
        b.disabled =
            std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
        if set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") {
            b.otlp_metrics = Some(Otlp::FromEnv);
        }
        if set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            b.otlp_traces = Some(Otlp::FromEnv);
        }
        b
    }

    /// Sets `service.name` on the resource (overrides `OTEL_SERVICE_NAME`).
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// Sends metrics and spans over OTLP/gRPC to `endpoint` (e.g. `http://localhost:4317`).
    pub fn otlp_endpoint(self, endpoint: impl Into<String>) -> Self {
        let endpoint = endpoint.into();
        self.otlp_metrics_endpoint(endpoint.clone())
            .otlp_traces_endpoint(endpoint)
    }

    /// Sends metrics over OTLP/gRPC to `endpoint`.
    pub fn otlp_metrics_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.otlp_metrics = Some(Otlp::Endpoint(endpoint.into()));
        self
    }

    /// Sends spans over OTLP/gRPC to `endpoint`.
    pub fn otlp_traces_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.otlp_traces = Some(Otlp::Endpoint(endpoint.into()));
        self
    }

    /// How often metrics are pushed over OTLP (overrides `OTEL_METRIC_EXPORT_INTERVAL`).
    pub fn export_interval(mut self, interval: Duration) -> Self {
        self.export_interval = Some(interval);
        self
    }

    /// Keeps a Prometheus pull reader for [`Telemetry::prometheus_text`] (default on). Each
    /// reader aggregates separately, so turn it off when only OTLP is wanted.
    pub fn prometheus(mut self, on: bool) -> Self {
        self.prometheus = on;
        self
    }

    /// Records into the global meter provider and tracer provider (whatever the application
    /// installed with `opentelemetry::global`); Meshwork builds no exporter then.
    pub fn use_global(mut self) -> Self {
        self.global = true;
        self
    }

    /// Records into this meter provider instead of building one (no Prometheus text then).
    pub fn meter_provider(mut self, provider: SdkMeterProvider) -> Self {
        self.meter_provider = Some(provider);
        self
    }

    /// Makes spans with this tracer provider instead of building one.
    pub fn tracer_provider(mut self, provider: SdkTracerProvider) -> Self {
        self.tracer_provider = Some(provider);
        self
    }

    /// The propagator for trace context in request headers (default W3C TraceContext).
    pub fn propagator(
        mut self,
        propagator: impl TextMapPropagator + Send + Sync + 'static,
    ) -> Self {
        self.propagator = Some(Box::new(propagator));
        self
    }

    /// Which methods get their own `grpc.method` value (default: every well-formed method).
    pub fn methods(mut self, methods: MethodRegistry) -> Self {
        self.methods = methods;
        self
    }

    /// Records the optional `label` on the attempt duration and size histograms (off by
    /// default; gRFC A79: optional labels are recorded only when enabled). Only RPCs of a
    /// `MeshChannel` get values, from the endpoint the attempt picked.
    pub fn optional_label(mut self, label: OptionalLabel) -> Self {
        self.optional.enable(label);
        self
    }

    /// Builds the exporters and instruments. OTLP requires a Tokio runtime.
    pub fn build(self) -> Result<Telemetry, TelemetryError> {
        if self.disabled {
            return Ok(Telemetry::disabled());
        }
        let needs_runtime = !self.global
            && ((self.meter_provider.is_none() && self.otlp_metrics.is_some())
                || (self.tracer_provider.is_none() && self.otlp_traces.is_some()));
        if needs_runtime && tokio::runtime::Handle::try_current().is_err() {
            return Err(TelemetryError::NoRuntime);
        }
        let resource = self.resource();
        let scope = InstrumentationScope::builder(SCOPE_NAME)
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();

        let mut prometheus = None;
        let (meter, meter_provider): (Meter, Option<SdkMeterProvider>) = if self.global {
            (global::meter_with_scope(scope.clone()), None)
        } else if let Some(p) = self.meter_provider {
            (p.meter_with_scope(scope.clone()), Some(p))
        } else {
            let mut b = SdkMeterProvider::builder().with_resource(resource.clone());
            if self.prometheus {
                let reader = PrometheusReader::new();
                b = b.with_reader(reader.clone());
                prometheus = Some(reader);
            }
            if let Some(otlp) = &self.otlp_metrics {
                let exporter = opentelemetry_otlp::MetricExporter::builder().with_tonic();
                let exporter = match otlp {
                    Otlp::FromEnv => exporter.build(),
                    Otlp::Endpoint(e) => exporter.with_endpoint(e.clone()).build(),
                }
                .map_err(|e| exporter_error("metrics", otlp, e))?;
                let mut reader = PeriodicReader::builder(exporter);
                if let Some(interval) = self.export_interval {
                    reader = reader.with_interval(interval);
                }
                b = b.with_reader(reader.build());
            }
            let p = b.build();
            (p.meter_with_scope(scope.clone()), Some(p))
        };

        let (spans, tracer_provider) = if self.global {
            (Some(SpanTracer::Global(scope)), None)
        } else if let Some(p) = self.tracer_provider {
            (Some(SpanTracer::Sdk(p.tracer_with_scope(scope))), Some(p))
        } else if let Some(otlp) = &self.otlp_traces {
            let exporter = opentelemetry_otlp::SpanExporter::builder().with_tonic();
            let exporter = match otlp {
                Otlp::FromEnv => exporter.build(),
                Otlp::Endpoint(e) => exporter.with_endpoint(e.clone()).build(),
            }
            .map_err(|e| exporter_error("traces", otlp, e))?;
            let p = SdkTracerProvider::builder()
                .with_resource(resource)
                .with_batch_exporter(exporter)
                .build();
            (Some(SpanTracer::Sdk(p.tracer_with_scope(scope))), Some(p))
        } else {
            (None, None)
        };

        Ok(Telemetry::from_inner(Inner {
            client: ClientInstruments::new(&meter),
            server: ServerInstruments::new(&meter),
            mesh: MeshMetrics::new(&meter, self.enabled_metrics, self.optional),
            spans,
            propagator: self
                .propagator
                .unwrap_or_else(|| Box::new(TraceContextPropagator::new())),
            methods: self.methods,
            optional: self.optional,
            meter_provider,
            tracer_provider,
            prometheus,
            client_caches: ClientCaches::default(),
        }))
    }

    fn resource(&self) -> Resource {
        let b = Resource::builder();
        match &self.service_name {
            Some(name) => b.with_service_name(name.clone()).build(),
            None => b.build(),
        }
    }
}

impl Default for TelemetryBuilder {
    fn default() -> Self {
        Self::new()
    }
}

fn exporter_error(signal: &'static str, otlp: &Otlp, e: impl std::fmt::Display) -> TelemetryError {
    TelemetryError::Exporter {
        signal,
        endpoint: match otlp {
            Otlp::FromEnv => "from environment".to_owned(),
            Otlp::Endpoint(e) => e.clone(),
        },
        reason: e.to_string(),
    }
}
