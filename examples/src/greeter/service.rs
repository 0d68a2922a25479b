//! [`GreeterBackend`]: the `helloworld.Greeter` implementation behind the examples and the
//! end-to-end tests. Every reply names the backend, so a client can see where the mesh sent it.
//!
//! It reads the per-call metadata (`rpc-behavior`, `grpc-previous-rpc-attempts`, `x-request-id`,
//! `x-stream-count`, `x-stream-interval-ms`), asks its [`Behavior`] for a [`Plan`], sleeps,
//! answers, and counts the outcome in [`Served`]. Serving sockets is `super::serve`'s job.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use meshwork_proto::helloworld::greeter_server::{Greeter, GreeterServer};
use meshwork_proto::helloworld::{HelloReply, HelloRequest};
use tonic::metadata::MetadataMap;
use tonic::{Code, Request, Response, Status};

use super::behavior::{Behavior, CallInfo, End, Plan};
use super::rpc_behavior::RpcBehavior;
use super::served::{CallGuard, Served};

/// Request metadata with per-call `rpc-behavior` directives (see [`super::rpc_behavior`]).
pub const RPC_BEHAVIOR: &str = "rpc-behavior";
/// Request metadata naming the logical request, for counting attempts without gRFC A6 headers.
pub const REQUEST_ID: &str = "x-request-id";
/// gRFC A6's count of earlier attempts, sent on retries.
pub const PREVIOUS_ATTEMPTS: &str = "grpc-previous-rpc-attempts";
/// Request metadata: how many replies `SayHelloStream` sends.
pub const STREAM_COUNT: &str = "x-stream-count";
/// Request metadata: milliseconds between two `SayHelloStream` replies.
pub const STREAM_INTERVAL_MS: &str = "x-stream-interval-ms";

/// Replies `SayHelloStream` sends when the request does not say.
pub const DEFAULT_STREAM_COUNT: u32 = 3;
/// Pause between streamed replies when the request does not say.
pub const DEFAULT_STREAM_INTERVAL: Duration = Duration::from_secs(1);

/// A greeter backend: cheap to clone, every clone is the same backend (same name, behaviour and
/// counters).
#[derive(Debug, Clone)]
pub struct GreeterBackend {
    inner: Arc<Inner>,
}

#[derive(Debug, Clone)]
struct Inner {
    name: String,
    behavior: Behavior,
    served: Served,
    stream_count: u32,
    stream_interval: Duration,
}

/// The replies of `SayHelloStream`.
pub type ReplyStream = Pin<Box<dyn Stream<Item = Result<HelloReply, Status>> + Send + 'static>>;

