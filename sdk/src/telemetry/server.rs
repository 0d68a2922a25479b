//! Server telemetry: the four `grpc.server.call.*` instruments (gRFC A66) and the server span (a
//! `tracing` span), a child of the caller's span read from the W3C `traceparent` header.
//!
//! Duration runs from the request head reaching the layer to the trailers leaving it (or the
//! response being dropped: RST_STREAM → `CANCELLED`). Received sizes come from the request body
//! as the handler reads it, sent sizes from the response body. The handler is called and polled
//! inside the server span, so its own `tracing` spans nest under it; the span's OTel context is
//! also put into the request extensions as [`OtelContext`]. The inner service receives a
//! `tonic::body::Body`, which is what `tonic::transport::Server::layer` passes along.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use opentelemetry::trace::TraceContextExt as _;
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;
use tracing::instrument::{Instrument as _, Instrumented};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::attempt::BoxError;
use super::body::{self, Finish, Outcome};
use super::bound::PathCache;
use super::clock;
use super::counter::SharedCount;
use super::entries::ServerEntry;
use super::handle::Telemetry;
use super::method::MethodRegistry;
use super::propagation;
use super::spans::{self, OtelContext};

/// Layer adding server call metrics and server spans around a tonic server's routes.
#[derive(Debug, Clone)]
pub struct ServerMetricsLayer {
    telemetry: Telemetry,
    methods: Option<Arc<MethodRegistry>>,
    cache: Arc<PathCache<ServerEntry>>,
}

/// The service made by [`ServerMetricsLayer`].
#[derive(Debug, Clone)]
pub struct ServerMetrics<S> {
    inner: S,
    telemetry: Telemetry,
    methods: Option<Arc<MethodRegistry>>,
    cache: Arc<PathCache<ServerEntry>>,
}

/// What the server layer records when a call ends.
pub struct ServerFinish {
    entry: Arc<ServerEntry>,
    start: Instant,
    rcvd: SharedCount,
    /// Boxed: most RPCs have no span, and the finish is moved with every response.
    span: Option<Box<tracing::Span>>,
}

/// The server layer's response future: the inner future, polled inside the server span.
pub type ServerFuture<F> = body::ResponseFuture<Instrumented<F>, ServerFinish>;
/// The server layer's response body.
pub type ServerBody<B> = body::ResponseBody<B, ServerFinish>;

impl ServerMetricsLayer {
    /// Server telemetry using the telemetry's method registry.
    pub fn new(telemetry: &Telemetry) -> Self {
        Self {
            telemetry: telemetry.clone(),
            methods: None,
            cache: Arc::new(PathCache::new()),
        }
    }

    /// Uses `methods` for `grpc.method` on this server: list the services it serves so that
    /// paths sent by untrusted peers are recorded as `other`.
    pub fn methods(mut self, methods: MethodRegistry) -> Self {
        self.methods = Some(Arc::new(methods));
        self.cache = Arc::new(PathCache::new());
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
            cache: self.cache.clone(),
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
            let inner = self.inner.call(req).instrument(tracing::Span::none());
            return body::ResponseFuture::new(inner, None);
        };
        let start = clock::now();
        let registry = self.methods.as_deref().unwrap_or(&t.methods);
        let entry = self.cache.get(
            req.uri().path(),
            |path| registry.attribute(path),
            |method| ServerEntry::new(t, method),
        );
        entry.start();
        let rcvd = SharedCount::new();
        let counted = rcvd.clone();
        let mut req = req.map(|b| body::counted(b, counted));
        let span = t.spans.is_some().then(|| spans::server(&entry.method));
        let span = span.flatten().inspect(|span| {
            let parent = propagation::extract(t.propagator.as_ref(), req.headers());
            // Fails only without a tracing-opentelemetry layer: the span then has no OTel side.
            let _ = span.set_parent(parent);
            let cx = span.context();
            if cx.span().span_context().is_valid() {
                req.extensions_mut().insert(OtelContext(cx));
            }
        });
        let handler = span.clone().unwrap_or_else(tracing::Span::none);
        let inner = handler.in_scope(|| self.inner.call(req));
        let finish = ServerFinish {
            entry,
            start,
            rcvd,
            span: span.map(Box::new),
        };
        body::ResponseFuture::new(inner.instrument(handler), Some(finish))
    }
}

impl Finish for ServerFinish {
    fn wants_message(&self) -> bool {
        self.span.is_some()
    }

    fn finish(self, outcome: Outcome) {
        let secs = outcome.end.duration_since(self.start).as_secs_f64();
        let rcvd = self.rcvd.get();
        self.entry
            .record(outcome.code, secs, outcome.response_bytes, rcvd);
        if let Some(span) = &self.span {
            spans::end(span, &outcome);
        }
    }
}
