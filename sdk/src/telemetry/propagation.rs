//! Trace context over gRPC metadata: W3C `traceparent` / `tracestate` in HTTP/2 headers.
//!
//! Implements the OTel `Injector` / `Extractor` traits over `http::HeaderMap` so any OTel
//! `TextMapPropagator` (W3C TraceContext by default, as gRFC A72 allows) reads and writes request
//! headers. Header values that are not valid HTTP header values are skipped, never panicked on.
//! It does not implement the `grpc-trace-bin` binary format.

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};

/// Writes propagation fields into request headers.
pub(crate) struct HeaderInjector<'a>(pub &'a mut HeaderMap);

/// Reads propagation fields from request headers.
pub(crate) struct HeaderExtractor<'a>(pub &'a HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// Injects `cx` into `headers` with `propagator`.
pub(crate) fn inject(
    propagator: &(dyn TextMapPropagator + Send + Sync),
    cx: &Context,
    headers: &mut HeaderMap,
) {
    propagator.inject_context(cx, &mut HeaderInjector(headers));
}

/// Extracts the remote parent context carried by `headers` (empty context if none).
pub(crate) fn extract(
    propagator: &(dyn TextMapPropagator + Send + Sync),
    headers: &HeaderMap,
) -> Context {
    propagator.extract(&HeaderExtractor(headers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use opentelemetry_sdk::propagation::TraceContextPropagator;

    #[test]
    fn traceparent_round_trips_through_headers() {
        let p = TraceContextPropagator::new();
        let sc = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap_or(TraceId::INVALID),
            SpanId::from_hex("00f067aa0ba902b7").unwrap_or(SpanId::INVALID),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        let cx = Context::new().with_remote_span_context(sc);
        let mut headers = HeaderMap::new();
        inject(&p, &cx, &mut headers);
        assert_eq!(
            headers.get("traceparent").and_then(|v| v.to_str().ok()),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );
        let back = extract(&p, &headers);
        let back = back.span().span_context().clone();
        assert_eq!(back.trace_id(), cx.span().span_context().trace_id());
        assert_eq!(back.span_id(), cx.span().span_context().span_id());
        assert!(back.is_remote());
    }

    #[test]
    fn malformed_traceparent_gives_no_parent() {
        let p = TraceContextPropagator::new();
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_static("00-zz-yy-01"));
        assert!(!extract(&p, &headers).span().span_context().is_valid());
    }
}
