//! A response body that ends the RPC's in-flight count and records its latency when it finishes.
//!
//! gRPC responses end with trailers, so "finished" is the body yielding its last frame (or an
//! error). The round trip recorded is from send to that moment, what Linkerd's peak-EWMA
//! measures for streams. A body dropped early (the caller cancelled) only ends the in-flight
//! count: a cancelled call says nothing about the endpoint's latency.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

use crate::balancer::{Clock, OwnedInFlight};

/// What to record when the body ends.
#[derive(Debug)]
pub(crate) struct Tracker {
    in_flight: OwnedInFlight,
    started: u64,
    clock: Clock,
    decay: Duration,
}

impl Tracker {
    pub(crate) fn new(
        in_flight: OwnedInFlight,
        started: u64,
        clock: Clock,
        decay: Duration,
    ) -> Self {
        Tracker {
            in_flight,
            started,
            clock,
            decay,
        }
    }

    /// Ends the request now, recording its round trip.
    pub(crate) fn finish(self) {
        let rtt = Duration::from_nanos(self.clock.now_nanos().saturating_sub(self.started));
        self.in_flight.finish(rtt, &self.clock, self.decay);
    }
}

/// A body wrapper; see the module docs.
#[derive(Debug)]
pub(crate) struct Tracked<B> {
    inner: B,
    tracker: Option<Tracker>,
}

impl<B> Tracked<B> {
    pub(crate) fn new(inner: B, tracker: Tracker) -> Self {
        Tracked {
            inner,
            tracker: Some(tracker),
        }
    }

    fn finish(&mut self) {
        if let Some(tracker) = self.tracker.take() {
            tracker.finish();
        }
    }
}

impl<B> HttpBody for Tracked<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &frame {
            None | Some(Err(_)) => self.finish(),
            Some(Ok(_)) if self.inner.is_end_stream() => self.finish(),
            Some(Ok(_)) => {}
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
