//! The floor of per-RPC observation from a tower layer: what any client layer has to do to
//! learn an attempt's A66 values, and nothing more. It reads the clock when the call starts,
//! counts the request body's bytes (a shared counter, since hyper polls the body on its own
//! task), wraps the response future and body, counts response bytes, finds `grpc-status` in
//! the trailers (a scan of the few trailer entries, no hashing) and reads the clock at the end. It records nothing: the values go to
//! `black_box`. Measured against telemetry off, it bounds from below what Meshwork's client
//! layers can cost per RPC on this transport (tonic 0.14 has no per-RPC stats hooks of its own).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::{Buf, Bytes};
use http::header::HeaderName;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");

/// Layer of [`Floor`]; `FloorLayer(false)` passes calls through untouched (the off arm).
#[derive(Clone, Copy, Debug, Default)]
pub struct FloorLayer(pub bool);

/// See the module docs.
#[derive(Clone, Debug)]
pub struct Floor<S> {
    inner: S,
    on: bool,
}

impl<S> Layer<S> for FloorLayer {
    type Service = Floor<S>;
    fn layer(&self, inner: S) -> Floor<S> {
        Floor { inner, on: self.0 }
    }
}

impl<S, RB> Service<Request<tonic::body::Body>> for Floor<S>
where
    S: Service<Request<tonic::body::Body>, Response = Response<RB>>,
{
    type Response = Response<Counted<RB>>;
    type Error = S::Error;
    type Future = Watched<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<tonic::body::Body>) -> Self::Future {
        if !self.on {
            return Watched {
                inner: self.inner.call(req),
                state: None,
            };
        }
        let start = Instant::now();
        let sent = Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        let req = req.map(|b| {
            tonic::body::Body::new(SentBody {
                inner: b,
                sent: counter,
            })
        });
        Watched {
            inner: self.inner.call(req),
            state: Some((start, sent)),
        }
    }
}

pin_project! {
    /// Counts request bytes.
    pub struct SentBody {
        #[pin]
        inner: tonic::body::Body,
        sent: Arc<AtomicU64>,
    }
}

impl Body for SentBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if let Some(Ok(Some(d))) = frame.as_ref().map(|f| f.as_ref().map(Frame::data_ref)) {
            this.sent.fetch_add(d.remaining() as u64, Ordering::Relaxed);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pin_project! {
    /// The response future.
    pub struct Watched<F> {
        #[pin]
        inner: F,
        state: Option<(Instant, Arc<AtomicU64>)>,
    }
}

impl<F, RB, E> Future for Watched<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
{
    type Output = Result<Response<Counted<RB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        let state = this.state.take();
        Poll::Ready(Ok(response.map(|inner| Counted {
            inner,
            state,
            rcvd: 0,
        })))
    }
}

pin_project! {
    /// Counts response bytes and reads the status from the trailers.
    pub struct Counted<B> {
        #[pin]
        inner: B,
        state: Option<(Instant, Arc<AtomicU64>)>,
        rcvd: u64,
    }
}

impl<B: Body<Data = Bytes>> Body for Counted<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        match &frame {
            Some(Ok(f)) => {
                if let Some(d) = f.data_ref() {
                    *this.rcvd += d.len() as u64;
                } else if let (Some(t), Some((start, sent))) = (f.trailers_ref(), this.state.take())
                {
                    let code = t
                        .iter()
                        .find(|(name, _)| *name == GRPC_STATUS)
                        .map(|(_, v)| v.as_bytes().first().copied());
                    let secs = start.elapsed().as_secs_f64();
                    std::hint::black_box((code, secs, sent.load(Ordering::Relaxed), *this.rcvd));
                }
            }
            _ => {
                if let Some((start, _)) = this.state.take() {
                    std::hint::black_box(start.elapsed());
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
