//! Server telemetry: the four `grpc.server.call.*` instruments (gRFC A66) and the server span,
//! a child of the caller's span read from the W3C `traceparent` header.
//!
//! Duration runs from the request head reaching the layer to the trailers leaving it (or the
//! response being dropped: RST_STREAM → `CANCELLED`). Received sizes come from the request body
//! as the handler reads it, sent sizes from the response body. The server span's context is put
//! into the request extensions as [`OtelContext`] for handlers. The inner service receives a
//! `tonic::body::Body`, which is what `tonic::transport::Server::layer` passes along.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use opentelemetry::trace::SpanKind;
use opentelemetry::{KeyValue, Value};
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

use super::attempt::BoxError;
use super::body::{self, Finish, Outcome, RequestBody};
use super::handle::{Inner, Telemetry};
use super::method::MethodRegistry;
use super::names::{ATTR_METHOD, ATTR_STATUS};
use super::propagation;
use super::spans::{self, OtelContext};
use super::status::code_name;

/// Layer adding server call metrics and server spans around a tonic server's routes.
#[derive(Debug, Clone)]
pub struct ServerMetricsLayer {
    telemetry: Telemetry,
    methods: Option<Arc<MethodRegistry>>,
}

/// The service made by [`ServerMetricsLayer`].
#[derive(Debug, Clone)]
pub struct ServerMetrics<S> {
    inner: S,
    telemetry: Telemetry,
    methods: Option<Arc<MethodRegistry>>,
}

/// What the server layer records when a call ends.
pub struct ServerFinish {
    telemetry: Arc<Inner>,
    method: Value,
    start: Instant,
    rcvd: Arc<AtomicU64>,
    span: Option<opentelemetry::Context>,
}

/// The server layer's response future.
pub type ServerFuture<F> = body::ResponseFuture<F, ServerFinish>;
/// The server layer's response body.
pub type ServerBody<B> = body::ResponseBody<B, ServerFinish>;

impl ServerMetricsLayer {
    /// Server telemetry using the telemetry's method registry.
    pub fn new(telemetry: &Telemetry) -> Self {
        Self {
            telemetry: telemetry.clone(),
            methods: None,
        }
    }

    /// Uses `methods` for `grpc.method` on this server: list the services it serves so that
    /// paths sent by untrusted peers are recorded as `other`.
    pub fn methods(mut self, methods: MethodRegistry) -> Self {
        self.methods = Some(Arc::new(methods));
        self
    }
}

impl<S> Layer<S> for ServerMetricsLayer {
    type Service = ServerMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ServerMetrics {
            inner,
            telemetry: self.telemetry.clone(),
            methods: self.methods.clone(),
        }
    }
}

impl<S, B, RB> Service<Request<B>> for ServerMetrics<S>
where
    S: Service<Request<tonic::body::Body>, Response = Response<RB>>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ServerBody<RB>>;
    type Error = S::Error;
    type Future = ServerFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let Some(t) = self.telemetry.inner() else {
            let req = req.map(tonic::body::Body::new);
            return body::ResponseFuture::new(self.inner.call(req), None);
        };
        let start = Instant::now();
        let registry = self.methods.as_deref().unwrap_or(&t.methods);
        let method = registry.attribute(req.uri().path());
        t.server
            .started
            .add(1, &[KeyValue::new(ATTR_METHOD, method.clone())]);
        let rcvd = Arc::new(AtomicU64::new(0));
        let counted = rcvd.clone();
        let mut req = req.map(|b| tonic::body::Body::new(RequestBody::new(b, counted)));
        let span = t.tracer.as_ref().map(|tracer| {
            let parent = propagation::extract(t.propagator.as_ref(), req.headers());
            let name = method.as_str().into_owned();
            let cx = spans::start(tracer, name, SpanKind::Server, &method, &[], &parent);
            req.extensions_mut().insert(OtelContext(cx.clone()));
            cx
        });
        let finish = ServerFinish {
            telemetry: t.clone(),
            method,
            start,
            rcvd,
            span,
        };
        body::ResponseFuture::new(self.inner.call(req), Some(finish))
    }
}

impl Finish for ServerFinish {
    fn finish(self, outcome: Outcome) {
        let secs = self.start.elapsed().as_secs_f64();
        let attrs = [
            KeyValue::new(ATTR_METHOD, self.method),
            KeyValue::new(ATTR_STATUS, code_name(outcome.code)),
        ];
        let s = &self.telemetry.server;
        s.duration.record(secs, &attrs);
        s.sent.record(outcome.response_bytes, &attrs);
        s.rcvd.record(self.rcvd.load(Ordering::Relaxed), &attrs);
        if let Some(cx) = &self.span {
            spans::end(cx, &outcome);
        }
    }
}
