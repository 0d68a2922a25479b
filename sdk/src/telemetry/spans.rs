//! Span helpers for the telemetry layers, written directly against the OpenTelemetry tracer.
//!
//! Meshwork builds spans with the OTel API (not `tracing` + tracing-opentelemetry): parents are
//! explicit `opentelemetry::Context`s carried in request extensions ([`OtelContext`]) and W3C
//! headers, so links never depend on which `tracing` span happens to be entered, and telemetry
//! off costs nothing. Names: call and server spans `{rpc.method}` (OTel RPC semconv), attempt
//! spans `Attempt.<service>.<method>` (gRFC A72). Status: OK → Ok, otherwise Error with
//! `"CODE, message"` (A72). Attempt spans carry A72's `previous-rpc-attempts` and
//! `transparent-retry` from the [`AttemptInfo`] extension the retry layer sets (0 / false when
//! no retry layer runs).

use std::borrow::Cow;

use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{SpanBuilder, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue, Value};
use tonic::Code;

use super::body::Outcome;
use super::names::{SPAN_RPC_METHOD, SPAN_RPC_STATUS, SPAN_RPC_SYSTEM};
use super::status::code_name;

/// The OTel context of the current RPC's span, carried in `http::Request` extensions.
///
/// The call layer inserts it for the attempt layer below (so attempt spans are children of the
/// call span); the server layer inserts it for the handler (read it through
/// `tonic::Request::extensions()` to parent spans of your own).
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

/// Starts a span named `name` as a child of `parent`; returns the context holding it.
pub(crate) fn start(
    tracer: &BoxedTracer,
    name: String,
    kind: SpanKind,
    method: &Value,
    extra: &[KeyValue],
    parent: &Context,
) -> Context {
    let mut attributes = Vec::with_capacity(2 + extra.len());
    attributes.push(KeyValue::new(SPAN_RPC_SYSTEM, "grpc"));
    attributes.push(KeyValue::new(SPAN_RPC_METHOD, method.clone()));
    attributes.extend_from_slice(extra);
    let builder = SpanBuilder::from_name(name)
        .with_kind(kind)
        .with_attributes(attributes);
    let span = tracer.build_with_context(builder, parent);
    parent.with_span(span)
}

/// Sets the span status from the outcome and ends the span held by `cx`.
pub(crate) fn end(cx: &Context, outcome: &Outcome) {
    let span = cx.span();
    let name = code_name(outcome.code);
    span.set_attribute(KeyValue::new(SPAN_RPC_STATUS, name));
    if outcome.code == Code::Ok {
        span.set_status(Status::Ok);
    } else {
        let description = match &outcome.message {
            Some(m) => format!("{name}, {m}"),
            None => name.to_owned(),
        };
        span.set_status(Status::error(description));
    }
    span.end();
}

/// `Attempt.<service>.<method>` from the `grpc.method` value (`service/method` or `other`).
pub(crate) fn attempt_name(method: &Value) -> String {
    let m: Cow<'_, str> = method.as_str();
    format!("Attempt.{}", m.replace('/', "."))
}
