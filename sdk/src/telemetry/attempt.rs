//! Client attempt telemetry: the four `grpc.client.attempt.*` instruments and the attempt span
//! (gRFC A66, A72), plus W3C `traceparent` injection into the outgoing request.
//!
//! Sits inside retry, so it runs once per attempt; its duration includes the LB pick below it.
//! Sizes come from the gRPC framing of the request and response bodies. The span (a `tracing`
//! span) is a child of the call span the call layer put in the request extensions (else of the
//! current span); its OTel context goes out in the headers, so the server sees it as its parent;
//! its A72 attributes come from the [`AttemptInfo`] extension.
//! With optional labels on, an [`LbLabelSlot`] the pick layer fills adds `grpc.lb.locality` /
//! `grpc.lb.backend_service` (see `lb_labels`). The inner service receives a `tonic::body::Body`.

use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::body::{self, Boxed, Finish, Outcome, Plain, WrapBody};
use super::clock;
use super::counter::SharedCount;
use super::entries::ClientEntry;
use super::handle::Telemetry;
use super::handoff::{self, ClientState};
use super::lb_labels::{LbLabelSlot, OptionalLabels};
use super::propagation;
use super::spans::{self, AttemptInfo, CallSpan};

/// Boxed error type of request bodies (what tonic uses).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Layer adding attempt metrics, the attempt span and `traceparent` injection. `W` says how the
/// response body is handed on: as [`AttemptBody`] ([`Plain`]) or boxed as `tonic::body::Body`
/// ([`Boxed`], see [`AttemptMetricsLayer::boxed`]).
#[derive(Debug)]
pub struct AttemptMetricsLayer<W = Plain> {
    state: Option<Arc<ClientState>>,
    /// Also the call layer (a stack that never retries; see [`AttemptMetricsLayer::with_call`]).
    with_call: bool,
    wrap: PhantomData<fn() -> W>,
}

/// The service made by [`AttemptMetricsLayer`].
#[derive(Debug)]
pub struct AttemptMetrics<S, W = Plain> {
    inner: S,
    state: Option<Arc<ClientState>>,
    with_call: bool,
    wrap: PhantomData<fn() -> W>,
}

impl<W> Clone for AttemptMetricsLayer<W> {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
            with_call: self.with_call,
            wrap: PhantomData,
        }
    }
}

impl<S: Clone, W> Clone for AttemptMetrics<S, W> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            state: self.state.clone(),
            with_call: self.with_call,
            wrap: PhantomData,
        }
    }
}

/// What the attempt layer records when an attempt ends.
pub struct AttemptFinish {
    entry: Arc<ClientEntry>,
    start: Instant,
    sent: SharedCount,
    lb: Option<(LbLabelSlot, OptionalLabels)>,
    /// Boxed: most RPCs have no span, and the finish is moved with every response.
    span: Option<Box<tracing::Span>>,
    /// This layer is also the call layer: the call's span when spans are on (see
    /// [`AttemptMetricsLayer::with_call`]).
    call: Option<Option<Box<tracing::Span>>>,
}

/// The attempt layer's response future.
pub type AttemptFuture<F> = body::ResponseFuture<F, AttemptFinish>;
/// The attempt layer's response body.
pub type AttemptBody<B> = body::ResponseBody<B, AttemptFinish>;

impl AttemptMetricsLayer {
    /// Attempt telemetry for the channel `target` (the same value as the call layer's).
    pub fn new(telemetry: &Telemetry, target: impl Into<String>) -> Self {
        Self {
            state: handoff::client_state(telemetry, &target.into()),
            with_call: false,
            wrap: PhantomData,
        }
    }