impl GreeterBackend {
    /// A well-behaved backend called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        GreeterBackend {
            inner: Arc::new(Inner {
                name: name.into(),
                behavior: Behavior::default(),
                served: Served::new(),
                stream_count: DEFAULT_STREAM_COUNT,
                stream_interval: DEFAULT_STREAM_INTERVAL,
            }),
        }
    }

    /// Uses `behavior` (e.g. one made with a chosen seed) instead of a fresh one.
    pub fn with_behavior(self, behavior: Behavior) -> Self {
        self.map(|inner| inner.behavior = behavior)
    }

    /// Sets how many replies `SayHelloStream` sends by default.
    pub fn with_stream_count(self, count: u32) -> Self {
        self.map(|inner| inner.stream_count = count)
    }

    /// Sets the default pause between streamed replies.
    pub fn with_stream_interval(self, interval: Duration) -> Self {
        self.map(|inner| inner.stream_interval = interval)
    }

    fn map(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        change(&mut inner);
        GreeterBackend {
            inner: Arc::new(inner),
        }
    }

    /// The name replies carry in `backend`.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The handle that steers this backend.
    pub fn behavior(&self) -> &Behavior {
        &self.inner.behavior
    }

    /// The counters of served calls.
    pub fn served(&self) -> &Served {
        &self.inner.served
    }

    /// The tonic service to add to a server.
    pub fn into_service(self) -> GreeterServer<GreeterBackend> {
        GreeterServer::new(self)
    }

    fn reply(&self, request: &HelloRequest) -> HelloReply {
        HelloReply {
            message: format!("Hello {} from {}", request.name, self.inner.name),
            backend: self.inner.name.clone(),
        }
    }

    /// Decides, waits and either returns the call's guard (answer now) or its failure.
    async fn serve(&self, metadata: &MetadataMap) -> Result<CallGuard, Status> {
        let guard = self.inner.served.begin();
        let plan = match self.plan(metadata) {
            Ok(plan) => plan,
            Err(status) => {
                guard.finish(status.code());
                return Err(status);
            }
        };
        if !plan.delay.is_zero() {
            tokio::time::sleep(plan.delay).await;
        }
        let name = &self.inner.name;
        match plan.end {
            End::Reply => Ok(guard),
            End::Hang => {
                tracing::debug!(backend = %name, "hanging until the client gives up");
                // Dropped (and counted CANCELLED) when the client gives up or the server stops.
                std::future::pending::<()>().await;
                Ok(guard)
            }
            End::Fail { code, reason } => {
                guard.finish(code);
                tracing::debug!(backend = %name, ?code, %reason, "injecting a failure");
                Err(Status::new(
                    code,
                    format!("backend {name}: injected {code:?} ({reason})"),
                ))
            }
        }
    }

    fn plan(&self, metadata: &MetadataMap) -> Result<Plan, Status> {
        let rpc_behavior = metadata
            .get_all(RPC_BEHAVIOR)
            .iter()
            .map(|value| {
                let text = value.to_str().map_err(|_| {
                    Status::invalid_argument(format!("{RPC_BEHAVIOR} must be ASCII text"))
                })?;
                text.parse::<RpcBehavior>()
                    .map_err(|e| Status::invalid_argument(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let previous_attempts = number::<u32>(metadata, PREVIOUS_ATTEMPTS)?;
        let request_id = metadata.get(REQUEST_ID).and_then(|v| v.to_str().ok());
        let call = CallInfo {
            rpc_behavior: &rpc_behavior,
            previous_attempts,
            request_id,
        };
        Ok(self.inner.behavior.plan(&self.inner.name, &call))
    }
}

/// Reads an optional numeric metadata value; garbage is the caller's error, not ours.
fn number<T: std::str::FromStr>(metadata: &MetadataMap, key: &str) -> Result<Option<T>, Status> {
    let Some(value) = metadata.get(key) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| {
            Status::invalid_argument(format!(
                "metadata `{key}` should be a non-negative integer, got {value:?}"
            ))
        })
}

#[tonic::async_trait]
impl Greeter for GreeterBackend {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let guard = self.serve(request.metadata()).await?;
        let reply = self.reply(request.get_ref());
        guard.finish(Code::Ok);
        Ok(Response::new(reply))
    }

    type SayHelloStreamStream = ReplyStream;

    async fn say_hello_stream(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<ReplyStream>, Status> {
        let metadata = request.metadata();
        let shape = number(metadata, STREAM_COUNT).and_then(|count| {
            let interval = number(metadata, STREAM_INTERVAL_MS)?;
            Ok((count, interval))
        });
        let (count, interval) = match shape {
            Ok((count, interval)) => (
                count.unwrap_or(self.inner.stream_count),
                interval.map_or(self.inner.stream_interval, Duration::from_millis),
            ),
            Err(status) => {
                self.inner.served.begin().finish(status.code());
                return Err(status);
            }
        };
        let guard = self.serve(metadata).await?;
        let reply = self.reply(request.get_ref());
        let stream = futures::stream::unfold((0_u32, Some(guard)), move |(sent, mut guard)| {
            let reply = reply.clone();
            async move {
                if sent >= count {
                    // The stream ended without the client walking away: count it OK.
                    if let Some(guard) = guard.take() {
                        guard.finish(Code::Ok);
                    }
                    return None;
                }
                if sent > 0 {
                    tokio::time::sleep(interval).await;
                }
                Some((Ok(reply), (sent + 1, guard)))
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
