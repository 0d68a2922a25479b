//! The innermost service of the per-RPC stack (DESIGN.md data flow: "endpoint connection"):
//! sends the request on the picked endpoint's HTTP/2 connection, counts it in flight
//! ([`OwnedInFlight`]) and folds its round-trip time into the endpoint's peak-EWMA when the
//! response body ends (see `body`). A transport failure that shows the connection is gone is
//! reported to the connection so the endpoint leaves READY and pickers stop choosing it until
//! it reconnects; the RPC fails `UNAVAILABLE`.

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::uri::{Authority, Scheme, Uri};
use http::{Request, Response};
use tonic::body::Body;
use tower::Service;

use super::body::{Tracked, Tracker};
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
        let in_flight = OwnedInFlight::new(picked.endpoint.clone());
        let started = self.clock.now_nanos();
        let mut sender = picked.sender;
        let sent = sender.send_request(request);
        let clock = self.clock.clone();
        let decay = picked.decay;
        let connection = picked.connection;
        Box::pin(async move {
            match sent.await {
                Ok(response) => {
                    let tracker = Tracker::new(in_flight, started, clock, decay);
                    Ok(response.map(|body| {
                        if http_body::Body::is_end_stream(&body) {
                            // Trailers-only: the RPC is over already.
                            tracker.finish();
                            Body::new(body)
                        } else {
                            Body::new(Tracked::new(body, tracker))
                        }
                    }))
                }
                Err(error) => {
                    if error.is_closed() || error.is_canceled() || sender.is_closed() {
                        connection.report_broken();
                    }
                    Err(RpcError::Transport {
                        address,
                        message: error.to_string().into(),
                    })
                }
            }
        })
    }
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
