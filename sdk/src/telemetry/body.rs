//! Body and future wrappers shared by the telemetry layers: they watch an RPC to its end.
//!
//! [`RequestBody`] counts the message bytes a request body yields. [`ResponseFuture`] sees the
//! response head (or the transport error), and [`ResponseBody`] counts response message bytes and
//! reads the final status from the trailers. Whatever ends the RPC first (trailers, end of body,
//! body error, the body dropped early) reports one [`Outcome`] to the layer's [`Finish`], exactly
//! once. Status rules (gRFC A66, PROTOCOL-HTTP2.md): trailers' `grpc-status`, or trailers-only
//! headers; transport or body errors are `UNAVAILABLE`; a body dropped before its end is
//! `CANCELLED`. These wrappers do not record metrics themselves.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::Response;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt as _;
use pin_project_lite::pin_project;
use tokio::time::Instant;
use tonic::{Code, Status};

use super::attempt::BoxError;
use super::clock::{self, EndScope};
use super::counter::SharedCount;
use super::framing::FrameCounter;
use super::status;

/// How an RPC (call or attempt) ended, as seen by a telemetry layer.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The final status.
    pub code: Code,
    /// `grpc-message`, or a description of the transport failure.
    pub message: Option<String>,
    /// Compressed message bytes in the response body (received by a client, sent by a server).
    pub response_bytes: u64,
    /// When the RPC ended (one reading shared by the layers that saw the same end; see `clock`).
    pub end: Instant,
}

/// What a layer does when an RPC ends: record metrics, end spans.
pub trait Finish: Send + 'static {
    /// Sees the response head before the body streams (e.g. to read extensions).
    fn on_response<B>(&mut self, _response: &Response<B>) {}
    /// Whether [`Outcome::message`] is wanted (it costs a header lookup and a copy); when
    /// `false` the outcome carries `None`.
    fn wants_message(&self) -> bool {
        true
    }
    /// Whether [`Outcome::response_bytes`] is wanted. A layer that records no sizes (the call
    /// layer) sets `false`: its body then skips parsing the message framing (0 bytes reported).
    const COUNTS_BYTES: bool = true;
    /// Called exactly once, when the RPC ends.
    fn finish(self, outcome: Outcome);
}

/// Watches a response to its end; reports on drop if nothing ended it before.
struct Watch<F: Finish> {
    finish: Option<F>,
    frames: FrameCounter,
    /// Status already known from the response head (trailers-only or HTTP error).
    head: Option<Code>,
    head_message: Option<Box<str>>,
}

impl<F: Finish> Watch<F> {
    fn new(finish: F) -> Self {
        Self {
            finish: Some(finish),
            frames: FrameCounter::new(),
            head: None,
            head_message: None,
        }
    }

    /// Reports the end once; `message` and `end` are only evaluated the first time.
    fn end(
        &mut self,
        code: Code,
        message: impl FnOnce() -> Option<String>,
        end: impl FnOnce() -> Instant,
    ) {
        if let Some(f) = self.finish.take() {
            let message = if f.wants_message() { message() } else { None };
            f.finish(Outcome {
                code,
                message,
                response_bytes: self.frames.total(),
                end: end(),
            });
        }
    }

    fn wants_message(&self) -> bool {
        self.finish.as_ref().is_some_and(F::wants_message)
    }
}

impl<F: Finish> Drop for Watch<F> {
    fn drop(&mut self) {
        let code = self.head.unwrap_or(Code::Cancelled);
        let message = self.head_message.take();
        self.end(code, || message.map(String::from), clock::now);
    }
}

pin_project! {
    /// A response body that counts message bytes and reports the RPC's end to a [`Finish`].
    pub struct ResponseBody<B, F: Finish> {
        #[pin]
        inner: B,
        watch: Option<Watch<F>>,
    }
}

impl<B, F: Finish> ResponseBody<B, F> {
    /// A body that only forwards (telemetry disabled).
    pub(crate) fn passthrough(inner: B) -> Self {
        Self { inner, watch: None }
    }
}

impl<B, F> Body for ResponseBody<B, F>
where
    B: Body<Data = Bytes>,
    F: Finish,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let Some(watch) = this.watch.as_mut() else {
            return this.inner.poll_frame(cx);
        };
        let scope = EndScope::open();
        let polled = ready!(this.inner.poll_frame(cx));
        match &polled {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    if F::COUNTS_BYTES {
                        watch.frames.feed(data);
                    }
                } else if let Some(trailers) = frame.trailers_ref() {
                    let code = status::from_trailers(Some(trailers));
                    watch.end(code, || status::message(trailers), || scope.end());
                }
            }
            Some(Err(_)) => watch.end(
                Code::Unavailable,
                || Some("response body failed".into()),
                || scope.end(),
            ),
            None => {
                let code = watch.head.unwrap_or_else(|| status::from_trailers(None));
                let message = watch.head_message.take();
                watch.end(code, || message.map(String::from), || scope.end());
            }
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pin_project! {
    /// A request body that adds the message bytes it yields to a shared counter.
    pub struct RequestBody<B> {
        #[pin]
        inner: B,
        frames: FrameCounter,
        total: SharedCount,
    }
}

