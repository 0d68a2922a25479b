//! Backend load reports (ORCA, gRFC A51): per-call reports a server attaches to its response
//! trailers and a client reads for weighted round robin (gRFC A58).
//!
//! Wire format: the `endpoint-load-metrics-bin` trailer holds a serialized
//! `xds.data.orca.v3.OrcaLoadReport` (binary metadata, base64 on the wire). Servers add
//! [`OrcaLayer`] and record through the [`CallMetricRecorder`] found in each request's
//! extensions; the layer attaches what the handler recorded to that call's trailers (nothing
//! when it recorded nothing). A Meshwork channel reads the trailer of every response and feeds
//! the endpoint's weight (`qps` = `rps_fractional`, `eps`, utilization =
//! `application_utilization` when positive, else `cpu_utilization`), which the
//! `client_side_weighted_round_robin` policy turns into pick weights. Out-of-band reporting (the
//! ORCA streaming service) is not implemented.
//!
//! ```
//! use meshwork::orca::{CallMetricRecorder, OrcaLayer};
//! # fn handler(req: &http::Request<()>) {
//! if let Some(recorder) = req.extensions().get::<CallMetricRecorder>() {
//!     recorder.record_application_utilization(0.42);
//!     recorder.record_rps_fractional(120.0);
//! }
//! # }
//! // tonic::transport::Server::builder().layer(OrcaLayer::new()).add_service(...)
//! # let _ = OrcaLayer::new();
//! ```

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tonic::metadata::{BinaryMetadataValue, MetadataMap};
use tower_layer::Layer;
use tower_service::Service;

/// The trailer carrying a per-call load report.
pub const LOAD_REPORT_TRAILER: &str = "endpoint-load-metrics-bin";

/// `xds.data.orca.v3.OrcaLoadReport` (field numbers from cncf/xds).
#[derive(Clone, PartialEq, prost::Message)]
pub struct OrcaLoadReport {
    /// CPU utilization as a fraction of the available CPU (may exceed 1).
    #[prost(double, tag = "1")]
    pub cpu_utilization: f64,
    /// Memory utilization as a fraction of the available memory.
    #[prost(double, tag = "2")]
    pub mem_utilization: f64,
    /// Deprecated integer RPS; use `rps_fractional`.
    #[prost(uint64, tag = "3")]
    pub rps: u64,
    /// Application-specific costs of this request.
    #[prost(map = "string, double", tag = "4")]
    pub request_cost: HashMap<String, f64>,
    /// Resource utilizations, each a fraction of the resource.
    #[prost(map = "string, double", tag = "5")]
    pub utilization: HashMap<String, f64>,
    /// Requests per second the endpoint serves.
    #[prost(double, tag = "6")]
    pub rps_fractional: f64,
    /// Errors per second the endpoint serves.
    #[prost(double, tag = "7")]
    pub eps: f64,
    /// Application-specific opaque metrics.
    #[prost(map = "string, double", tag = "8")]
    pub named_metrics: HashMap<String, f64>,
    /// Application-defined utilization (may exceed 1); preferred over CPU by A58.
    #[prost(double, tag = "9")]
    pub application_utilization: f64,
}

impl OrcaLoadReport {
    /// The load report in `trailers`, if any. A report that is not valid base64 or protobuf is
    /// ignored (`None`): a bad report must not fail the call it rode on.
    pub fn from_trailers(trailers: &HeaderMap) -> Option<Self> {
        Self::from_value(trailers.get(LOAD_REPORT_TRAILER)?)
    }

    /// The load report in a value of the load report trailer (`None` when garbled, as above).
    pub fn from_value(value: &HeaderValue) -> Option<Self> {
        let mut one = HeaderMap::with_capacity(1);
        one.insert(LOAD_REPORT_TRAILER, value.clone());
        let bytes = MetadataMap::from_headers(one)
            .get_bin(LOAD_REPORT_TRAILER)?
            .to_bytes()
            .ok()?;
        prost::Message::decode(bytes).ok()
    }

    /// Adds this report to `trailers` as the load report trailer (replacing one already there).
    pub fn add_to(&self, trailers: &mut HeaderMap) {
        let encoded = prost::Message::encode_to_vec(self);
        let mut map = MetadataMap::with_capacity(1);
        map.insert_bin(
            LOAD_REPORT_TRAILER,
            BinaryMetadataValue::from_bytes(&encoded),
        );
        for (name, value) in map.into_headers() {
            if let Some(name) = name {
                trailers.insert(name, value);
            }
        }
    }
}

/// What a handler records for its call's load report (gRFC A51's call metric recorder). Cheap
/// to clone; every clone records into the same report.
#[derive(Clone, Debug, Default)]
pub struct CallMetricRecorder(Arc<Mutex<Option<OrcaLoadReport>>>);

impl CallMetricRecorder {
    fn with(&self, f: impl FnOnce(&mut OrcaLoadReport)) {
        let mut report = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f(report.get_or_insert_with(OrcaLoadReport::default));
    }

    /// Records CPU utilization (fraction of available CPU; negative values are ignored).
    pub fn record_cpu_utilization(&self, value: f64) {
        if value >= 0.0 {
            self.with(|r| r.cpu_utilization = value);
        }
    }

