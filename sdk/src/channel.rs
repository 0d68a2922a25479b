//! [`MeshChannel`]: the tower `Service` a tonic-generated client uses unchanged
//! (`GreeterClient::new(channel)`), which routes each RPC by the xDS route table and sends it to
//! an endpoint chosen by the cluster's load-balancing policy — or, built from a static endpoint
//! list, balances over that list with no control plane.
//!
//! **Shape.** Per channel target, one manager task (`manager`) owns a
//! [`ClusterBalancer`](crate::balancer::ClusterBalancer) per cluster and publishes an immutable
//! route state (route table + one picker per cluster + the endpoint connections) whole, through
//! an `ArcSwap`: an RPC loads one `Arc` and never takes a lock. Policies build a new picker on
//! every change (endpoints, connectivity, timers), so swapping the state is how pickers are
//! swapped. Endpoint connections come from a process-wide [`ConnectionPool`]
//! (`crate::connection`), one HTTP/2 connection per address shared by every channel, so
//! connectivity is exact per endpoint and no request passes through an extra buffer task.
//!
//! **Per RPC**, the stack is built once per channel from tower layers, outer to inner, in
//! DESIGN.md's order: route (`route`, gRFC A28) → fault (`fault`, A33: delay then abort, from
//! the route's xDS fault policy and the mesh's runtime rules) → deadline (`timeout`, A31: one
//! deadline for the whole call) → retry (`retry`, A6/A44: replay buffer, backoff, budget; each attempt goes down
//! the rest of the stack again) → pick (`pick`, A27 picker results, with the A32 circuit breaker
//! checked on each completed pick) → endpoint connection (`send`; outcome counted for A50
//! outlier detection). With [`ChannelOptions::telemetry`] enabled, gRFC A66 call telemetry
//! wraps the whole stack and attempt telemetry sits between retry and pick (one record per
//! attempt, the pick included); disabled, neither layer is built. Outlier detection and
//! active health checks (A17, `health_check`) run in the manager task, off the request path,
//! and publish through the balancer's `set_usable`. `poll_ready` reserves (today every layer is
//! always ready), `call` spends. Every failure inside the stack is an [`RpcError`]; the channel's edge
//! turns it into a gRPC status response once (`UNAVAILABLE`, or `DEADLINE_EXCEEDED` for an RPC
//! whose own deadline passed), so the client sees a normal status, never a transport error.
//!
//! **Queueing is bounded.** An RPC waits while the target's first configuration is pending, or
//! while its cluster's picker answers `Queue` (no endpoint ready yet); it wakes on each newly
//! published state and gives up at its own `grpc-timeout` deadline or the channel's
//! [`ChannelOptions::queue_timeout`] (20 s), whichever is sooner. The target's resolution itself
//! is bounded by [`ChannelOptions::resolve_timeout`]: after it, RPCs fail at once with the
//! resolver's error naming the missing resource — nothing hangs forever.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use meshwork::channel::{Lb, MeshChannel};
//! use meshwork_proto::helloworld::HelloRequest;
//! use meshwork_proto::helloworld::greeter_client::GreeterClient;
//!
//! let mesh = meshwork::Mesh::from_env().await?; // GRPC_XDS_BOOTSTRAP(_CONFIG)
//! let channel = mesh.channel("xds:///greeter:50051").await?;
//! let mut client = GreeterClient::new(channel);
//! client.say_hello(HelloRequest { name: "mesh".into() }).await?;
//!
//! let channel = MeshChannel::builder() // no control plane at all
//!     .endpoints(["127.0.0.1:50051", "127.0.0.1:50052"])
//!     .load_balancing(Lb::PeakEwma)
//!     .build()?;
//! let mut client = GreeterClient::new(channel);
//! client.say_hello(HelloRequest { name: "static".into() }).await?;
//! # Ok(())
//! # }
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use futures::future::BoxFuture;
use http::uri::Authority;
use http::{Request, Response};
use tokio::runtime::Handle;
use tonic::body::Body;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceBuilder};

mod aggregate;
mod body;
mod builder;
mod clusters;
mod core;
mod deadline;
pub mod error;
pub mod events;
mod fault;
pub(crate) mod inspect;
mod manager;
mod options;
mod pick;
mod replay;
mod retry;
mod route;
mod send;
mod state;
#[cfg(test)]
mod test_support;
mod timeout;

