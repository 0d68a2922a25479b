//! The innermost service of the per-RPC stack (DESIGN.md data flow: "endpoint connection"):
//! sends the request on the picked endpoint's HTTP/2 connection, counts it in flight
//! ([`OwnedInFlight`]) and folds its round-trip time into the endpoint's peak-EWMA when the
//! response body ends (see `body`). A transport failure that shows the connection is gone is
//! reported to the connection so the endpoint leaves READY and pickers stop choosing it until
//! it reconnects; the RPC fails `UNAVAILABLE`.
//!
//! Each attempt carries the time left before the call deadline as `grpc-timeout` (gRFC A31).
//! Transport failures are classified for the retry layer (gRFC A6 transparent retries): a
//! request hyper hands back unsent is [`RpcError::NotSent`]; a stream the server's HTTP/2 layer
//! refused (REFUSED_STREAM) is [`RpcError::Refused`]; anything else may have reached the server
//! and is [`RpcError::Transport`]. The attempt's final status (Trailers-Only headers, trailers,
//! or UNAVAILABLE on a transport error) is counted for outlier detection (gRFC A50).

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use std::error::Error as _;
use std::sync::Arc;

use http::uri::{Authority, Scheme, Uri};
use http::{HeaderValue, Request, Response};
use tonic::Code;
use tonic::body::Body;
use tower::Service;

use super::body::{Tracked, Tracker, grpc_status};
use super::deadline::{CallBound, encode_grpc_timeout};
use super::error::RpcError;
use super::pick::Picked;
use crate::balancer::{Clock, OwnedInFlight};

/// Sends picked RPCs; see the module docs.
#[derive(Clone, Debug)]
pub(crate) struct SendToEndpoint {
    clock: Clock,
}

impl SendToEndpoint {
    pub(crate) fn new(clock: Clock) -> Self {
        SendToEndpoint { clock }
    }
}

impl Service<Request<Body>> for SendToEndpoint {
    type Response = Response<Body>;
    type Error = RpcError;
    type Future = BoxFuture<'static, Result<Response<Body>, RpcError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), RpcError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let Some(picked) = request.extensions_mut().remove::<Picked>() else {
            return Box::pin(async {
                Err(RpcError::Internal("the send layer ran without a pick"))
            });
        };
        let address = picked.endpoint.address();
        if request.uri().authority().is_none()
            && let Ok(authority) = Authority::try_from(address.to_string())
        {
            set_origin(&mut request, authority);
        }
        if let Some(deadline) = request
            .extensions()
            .get::<CallBound>()
            .and_then(CallBound::deadline)
        {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if let Ok(value) = HeaderValue::from_str(&encode_grpc_timeout(left)) {
                request.headers_mut().insert("grpc-timeout", value);
            }
        }
        let in_flight = OwnedInFlight::new(picked.endpoint.clone());
        let started = self.clock.now_nanos();
        let mut sender = picked.sender;
        let sent = sender.try_send_request(request);
        let tracker = Tracker::new(in_flight, started, self.clock.clone(), picked.decay)
            .with_outcome(picked.guard, picked.counter);
        let connection = picked.connection;
        Box::pin(async move {
            match sent.await {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    let body = if http_body::Body::is_end_stream(&body) {
                        // Trailers-Only: the status is in the headers and the RPC is over.
                        tracker.finish(grpc_status(&parts.headers).unwrap_or(Code::Unknown));
                        Body::new(body)
                    } else {
                        Body::new(Tracked::new(body, tracker))
                    };
                    Ok(Response::from_parts(parts, body))
                }
                Err(mut error) => {
                    let unsent = error.take_message().is_some();
                    let error = error.into_error();
                    if error.is_closed() || error.is_canceled() || sender.is_closed() {
                        connection.report_broken();
                    }
                    tracker.finish(Code::Unavailable);
                    let message: Arc<str> = error.to_string().into();
                    Err(if unsent {
                        RpcError::NotSent { address, message }
                    } else if refused(&error) {
                        RpcError::Refused { address, message }
                    } else {
                        RpcError::Transport { address, message }
                    })
                }
            }
        })
    }
}

/// Whether the server's HTTP/2 layer refused the stream (REFUSED_STREAM): the application never
/// saw it.
fn refused(error: &hyper::Error) -> bool {
    let mut source = error.source();
    while let Some(current) = source {
        if let Some(h2) = current.downcast_ref::<h2::Error>() {
            return h2.reason() == Some(h2::Reason::REFUSED_STREAM);
        }
        source = current.source();
    }
    false
}

/// Makes the request URI absolute (`http://authority/path`), as HTTP/2 requires.
pub(crate) fn set_origin(request: &mut Request<Body>, authority: Authority) {
    let mut parts = request.uri().clone().into_parts();
    parts.scheme = Some(Scheme::HTTP);
    parts.authority = Some(authority);
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    if let Ok(uri) = Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
}
