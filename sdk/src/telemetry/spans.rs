//! The RPC spans as `tracing` spans (target [`SPAN_TARGET`], level INFO), exported to
//! OpenTelemetry by the layer [`Telemetry::tracing_layer`](super::Telemetry::tracing_layer)
//! returns (tracing-opentelemetry).
//!
//! Being `tracing` spans, they nest with the application's own: the call span's parent is the
//! caller's current span, attempt spans are children of the call span (carried to the attempt
//! layer in a [`CallSpan`] request extension, since retries run outside the caller's scope), and
//! the server span's parent is the remote context from the W3C headers, with the handler running
//! inside it. Names go through the `otel.name` field: call and server spans `{rpc.method}` (OTel
//! RPC semconv), attempt spans `Attempt.<service>.<method>` (gRFC A72); `otel.kind` is client or
//! server. Status (A72): OK → `otel.status_code = "OK"`, otherwise `otel.status_description =
//! "CODE, message"` (which tracing-opentelemetry turns into an error status). Attempt spans carry
//! A72's `previous-rpc-attempts` and `transparent-retry` from the [`AttemptInfo`] extension the
//! retry layer sets (0 / false when no retry layer runs).
//!
//! The layers make no span at all when the `Telemetry` has no tracer; otherwise a span whose
//! callsite no subscriber wants is `Span::none()` after one cached interest check, and records
//! nothing. Field names are literals (`tracing` needs them at compile time); a test checks them
//! against the constants in [`names`](super::names).

use std::borrow::Cow;

use opentelemetry::{Context, Value};
use tonic::Code;
use tracing::Span;

use super::body::Outcome;
use super::status::code_name;

/// The `tracing` target of Meshwork's RPC spans: filter on it to keep them out of logs.
pub const SPAN_TARGET: &str = "meshwork::rpc";

/// The OTel context of the server span, in the `http::Request` extensions a handler sees.
///
/// Handlers already run inside the server span (`tracing::Span::current()`, and the OTel
/// current context while the span is entered); this extension serves code that wants the
/// context as a value. Absent when no subscriber records the span.
#[derive(Debug, Clone)]
pub struct OtelContext(pub Context);

/// Which attempt of its call a request is (gRFC A72 attempt span attributes), a request
/// extension set by the retry layer above the attempt layer when spans are made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttemptInfo {
    /// Attempts of the call before this one, transparent retries excluded.
    pub previous_attempts: u32,
    /// Whether this attempt is a transparent retry.
    pub transparent: bool,
}

/// The call span, handed from the call layer to the attempt layer in request extensions.
#[derive(Debug, Clone)]
pub(crate) struct CallSpan(pub Span);

/// A client call span, child of the caller's current span; `None` if nobody records it.
pub(crate) fn call(method: &Value) -> Option<Span> {
    let m = method.as_str();
    let span = tracing::info_span!(
        target: SPAN_TARGET,
        "rpc.call",
        otel.name = &*m,
        otel.kind = "client",
        "rpc.system.name" = "grpc",
        "rpc.method" = &*m,
        "rpc.response.status_code" = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
    );
    enabled(span)
}

/// An attempt span, child of `parent` (the call span) or else of the current span.
pub(crate) fn attempt(method: &Value, parent: Option<&Span>, info: AttemptInfo) -> Option<Span> {
    let m = method.as_str();
    let name = format!("Attempt.{}", m.replace('/', "."));
    let parent = parent.cloned().unwrap_or_else(Span::current);
    let span = tracing::info_span!(
        target: SPAN_TARGET,
        parent: &parent,
        "rpc.attempt",
        otel.name = name,
        otel.kind = "client",
        "rpc.system.name" = "grpc",
        "rpc.method" = &*m,
        "previous-rpc-attempts" = i64::from(info.previous_attempts),
        "transparent-retry" = info.transparent,
        "rpc.response.status_code" = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
    );
    enabled(span)
}

/// A server span, a root in this process: its parent is set from the incoming headers.
pub(crate) fn server(method: &Value) -> Option<Span> {
    let m: Cow<'_, str> = method.as_str();
    let span = tracing::info_span!(
        target: SPAN_TARGET,
        parent: None,
        "rpc.server",
        otel.name = &*m,
        otel.kind = "server",
        "rpc.system.name" = "grpc",
        "rpc.method" = &*m,
        "rpc.response.status_code" = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
    );
    enabled(span)
}

/// Records the status from the outcome; the span ends when its last handle drops.
pub(crate) fn end(span: &Span, outcome: &Outcome) {
    let name = code_name(outcome.code);
    span.record("rpc.response.status_code", name);
    if outcome.code == Code::Ok {
        span.record("otel.status_code", "OK");
    } else {
        let description = match &outcome.message {
            Some(m) => format!("{name}, {m}"),
            None => name.to_owned(),
        };
        span.record("otel.status_code", "ERROR");
        span.record("otel.status_description", description.as_str());
    }
}

fn enabled(span: Span) -> Option<Span> {
    (!span.is_disabled()).then_some(span)
}

#[cfg(test)]
mod tests;