    /// Records memory utilization (0..=1; other values are ignored).
    pub fn record_memory_utilization(&self, value: f64) {
        if (0.0..=1.0).contains(&value) {
            self.with(|r| r.mem_utilization = value);
        }
    }

    /// Records application utilization (negative values are ignored).
    pub fn record_application_utilization(&self, value: f64) {
        if value >= 0.0 {
            self.with(|r| r.application_utilization = value);
        }
    }

    /// Records the endpoint's requests per second (negative values are ignored).
    pub fn record_rps_fractional(&self, value: f64) {
        if value >= 0.0 {
            self.with(|r| r.rps_fractional = value);
        }
    }

    /// Records the endpoint's errors per second (negative values are ignored).
    pub fn record_eps(&self, value: f64) {
        if value >= 0.0 {
            self.with(|r| r.eps = value);
        }
    }

    /// Records a utilization by name (0..=1; other values are ignored).
    pub fn record_utilization(&self, name: impl Into<String>, value: f64) {
        if (0.0..=1.0).contains(&value) {
            self.with(|r| {
                r.utilization.insert(name.into(), value);
            });
        }
    }

    /// Records a request cost by name.
    pub fn record_request_cost(&self, name: impl Into<String>, value: f64) {
        self.with(|r| {
            r.request_cost.insert(name.into(), value);
        });
    }

    /// Records an application-specific metric by name.
    pub fn record_named_metric(&self, name: impl Into<String>, value: f64) {
        self.with(|r| {
            r.named_metrics.insert(name.into(), value);
        });
    }

    /// What has been recorded so far (`None`: nothing).
    pub fn report(&self) -> Option<OrcaLoadReport> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Server layer: gives every call a [`CallMetricRecorder`] (request extension) and sends what
/// the handler recorded in the call's trailers.
#[derive(Clone, Copy, Debug, Default)]
pub struct OrcaLayer;

impl OrcaLayer {
    /// The layer.
    pub fn new() -> Self {
        OrcaLayer
    }
}

impl<S> Layer<S> for OrcaLayer {
    type Service = Orca<S>;

    fn layer(&self, inner: S) -> Orca<S> {
        Orca { inner }
    }
}

/// The service made by [`OrcaLayer`].
#[derive(Clone, Debug)]
pub struct Orca<S> {
    inner: S,
}

impl<S, B, RB> Service<Request<B>> for Orca<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
{
    type Response = Response<ReportBody<RB>>;
    type Error = S::Error;
    type Future = ReportFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let recorder = CallMetricRecorder::default();
        request.extensions_mut().insert(recorder.clone());
        ReportFuture {
            inner: self.inner.call(request),
            recorder: Some(recorder),
        }
    }
}

pin_project! {
    /// The response future of [`Orca`].
    pub struct ReportFuture<F> {
        #[pin]
        inner: F,
        recorder: Option<CallMetricRecorder>,
    }
}

impl<F, RB, E> std::future::Future for ReportFuture<F>
where
    F: std::future::Future<Output = Result<Response<RB>, E>>,
{
    type Output = Result<Response<ReportBody<RB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        let recorder = this.recorder.take();
        Poll::Ready(Ok(response.map(|inner| ReportBody { inner, recorder })))
    }
}

pin_project! {
    /// A response body that adds the call's load report to its trailers.
    pub struct ReportBody<B> {
        #[pin]
        inner: B,
        recorder: Option<CallMetricRecorder>,
    }
}

impl<B> Body for ReportBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        let Some(Ok(frame)) = frame else {
            return Poll::Ready(frame);
        };
        let frame = match frame.into_trailers() {
            Ok(mut trailers) => {
                if let Some(report) = this.recorder.take().and_then(|r| r.report()) {
                    report.add_to(&mut trailers);
                }
                Frame::trailers(trailers)
            }
            Err(frame) => frame,
        };
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_survives_the_trailer_round_trip() {
        let recorder = CallMetricRecorder::default();
        assert!(recorder.report().is_none(), "nothing recorded yet");
        recorder.record_cpu_utilization(0.25);
        recorder.record_application_utilization(0.5);
        recorder.record_rps_fractional(100.0);
        recorder.record_eps(2.0);
        recorder.record_named_metric("queue", 7.0);
        recorder.record_memory_utilization(1.5); // out of range: ignored
        let report = recorder.report().expect("recorded");
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        report.add_to(&mut trailers);
        assert_eq!(
            OrcaLoadReport::from_trailers(&trailers),
            Some(report.clone())
        );
        assert_eq!(report.mem_utilization, 0.0);
        assert_eq!(report.named_metrics.get("queue"), Some(&7.0));
    }

    #[test]
    fn a_garbled_report_is_ignored() {
        let mut trailers = HeaderMap::new();
        assert_eq!(OrcaLoadReport::from_trailers(&trailers), None);
        trailers.insert(LOAD_REPORT_TRAILER, http::HeaderValue::from_static("!!!"));
        assert_eq!(OrcaLoadReport::from_trailers(&trailers), None);
        // Valid base64 of bytes that are not a valid message (truncated field).
        trailers.insert(LOAD_REPORT_TRAILER, http::HeaderValue::from_static("CQ"));
        assert_eq!(OrcaLoadReport::from_trailers(&trailers), None);
    }
}
