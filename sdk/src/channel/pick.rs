//! The pick layer (DESIGN.md data flow: "picker.pick()"): asks the routed cluster's current
//! picker for an endpoint and hands the endpoint and its open connection to the layer below as
//! a [`Picked`] request extension.
//!
//! Pick results follow gRPC's picker contract (gRFC A27): `Pick` on an endpoint whose connection
//! is open → go; `Queue` → start the connection the policy asked for and wait for the next
//! picker, bounded by the RPC's deadline or the channel's queue timeout; `Fail` → `UNAVAILABLE`
//! with the picker's message, followed by why the cluster's endpoints last failed to connect
//! (e.g. a TLS handshake or SAN mismatch, gRFC A29), as gRPC's pickers report the last
//! connection error; `Drop` → `UNAVAILABLE` "dropped by load balancing policy", never
//! retried. A picked endpoint whose connection just closed is treated as `Queue`. Each call
//! picks from the latest state, so a retry layer above re-picks per attempt (gRFC A44); a retry
//! prefers an endpoint its call has not tried yet ([`TriedEndpoints`]: up to
//! [`REPICKS`] extra picks, then whatever the picker gives; pickers are not told).
//!
//! Circuit breaking (gRFC A32) happens here, on a completed pick, as gRPC's `xds_cluster_impl`
//! picker does: the endpoint's cluster must have fewer than `max_requests` calls in flight
//! (counted process-wide), else the attempt fails at once with [`RpcError::CircuitBreaker`]
//! (UNAVAILABLE, never retried) and is reported, coalesced, to the channel's
//! [`EventSink`](super::EventSink). An RPC waiting in the queue holds no slot; a sent attempt holds
//! its slot until its response ends. When the attempt layer asked for optional metric labels
//! (an [`LbLabelSlot`] extension), the pick fills it with the endpoint's locality and cluster.

use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use http::{Request, Response};
use tonic::body::Body;
use tower::{Layer, Service};

use super::core::ChannelCore;
use super::deadline::CallBound;
use super::error::RpcError;
use super::route::Routed;
use super::state::{ClusterEntry, RouteState};
use crate::balancer::{EndpointHandle, EndpointId, PickRequest, PickResult};
use crate::connection::{EndpointConnection, Sender};
use crate::health::outlier::CallCounter;
use crate::resilience::RequestGuard;
use crate::telemetry::{LbLabelSlot, LbLabels};

/// Extra picks a retry makes to find an endpoint its call has not tried.
pub(crate) const REPICKS: usize = 2;

/// The endpoints one call's attempts were sent to, shared by its attempts (the retry layer
/// creates it; the pick layer reads and appends).
#[derive(Clone, Debug, Default)]
pub(crate) struct TriedEndpoints(Arc<Mutex<Vec<EndpointId>>>);

impl TriedEndpoints {
    fn contains(&self, id: EndpointId) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&id)
    }

    fn push(&self, id: EndpointId) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(id);
    }
}

/// The endpoint chosen for one RPC attempt, for the layer below.
#[derive(Clone, Debug)]
pub(crate) struct Picked {
    /// The endpoint (its live load counters).
    pub(crate) endpoint: EndpointHandle,
    /// Its connection.
    pub(crate) connection: EndpointConnection,
    /// A sender on the open connection.
    pub(crate) sender: Sender,
    /// The latency decay for recording this RPC's round trip.
    pub(crate) decay: Duration,
    /// The circuit-breaker slot this attempt holds.
    pub(crate) guard: Option<Arc<RequestGuard>>,
    /// The endpoint's outlier-detection counter.
    pub(crate) counter: Option<Arc<CallCounter>>,
    /// The endpoint's optional attempt-metric labels.
    pub(crate) lb: Arc<LbLabels>,
}

/// Adds [`Pick`] in front of a service.
#[derive(Clone, Debug)]
pub(crate) struct PickLayer {
    core: Arc<ChannelCore>,
}

/// Picks an endpoint for each RPC; see the module docs.
#[derive(Clone, Debug)]
pub(crate) struct Pick<S> {
    core: Arc<ChannelCore>,
    inner: S,
}

impl PickLayer {
    pub(crate) fn new(core: Arc<ChannelCore>) -> Self {
        PickLayer { core }
    }
}

impl<S> Layer<S> for PickLayer {
    type Service = Pick<S>;

    fn layer(&self, inner: S) -> Pick<S> {
        Pick {
            core: self.core.clone(),
            inner,
        }
    }
}