use builder::StaticCluster;
pub use builder::{Lb, MeshChannelBuilder, STATIC_CLUSTER};
pub use error::{ChannelError, RpcError};
pub use events::{EventSink, MeshEvent};
pub use fault::FaultInjections;
pub use manager::DNS_REFRESH;
pub use options::{
    ChannelOptions, DEFAULT_QUEUE_TIMEOUT, DEFAULT_RESOLVE_TIMEOUT, HealthCheckConfig,
    RetryBudgetConfig, RetryThrottleConfig,
};
pub use replay::DEFAULT_RETRY_BUFFER;

pub(crate) use self::core::ChannelCore;
use crate::balancer::{AtomicRng, Clock};
use crate::connection::ConnectionPool;
use crate::resolver::ResolverHandle;
use crate::telemetry::{AttemptMetricsLayer, CallMetricsLayer};
use clusters::ClusterSet;
use deadline::CallBound;
use manager::{Manager, Source};
use options::Resilience;
use state::{Published, RouteState, Routing};

type Stack = BoxCloneSyncService<Request<Body>, Response<Body>, RpcError>;

/// A channel to a target, used as a tonic client's transport; see the module docs. Cheap to
/// clone: clones share the configuration, balancers and connections. The background work stops
/// when the last clone is dropped.
#[derive(Clone)]
pub struct MeshChannel {
    core: Arc<ChannelCore>,
    stack: Stack,
    ready_error: Option<RpcError>,
}

/// The response future of [`MeshChannel`]: always `Ok`, failures arrive as gRPC statuses.
pub struct ResponseFuture {
    inner: BoxFuture<'static, Result<Response<Body>, RpcError>>,
}

impl MeshChannel {
    /// A builder for a static channel (no control plane).
    pub fn builder() -> MeshChannelBuilder {
        MeshChannelBuilder::default()
    }

    /// The channel's target.
    pub fn target(&self) -> &str {
        &self.core.target
    }

    /// The `:authority` its RPCs carry.
    pub fn authority(&self) -> &str {
        self.core.authority.as_str()
    }

    /// How many of its RPCs got an injected fault (xDS or runtime rule) so far.
    pub fn fault_injections(&self) -> FaultInjections {
        self.core.fault_counters.get()
    }

    /// A new handle on an already running channel core (the [`Mesh`](crate::Mesh) cache).
    pub(crate) fn from_core(core: Arc<ChannelCore>) -> Self {
        let below_retry = ServiceBuilder::new()
            .layer(pick::PickLayer::new(core.clone()))
            .service(send::SendToEndpoint::new(core.clock.clone()));
        let telemetry = &core.options.telemetry;
        let stack = if telemetry.is_enabled() {
            // Call telemetry outermost (it sees the final status, so stack errors become
            // statuses below it), attempt telemetry once per attempt, inside retry.
            let target = core.target.to_string();
            BoxCloneSyncService::new(
                ServiceBuilder::new()
                    .layer(CallMetricsLayer::new(telemetry, target.clone()).boxed())
                    .map_result(status_response)
                    .layer(route::RouteLayer::new(core.clone()))
                    .layer(fault::ClientFaults::layer(core.clone()))
                    .layer(timeout::DeadlineLayer::new(core.clone()))
                    .layer(retry::RetryLayer::new(core.clone()))
                    .layer(AttemptMetricsLayer::new(telemetry, target).boxed())
                    .service(below_retry),
            )
        } else {
            BoxCloneSyncService::new(
                ServiceBuilder::new()
                    .layer(route::RouteLayer::new(core.clone()))
                    .layer(fault::ClientFaults::layer(core.clone()))
                    .layer(timeout::DeadlineLayer::new(core.clone()))
                    .layer(retry::RetryLayer::new(core.clone()))
                    .service(below_retry),
            )
        };
        MeshChannel {
            core,
            stack,
            ready_error: None,
        }
    }

    /// Whether `self` and `other` are handles of one channel (one resolver, balancer and set
    /// of pickers), as two [`Mesh::channel`](crate::Mesh::channel) calls for a target give.
    pub fn same_channel(&self, other: &MeshChannel) -> bool {
        Arc::ptr_eq(self.core(), other.core())
    }

    /// The shared core (for the [`Mesh`](crate::Mesh) cache).
    pub(crate) fn core(&self) -> &Arc<ChannelCore> {
        &self.core
    }

