//! Client call telemetry: `grpc.client.call.duration` and the call span (gRFC A66, A72).
//!
//! The outermost layer of the per-RPC client stack: its duration covers every attempt, retry
//! backoff and injected delay, up to the moment the response trailers (or an error) reach the
//! application. It starts the call span (a `tracing` span, child of the caller's current span)
//! and hands it to the attempt layer below through a request extension. It does not count sizes
//! (attempts do) and does not touch the request body.

use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

use super::body::{self, Boxed, Finish, Outcome, Plain, WrapBody};
use super::clock;
use super::entries::ClientEntry;
use super::handle::Telemetry;
use super::handoff::{self, ClientState, Offer};
use super::spans::{self, CallSpan};

/// Layer adding call metrics and the call span around a client service. `W` says how the
/// response body is handed on: as [`CallBody`] ([`Plain`]) or boxed as `tonic::body::Body`
/// ([`Boxed`], see [`CallMetricsLayer::boxed`]).
#[derive(Debug)]
pub struct CallMetricsLayer<W = Plain> {
    state: Option<Arc<ClientState>>,
    wrap: PhantomData<fn() -> W>,
}

/// The service made by [`CallMetricsLayer`].
#[derive(Debug)]
pub struct CallMetrics<S, W = Plain> {
    inner: S,
    state: Option<Arc<ClientState>>,
    wrap: PhantomData<fn() -> W>,
}

impl<W> Clone for CallMetricsLayer<W> {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
            wrap: PhantomData,
        }
    }
}

impl<S: Clone, W> Clone for CallMetrics<S, W> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            state: self.state.clone(),
            wrap: PhantomData,
        }
    }
}

/// What the call layer records when a call ends.
pub struct CallFinish {
    entry: Arc<ClientEntry>,
    start: Instant,
    /// Boxed: most RPCs have no span, and the finish is moved with every response.
    span: Option<Box<tracing::Span>>,
}

/// The call layer's response future.
pub type CallFuture<F> = body::ResponseFuture<F, CallFinish>;
/// The call layer's response body.
pub type CallBody<B> = body::ResponseBody<B, CallFinish>;

impl CallMetricsLayer {
    /// Call telemetry for the channel `target` (canonical, with scheme: `xds:///greeter:50051`,
    /// `dns:///localhost:50051`); it becomes the `grpc.target` attribute. Build the channel's
    /// [`AttemptMetricsLayer`](super::AttemptMetricsLayer) with the same telemetry and target:
    /// the two then share their per-method state.
    pub fn new(telemetry: &Telemetry, target: impl Into<String>) -> Self {
        Self {
            state: handoff::client_state(telemetry, &target.into()),
            wrap: PhantomData,
        }
    }

    /// The same layer with its response bodies boxed as `tonic::body::Body` (for stacks that
    /// erase their body type): boxed in the layer's future, with no `map_response` around it.
    pub fn boxed(self) -> CallMetricsLayer<Boxed> {
        CallMetricsLayer {
            state: self.state,
            wrap: PhantomData,
        }
    }
}

impl<S, W> Layer<S> for CallMetricsLayer<W> {
    type Service = CallMetrics<S, W>;

    fn layer(&self, inner: S) -> Self::Service {
        CallMetrics {
            inner,
            state: self.state.clone(),
            wrap: PhantomData,
        }
    }
}

impl<S, B, RB, W> Service<Request<B>> for CallMetrics<S, W>
where
    S: Service<Request<B>, Response = Response<RB>>,
    W: WrapBody<RB, CallFinish>,
{
    type Response = Response<W::Body>;
    type Error = S::Error;
    type Future = body::ResponseFuture<S::Future, CallFinish, W>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let Some(state) = &self.state else {
            return body::ResponseFuture::new(self.inner.call(req), None);
        };
        let t = &state.telemetry;
        let start = clock::now();
        let entry = state.entry(req.uri().path());
        let span = t
            .spans
            .is_some()
            .then(|| spans::call(&entry.method))
            .flatten();
        let span = span.map(|span| {
            req.extensions_mut().insert(CallSpan(span.clone()));
            Box::new(span)
        });
        // An attempt started synchronously below starts when the call did, with its entry.
        let offer = Offer::new(start, state, entry.clone());
        let finish = CallFinish { entry, start, span };
        let inner = handoff::offer(offer, || self.inner.call(req));
        body::ResponseFuture::new(inner, Some(finish))
    }
}

impl Finish for CallFinish {
    /// `grpc.client.call.*` has no size instruments.
    const COUNTS_BYTES: bool = false;

    fn wants_message(&self) -> bool {
        self.span.is_some()
    }

    fn finish(self, outcome: Outcome) {
        let secs = outcome.end.duration_since(self.start).as_secs_f64();
        self.entry.record_call(outcome.code, secs);
        if let Some(span) = &self.span {
            spans::end(span, &outcome);
        }
    }
}
