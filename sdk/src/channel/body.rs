//! A response body that ends the attempt's in-flight count, records its latency and its final
//! status when it finishes, and frees its circuit-breaker slot.
//!
//! gRPC responses end with trailers, so "finished" is the body yielding its last frame (or an
//! error). The round trip recorded is from send to that moment, what Linkerd's peak-EWMA
//! measures for streams; it is also counted, with whether the status was OK, in the endpoint's
//! admin statistics (`balancer::stats`). The final `grpc-status` (trailers, or an error frame as UNAVAILABLE)
//! feeds the endpoint's outlier-detection counter (gRFC A50: only the status matters). A body
//! dropped early (the caller cancelled) only ends the in-flight count and frees the breaker slot:
//! a cancelled call says nothing about the endpoint. A backend load report in the trailers (ORCA,
//! gRFC A51, see `crate::orca`) is recorded into the endpoint's weight for weighted round robin.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use std::sync::Arc;

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tonic::Code;

use crate::balancer::{Clock, LoadReport, OwnedInFlight};
use crate::health::outlier::CallCounter;
use crate::orca::{LOAD_REPORT_TRAILER, OrcaLoadReport};
use crate::resilience::RequestGuard;

/// What to record when the body ends.
#[derive(Debug)]
pub(crate) struct Tracker {
    in_flight: OwnedInFlight,
    started: u64,
    clock: Clock,
    decay: Duration,
    /// The circuit-breaker slot, freed when the tracker goes.
    guard: Option<Arc<RequestGuard>>,
    /// Where the final status is counted for outlier detection.
    counter: Option<Arc<CallCounter>>,
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
            guard: None,
            counter: None,
        }
    }

    /// Also holds the attempt's circuit-breaker slot and counts its final status.
    pub(crate) fn with_outcome(
        mut self,
        guard: Option<Arc<RequestGuard>>,
        counter: Option<Arc<CallCounter>>,
    ) -> Self {
        self.guard = guard;
        self.counter = counter;
        self
    }

    /// Ends the request with its trailers: their status, and their load report if any.
    pub(crate) fn finish_with_trailers(self, trailers: &HeaderMap) {
        if let Some(report) = trailers
            .get(LOAD_REPORT_TRAILER)
            .and_then(OrcaLoadReport::from_value)
        {
            let utilization = if report.application_utilization > 0.0 {
                report.application_utilization
            } else {
                report.cpu_utilization
            };
            let load = LoadReport {
                qps: report.rps_fractional,
                eps: report.eps,
                utilization,
            };
            self.in_flight
                .endpoint()
                .backend_weight()
                .record(load, self.clock.now_nanos());
        }
        self.finish(grpc_status(trailers).unwrap_or(Code::Unknown));
    }

    /// Ends the request now, recording its round trip and final status.
    pub(crate) fn finish(self, code: Code) {
        let rtt = Duration::from_nanos(self.clock.now_nanos().saturating_sub(self.started));
        self.in_flight
            .endpoint()
            .load()
            .stats()
            .record(rtt, code != Code::Ok);
        self.in_flight.finish(rtt, &self.clock, self.decay);
        if let Some(counter) = &self.counter {
            // A streak is picked up by the next sweep (the detector checks missed streaks).
            let _ = counter.record(code);
        }
    }
}

/// The `grpc-status` in `headers` (trailers, or the headers of a Trailers-Only response).
pub(crate) fn grpc_status(headers: &HeaderMap) -> Option<Code> {
    let value = headers.get("grpc-status")?.to_str().ok()?;
    value.parse::<i32>().ok().map(Code::from_i32)
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

    fn finish(&mut self, code: Code) {
        if let Some(tracker) = self.tracker.take() {
            tracker.finish(code);
        }
    }

    fn finish_with_trailers(&mut self, trailers: &HeaderMap) {
        if let Some(tracker) = self.tracker.take() {
            tracker.finish_with_trailers(trailers);
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
            // The stream ended without trailers: a protocol violation (gRPC says UNKNOWN).
            None => self.finish(Code::Unknown),
            Some(Err(_)) => self.finish(Code::Unavailable),
            Some(Ok(frame)) => {
                if let Some(trailers) = frame.trailers_ref() {
                    self.finish_with_trailers(trailers);
                } else if self.inner.is_end_stream() {
                    self.finish(Code::Unknown);
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