impl<S> Service<Request<Body>> for Pick<S>
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
        let core = self.core.clone();
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let Some(routed) = request.extensions().get::<Routed>().cloned() else {
                return Err(RpcError::Internal("the pick layer ran without a route"));
            };
            let bound = match request.extensions().get::<CallBound>() {
                Some(bound) => *bound,
                None => CallBound::new(request.headers(), core.options.queue_timeout),
            };
            let tried = request.extensions().get::<TriedEndpoints>().cloned();
            let picked = core
                .until_ready(
                    &bound,
                    |state| pick(&core, state, &routed, tried.as_ref()),
                    || {
                        let why = connection_errors(&core.published.load(), &routed.cluster);
                        format!(
                            "no endpoint of cluster `{}` became ready{why}",
                            routed.cluster
                        )
                    },
                )
                .await?;
            if let Some(slot) = request.extensions().get::<LbLabelSlot>() {
                slot.fill(&picked.lb);
            }
            request.extensions_mut().insert(picked);
            inner.call(request).await
        })
    }
}

/// Picks against one state; `None` means wait for the next one.
fn pick(
    core: &ChannelCore,
    state: &RouteState,
    routed: &Routed,
    tried: Option<&TriedEndpoints>,
) -> Option<Result<Picked, RpcError>> {
    let picker = match state.clusters.get(&*routed.cluster)? {
        ClusterEntry::Ready(picker) => picker,
        ClusterEntry::Failed(message) => {
            return Some(Err(RpcError::ClusterUnusable {
                target: core.target.clone(),
                message: message.clone(),
            }));
        }
    };
    let request = PickRequest { hash: routed.hash };
    let mut result = picker.pick(&request);
    if let Some(tried) = tried {
        for _ in 0..REPICKS {
            match result.endpoint() {
                Some(endpoint) if tried.contains(endpoint.id()) => {}
                _ => break,
            }
            match picker.pick(&request) {
                fresh @ PickResult::Pick(_) => result = fresh,
                _ => break,
            }
        }
    }
    match result {
        PickResult::Pick(endpoint) => {
            let route = state.endpoints.get(&endpoint.id())?;
            match route.connection.sender() {
                Some(sender) => {
                    let guard = match route.breaker.try_acquire(route.max_requests) {
                        Ok(guard) => guard,
                        Err(overflow) => {
                            core.options.events.breaker_overflow(
                                &overflow.cluster,
                                overflow.max_requests,
                                tokio::time::Instant::now(),
                            );
                            return Some(Err(overflow.into()));
                        }
                    };
                    if let Some(tried) = tried {
                        tried.push(endpoint.id());
                    }
                    Some(Ok(Picked {
                        endpoint,
                        connection: route.connection.clone(),
                        sender,
                        decay: route.decay,
                        guard: Some(Arc::new(guard)),
                        counter: route.counter.clone(),
                        lb: route.lb.clone(),
                    }))
                }
                None => {
                    route.connection.connect();
                    None
                }
            }
        }
        PickResult::Queue { connect } => {
            if let Some(route) = connect.and_then(|e| state.endpoints.get(&e.id())) {
                route.connection.connect();
            }
            None
        }
        PickResult::Fail(error) => Some(Err(RpcError::Pick {
            target: core.target.clone(),
            cluster: routed.cluster.clone(),
            message: format!(
                "{}{}",
                error.message(),
                connection_errors(state, &routed.cluster)
            )
            .into(),
        })),
        PickResult::Drop { category } => Some(Err(RpcError::Dropped {
            cluster: routed.cluster.clone(),
            category,
        })),
    }
}

/// Most endpoints whose last connection error an RPC failure lists.
const MAX_LISTED_ERRORS: usize = 3;

/// `"; last connection errors: endpoint A: why; endpoint B: why"` for the endpoints of `cluster`
/// whose last connection attempt failed (at most [`MAX_LISTED_ERRORS`], by address), or `""`.
fn connection_errors(state: &RouteState, cluster: &str) -> String {
    let mut errors: Vec<(std::net::SocketAddr, Arc<str>)> = state
        .endpoints
        .values()
        .filter(|route| &*route.cluster == cluster)
        .filter_map(|route| Some((route.connection.address(), route.connection.last_error()?)))
        .collect();
    if errors.is_empty() {
        return String::new();
    }
    errors.sort();
    errors.dedup();
    let listed: Vec<String> = errors
        .iter()
        .take(MAX_LISTED_ERRORS)
        .map(|(address, error)| format!("endpoint {address}: {error}"))
        .collect();
    let more = errors.len().saturating_sub(MAX_LISTED_ERRORS);
    let more = if more > 0 {
        format!(" (and {more} more)")
    } else {
        String::new()
    };
    format!("; last connection errors: {}{more}", listed.join("; "))
}