impl<B> RequestBody<B> {
    pub(crate) fn new(inner: B, total: SharedCount) -> Self {
        Self {
            inner,
            frames: FrameCounter::new(),
            total,
        }
    }
}

/// `body` as the `tonic::body::Body` an inner service takes, counting its message bytes into
/// `total`. Boxed once, here, as tonic's own box type: tonic then neither re-boxes it nor wraps
/// it to map errors.
pub(crate) fn counted<B>(body: B, total: SharedCount) -> tonic::body::Body
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    tonic::body::Body::new(RequestBody::new(body, total).boxed_unsync())
}

impl<B> Body for RequestBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    /// tonic's body error (a `Status` found in the error's source chain, else `UNKNOWN`).
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = ready!(this.inner.poll_frame(cx));
        Poll::Ready(polled.map(|frame| match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    let n = this.frames.feed(data);
                    this.total.add(n);
                }
                Ok(frame)
            }
            Err(e) => Err(Status::from_error(e.into())),
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// How a telemetry layer hands its watched response body on: as is ([`Plain`], the default)
/// or boxed as `tonic::body::Body` ([`Boxed`]).
pub trait WrapBody<B, F: Finish> {
    /// The response body the layer's service returns.
    type Body;
    /// Wraps the watched body.
    fn wrap(body: ResponseBody<B, F>) -> Self::Body;
}

/// The watched body as is: `ResponseBody<B, F>`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plain;

/// The watched body boxed once as `tonic::body::Body` (what stacks that erase their body type
/// need), in the layer's own future: no extra `map_response` future or response move.
#[derive(Debug, Clone, Copy, Default)]
pub struct Boxed;

impl<B, F: Finish> WrapBody<B, F> for Plain {
    type Body = ResponseBody<B, F>;
    fn wrap(body: ResponseBody<B, F>) -> Self::Body {
        body
    }
}

impl<B, F> WrapBody<B, F> for Boxed
where
    B: Body<Data = Bytes, Error = Status> + Send + 'static,
    F: Finish,
{
    type Body = tonic::body::Body;
    fn wrap(body: ResponseBody<B, F>) -> tonic::body::Body {
        tonic::body::Body::new(body.boxed_unsync())
    }
}

pin_project! {
    /// The future of a telemetry layer: resolves to the response with its body watched (and
    /// wrapped by `W`, see [`WrapBody`]). Dropped before the response head arrives, it reports
    /// `CANCELLED`.
    pub struct ResponseFuture<Fut, F: Finish, W = Plain> {
        #[pin]
        inner: Fut,
        watch: Option<Watch<F>>,
        wrap: std::marker::PhantomData<fn() -> W>,
    }
}

impl<Fut, F: Finish, W> ResponseFuture<Fut, F, W> {
    pub(crate) fn new(inner: Fut, finish: Option<F>) -> Self {
        Self {
            inner,
            watch: finish.map(Watch::new),
            wrap: std::marker::PhantomData,
        }
    }
}

impl<Fut, B, E, F, W> Future for ResponseFuture<Fut, F, W>
where
    Fut: Future<Output = Result<Response<B>, E>>,
    F: Finish,
    W: WrapBody<B, F>,
{
    type Output = Result<Response<W::Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let Some(mut watch) = this.watch.take() else {
            return Poll::Ready(result.map(|r| r.map(|b| W::wrap(ResponseBody::passthrough(b)))));
        };
        match result {
            Ok(response) => {
                if let Some(f) = watch.finish.as_mut() {
                    f.on_response(&response);
                }
                watch.head = status::from_response_head(response.status(), response.headers());
                if watch.head.is_some() && watch.wants_message() {
                    watch.head_message = status::message(response.headers()).map(Box::from);
                }
                Poll::Ready(Ok(response.map(|inner| {
                    W::wrap(ResponseBody {
                        inner,
                        watch: Some(watch),
                    })
                })))
            }
            Err(e) => {
                watch.end(
                    Code::Unavailable,
                    || Some("transport error".into()),
                    clock::now,
                );
                Poll::Ready(Err(e))
            }
        }
    }
}
