//! The deadline layer (DESIGN.md per-RPC order: route → fault → **deadline** → retry), gRFC A31.
//!
//! Fixes the call's effective deadline once, right after routing: the application's
//! `grpc-timeout`, capped by the route's stream duration (`grpc_timeout_header_max`, else
//! `max_stream_duration`, else the listener's HCM default; zero = no cap). The deadline then
//! spans everything below it: waiting for a ready endpoint, every attempt, retry backoff, and the
//! response body. At the deadline the call ends with `DEADLINE_EXCEEDED`: before the response
//! headers the pending call is dropped (which resets the HTTP/2 stream); after them the body ends
//! with `grpc-status: 4` trailers ([`DeadlineBody`]). A failure that arrives once the deadline
//! has passed (the server's own timer, which tonic reports as CANCELLED) is reported as
//! `DEADLINE_EXCEEDED` too. Each attempt tells the server the time left
//! in `grpc-timeout` (the send layer writes it). Not here: `RouteAction.timeout`,
//! `grpc_timeout_header_offset` and per-try timeouts, which gRPC does not support.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::{Instant, Sleep};
use tonic::body::Body;
use tower::{Layer, Service};

use super::body::grpc_status;
use super::core::ChannelCore;
use super::deadline::CallBound;
use super::error::RpcError;
use super::route::Routed;

/// Adds [`Deadline`] in front of a service.
#[derive(Clone, Debug)]
pub(crate) struct DeadlineLayer {
    core: Arc<ChannelCore>,
}

/// Enforces each call's effective deadline; see the module docs.
#[derive(Clone, Debug)]
pub(crate) struct Deadline<S> {
    core: Arc<ChannelCore>,
    inner: S,
}

impl DeadlineLayer {
    pub(crate) fn new(core: Arc<ChannelCore>) -> Self {
        DeadlineLayer { core }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline {
            core: self.core.clone(),
            inner,
        }
    }
}

impl<S> Service<Request<Body>> for Deadline<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = RpcError> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Response<Body>;
    type Error = RpcError;
    type Future = BoxFuture<'static, Result<Response<Body>, RpcError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), RpcError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let mut bound = match request.extensions().get::<CallBound>() {
            Some(bound) => *bound,
            None => CallBound::new(request.headers(), self.core.options.queue_timeout),
        };
        bound.cap(
            request
                .extensions()
                .get::<Routed>()
                .and_then(|r| r.stream_cap),
        );
        request.extensions_mut().insert(bound);
        let Some(deadline) = bound.deadline() else {
            return Box::pin(inner.call(request));
        };
        let target = self.core.target.clone();
        let call = inner.call(request);
        Box::pin(async move {
            let late = || Instant::now() >= deadline;
            match tokio::time::timeout_at(deadline, call).await {
                // A failure that lands once the deadline passed is the deadline's doing, whatever
                // the server's timer called it (tonic servers answer CANCELLED).
                Ok(Ok(response)) if failed_trailers_only(&response) && late() => {
                    Err(bound.exceeded(&target, "waiting for the response".into()))
                }
                Ok(Ok(response)) => {
                    Ok(response.map(|body| Body::new(DeadlineBody::new(body, deadline))))
                }
                Ok(Err(error)) if late() => {
                    tracing::debug!(%error, "attempt failed at the call deadline");
                    Err(bound.exceeded(&target, "waiting for the response".into()))
                }
                Ok(Err(error)) => Err(error),
                Err(_) => Err(bound.exceeded(&target, "waiting for the response".into())),
            }
        })
    }
}

/// Whether `response` is Trailers-Only with a non-OK status.
fn failed_trailers_only(response: &Response<Body>) -> bool {
    grpc_status(response.headers()).is_some_and(|code| code != tonic::Code::Ok)
}

/// A response body that ends with `DEADLINE_EXCEEDED` trailers when the call deadline passes
/// before the server finished; the stream to the server is dropped (reset) at that moment.
pub(crate) struct DeadlineBody {
    inner: Option<Body>,
    timer: Pin<Box<Sleep>>,
}

impl DeadlineBody {
    pub(crate) fn new(inner: Body, deadline: Instant) -> Self {
        DeadlineBody {
            inner: Some(inner),
            timer: Box::pin(tokio::time::sleep_until(deadline)),
        }
    }
}

/// The trailers of a call the client gave up on at its deadline.
fn deadline_trailers() -> HeaderMap {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("4"));
    trailers.insert(
        "grpc-message",
        HeaderValue::from_static("deadline exceeded while receiving the response (client-side)"),
    );
    trailers
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        if let Poll::Ready(frame) = Pin::new(inner).poll_frame(cx) {
            if frame.is_none() {
                this.inner = None;
            }
            return Poll::Ready(frame);
        }
        if this.timer.as_mut().poll(cx).is_ready() {
            this.inner = None;
            return Poll::Ready(Some(Ok(Frame::trailers(deadline_trailers()))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http_body_util::BodyExt;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_body_still_open_at_the_deadline_ends_with_deadline_exceeded() {
        let pending = futures::stream::pending::<Result<Frame<Bytes>, tonic::Status>>();
        let body = Body::new(http_body_util::StreamBody::new(pending));
        let started = Instant::now();
        let mut body = DeadlineBody::new(body, started + Duration::from_millis(300));
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(started.elapsed(), Duration::from_millis(300));
        let trailers = frame.into_trailers().unwrap();
        assert_eq!(trailers["grpc-status"], "4");
        assert!(body.frame().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_ends_in_time_is_passed_through() {
        let body = Body::new(http_body_util::Full::new(Bytes::from_static(b"hi")));
        let mut body = DeadlineBody::new(body, Instant::now() + Duration::from_secs(1));
        let data = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&data[..], b"hi");
        assert!(body.frame().await.is_none());
    }
}
