//! The route layer, outermost of today's per-RPC stack (DESIGN.md data flow: "route match
//! (weighted cluster)"): matches the RPC's `:path` and metadata against the target's route table
//! (gRFC A28) and records the outcome — cluster, request hash (A42), the route's policies — as a
//! [`Routed`] request extension for the layers below.
//!
//! While the channel has no configuration yet the RPC waits (bounded); once the resolver gave up
//! it fails at once with the resolver's text. No matching route → `UNAVAILABLE` naming the
//! target and the path. Static channels route every RPC to their one cluster.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use http::request::Parts;
use http::{Request, Response};
use tonic::body::Body;
use tower::{Layer, Service};

use super::core::{ChannelCore, SharedRng};
use super::deadline::CallBound;
use super::error::RpcError;
use super::state::{RouteState, Routing};
use crate::route::{RequestInfo, RouteDecision};

/// The routing outcome of one RPC, for the layers below.
#[derive(Clone, Debug)]
pub(crate) struct Routed {
    /// The cluster to pick from.
    pub(crate) cluster: Arc<str>,
    /// The ring-hash request hash, if the route's hash policies produced one.
    pub(crate) hash: Option<u64>,
    /// The full decision (route policies for retry, timeout and fault layers); `None` on a
    /// static channel.
    pub(crate) decision: Option<RouteDecision>,
    /// The stream duration cap that applies (gRFC A31: the route's `grpc_timeout_header_max`,
    /// else its `max_stream_duration`, else the listener's); `None` = no cap.
    pub(crate) stream_cap: Option<Duration>,
}

/// Adds [`Route`] in front of a service.
#[derive(Clone, Debug)]
pub(crate) struct RouteLayer {
    core: Arc<ChannelCore>,
}

/// Routes each RPC; see the module docs.
#[derive(Clone, Debug)]
pub(crate) struct Route<S> {
    core: Arc<ChannelCore>,
    inner: S,
}

impl RouteLayer {
    pub(crate) fn new(core: Arc<ChannelCore>) -> Self {
        RouteLayer { core }
    }
}

impl<S> Layer<S> for RouteLayer {
    type Service = Route<S>;

    fn layer(&self, inner: S) -> Route<S> {
        Route {
            core: self.core.clone(),
            inner,
        }
    }
}

impl<S> Service<Request<Body>> for Route<S>
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

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let core = self.core.clone();
        // The clone takes this service's place; the instance that was made ready is used.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        // The body is not `Sync`; only the head is looked at while waiting.
        let (mut head, body) = request.into_parts();
        Box::pin(async move {
            let routed = route(&core, &head).await?;
            head.extensions.insert(routed);
            inner.call(Request::from_parts(head, body)).await
        })
    }
}

async fn route(core: &ChannelCore, request: &Parts) -> Result<Routed, RpcError> {
    let bound = match request.extensions.get::<CallBound>() {
        Some(bound) => *bound,
        None => CallBound::new(&request.headers, core.options.queue_timeout),
    };
    core.until_ready(
        &bound,
        |state| decide(core, state, request),
        || "the target's xDS configuration has not arrived".to_string(),
    )
    .await
}

/// Routes against one state; `None` while the configuration is pending.
fn decide(
    core: &ChannelCore,
    state: &RouteState,
    request: &Parts,
) -> Option<Result<Routed, RpcError>> {
    match &state.routing {
        Routing::Pending => None,
        Routing::Failed(message) => Some(Err(RpcError::Resolution {
            target: core.target.clone(),
            message: message.clone(),
        })),
        Routing::Static { cluster } => Some(Ok(Routed {
            cluster: cluster.clone(),
            hash: None,
            decision: None,
            stream_cap: None,
        })),
        Routing::Table(table) => {
            let info = RequestInfo::new(request.uri.path(), &request.headers);
            Some(match table.route(&info, &mut SharedRng(&core.rng)) {
                Ok(decision) => Ok(Routed {
                    cluster: decision.cluster().into(),
                    hash: decision.request_hash(&request.headers, core.channel_id),
                    stream_cap: stream_cap(decision.max_stream_duration(), state.stream_cap),
                    decision: Some(decision),
                }),
                Err(error) => Err(RpcError::Route {
                    target: core.target.clone(),
                    error,
                }),
            })
        }
    }
}

/// A31: the route's cap wins over the listener's; zero (on either) means no cap.
fn stream_cap(route: Option<Duration>, listener: Option<Duration>) -> Option<Duration> {
    route.or(listener).filter(|cap| !cap.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_cap_overrides_the_listener_and_zero_means_none() {
        let s = Duration::from_secs;
        assert_eq!(stream_cap(Some(s(2)), Some(s(9))), Some(s(2)));
        assert_eq!(stream_cap(None, Some(s(9))), Some(s(9)));
        assert_eq!(stream_cap(Some(Duration::ZERO), Some(s(9))), None);
        assert_eq!(stream_cap(None, Some(Duration::ZERO)), None);
        assert_eq!(stream_cap(None, None), None);
    }
}