    /// Starts an xDS channel over a running resolver.
    pub(crate) fn start_xds(
        target: &str,
        resolver: ResolverHandle,
        authority: &str,
        pool: ConnectionPool,
        options: ChannelOptions,
        runtime: &Handle,
    ) -> Result<Self, ChannelError> {
        let source = Source::Xds {
            resolver,
            resolve_timeout: options.resolve_timeout,
        };
        let seed = options.seed.unwrap_or_else(|| fastrand::u64(..));
        let mut clusters = ClusterSet::new(pool, seed, Clock::tokio());
        clusters.set_outlier_options(options.outlier);
        clusters.set_events(options.events.clone());
        clusters.set_metrics(target, options.telemetry.mesh());
        Self::start(
            target,
            authority,
            clusters,
            Routing::Pending,
            source,
            options,
            runtime,
        )
    }

    /// Starts a static channel over `addresses`.
    pub(crate) fn start_static(
        target: String,
        authority: &str,
        cluster: StaticCluster,
        pool: ConnectionPool,
        options: ChannelOptions,
        runtime: &Handle,
    ) -> Result<Self, ChannelError> {
        let seed = options.seed.unwrap_or_else(|| fastrand::u64(..));
        let mut clusters = ClusterSet::new(pool, seed, Clock::tokio());
        clusters.set_outlier_options(options.outlier);
        clusters.set_events(options.events.clone());
        clusters.set_metrics(&target, options.telemetry.mesh());
        clusters.add_static(
            STATIC_CLUSTER,
            cluster.addresses,
            cluster.policy,
            cluster.limits,
        );
        let routing = Routing::Static {
            cluster: STATIC_CLUSTER.into(),
        };
        Self::start(
            &target,
            authority,
            clusters,
            routing,
            Source::Static,
            options,
            runtime,
        )
    }

    fn start(
        target: &str,
        authority: &str,
        clusters: ClusterSet,
        routing: Routing,
        source: Source,
        options: ChannelOptions,
        runtime: &Handle,
    ) -> Result<Self, ChannelError> {
        let parsed =
            Authority::try_from(authority).map_err(|_| ChannelError::InvalidAuthority {
                authority: authority.to_string(),
            })?;
        let seed = options.seed.unwrap_or_else(|| fastrand::u64(..));
        let rng = AtomicRng::new(seed);
        let resilience = Resilience::new(&options, Clock::tokio())?;
        let published = Arc::new(Published::new(RouteState::pending()));
        let mut manager = Manager::new(clusters, routing, authority.to_string(), published.clone());
        if let Some(config) = &options.health_check {
            manager = manager.with_health_checks(config.service_name.clone());
        }
        let task = runtime.spawn(manager.run(source)).abort_handle();
        let core = ChannelCore {
            target: target.into(),
            authority: parsed,
            published,
            options,
            channel_id: rng.next_u64(),
            rng,
            clock: Clock::tokio(),
            resilience,
            fault_counters: Default::default(),
            task,
        };
        Ok(Self::from_core(Arc::new(core)))
    }
}

impl Service<Request<Body>> for MeshChannel {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if self.ready_error.is_none()
            && let Err(error) = ready!(self.stack.poll_ready(cx))
        {
            self.ready_error = Some(error);
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<Body>) -> ResponseFuture {
        if let Some(error) = self.ready_error.take() {
            return ResponseFuture {
                inner: Box::pin(async move { Err(error) }),
            };
        }
        if request.uri().authority().is_none() {
            send::set_origin(&mut request, self.core.authority.clone());
        }
        let bound = CallBound::new(request.headers(), self.core.options.queue_timeout);
        request.extensions_mut().insert(bound);
        ResponseFuture {
            inner: self.stack.call(request),
        }
    }
}

/// Turns a failure inside the stack into the gRPC status response the application will see.
fn status_response(result: Result<Response<Body>, RpcError>) -> Result<Response<Body>, RpcError> {
    Ok(result.unwrap_or_else(|error| {
        tracing::debug!(%error, "rpc failed in the channel");
        error.to_status().into_http()
    }))
}

impl Future for ResponseFuture {
    type Output = Result<Response<Body>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(match ready!(self.inner.as_mut().poll(cx)) {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(%error, "rpc failed in the channel");
                error.to_status().into_http()
            }
        }))
    }
}

impl fmt::Debug for MeshChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeshChannel")
            .field("target", &self.core.target)
            .field("authority", &self.core.authority)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