    /// Call and attempt telemetry in one layer, for a client stack that never retries (a plain
    /// tonic channel): every call is exactly one attempt, so one observation records both —
    /// `grpc.client.call.duration` with the attempt's four instruments, and a call span with
    /// its attempt span under it. One future and body wrapper per RPC instead of the two of a
    /// [`CallMetricsLayer`] over this layer. Do not put it under a retry layer (each retry
    /// would count as a call) or under a `CallMetricsLayer` (calls would count twice).
    ///
    /// [`CallMetricsLayer`]: super::CallMetricsLayer
    pub fn with_call(telemetry: &Telemetry, target: impl Into<String>) -> Self {
        Self {
            with_call: true,
            ..Self::new(telemetry, target)
        }
    }

    /// The same layer with its response bodies boxed as `tonic::body::Body` (for stacks that
    /// erase their body type): boxed in the layer's future, with no `map_response` around it.
    pub fn boxed(self) -> AttemptMetricsLayer<Boxed> {
        AttemptMetricsLayer {
            state: self.state,
            with_call: self.with_call,
            wrap: PhantomData,
        }
    }
}

impl<S, W> Layer<S> for AttemptMetricsLayer<W> {
    type Service = AttemptMetrics<S, W>;

    fn layer(&self, inner: S) -> Self::Service {
        AttemptMetrics {
            inner,
            state: self.state.clone(),
            with_call: self.with_call,
            wrap: PhantomData,
        }
    }
}

impl<S, B, RB, W> Service<Request<B>> for AttemptMetrics<S, W>
where
    S: Service<Request<tonic::body::Body>, Response = Response<RB>>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    W: WrapBody<RB, AttemptFinish>,
{
    type Response = Response<W::Body>;
    type Error = S::Error;
    type Future = body::ResponseFuture<S::Future, AttemptFinish, W>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let Some(state) = &self.state else {
            let req = req.map(tonic::body::Body::new);
            return body::ResponseFuture::new(self.inner.call(req), None);
        };
        let t = &state.telemetry;
        let offer = handoff::take();
        let start = offer.as_ref().map_or_else(clock::now, |o| o.start);
        let entry = offer
            .and_then(|o| o.entry_for(state))
            .unwrap_or_else(|| state.entry(req.uri().path()));
        entry.start_attempt();
        let call_span = (self.with_call && t.spans.is_some())
            .then(|| spans::call(&entry.method))
            .flatten();
        let span = t.spans.is_some().then(|| {
            let parent = call_span
                .as_ref()
                .or_else(|| req.extensions().get::<CallSpan>().map(|c| &c.0));
            let info = req.extensions().get::<AttemptInfo>().copied();
            spans::attempt(&entry.method, parent, info.unwrap_or_default())
        });
        let span = span.flatten().map(|span| {
            let cx = span.context();
            propagation::inject(t.propagator.as_ref(), &cx, req.headers_mut());
            Box::new(span)
        });
        let lb = t.optional.any().then(|| {
            let slot = LbLabelSlot::default();
            req.extensions_mut().insert(slot.clone());
            (slot, t.optional)
        });
        let sent = SharedCount::new();
        let counted = sent.clone();
        let req = req.map(|b| body::counted(b, counted));
        let finish = AttemptFinish {
            entry,
            start,
            sent,
            lb,
            span,
            call: self.with_call.then(|| call_span.map(Box::new)),
        };
        body::ResponseFuture::new(self.inner.call(req), Some(finish))
    }
}

impl Finish for AttemptFinish {
    fn wants_message(&self) -> bool {
        self.span.is_some() || matches!(self.call, Some(Some(_)))
    }

    fn finish(self, outcome: Outcome) {
        let secs = outcome.end.duration_since(self.start).as_secs_f64();
        let sent = self.sent.get();
        let rcvd = outcome.response_bytes;
        let lb = match &self.lb {
            Some((slot, on)) => slot.get().map(|l| on.attributes(l)).unwrap_or_default(),
            None => Vec::new(),
        };
        self.entry
            .record_attempt(outcome.code, secs, sent, rcvd, &lb);
        if let Some(span) = &self.span {
            spans::end(span, &outcome);
        }
        if let Some(call_span) = &self.call {
            self.entry.record_call(outcome.code, secs);
            if let Some(span) = call_span {
                spans::end(span, &outcome);
            }
        }
    }
}
