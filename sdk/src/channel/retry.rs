//! The retry layer (DESIGN.md per-RPC order: deadline → **retry** → attempt → pick), gRFC A6
//! semantics for the policy gRFC A44 maps from the route's `retry_policy`.
//!
//! Each call gets a [`RetryState`] (the route's policy, else the channel's
//! [`ChannelOptions::retry`](super::ChannelOptions::retry), else transparent retries only) and a
//! [`Replay`] buffer over its request body. Every attempt goes down the stack again, so it is
//! routed to the same cluster but re-picks from the **latest** picker, preferring an endpoint the
//! call has not tried ([`TriedEndpoints`]); retries carry `grpc-previous-rpc-attempts`. After each
//! attempt:
//! - response headers without `grpc-status` → the call is committed: the response goes to the
//!   application, whatever happens later in the stream;
//! - a Trailers-Only response → its status (and `grpc-retry-pushback-ms`) decides;
//! - a transport error → NOT_SENT / REFUSED (transparent retries, immediate, not counted) or
//!   UNAVAILABLE; a failed pick → UNAVAILABLE; a drop or a circuit-breaker overflow → never
//!   retried; the deadline or the queue timeout → returned as is.
//!
//! Retries are also gated by A6 throttling (only when configured, per channel = per server
//! name) and by a retry budget (Meshwork's guard against retry storms, on by default: retries
//! may add 20 % of the channel's recent calls plus 10 per second, over 10 s, see
//! [`RetryBudgetConfig`](super::RetryBudgetConfig)); a budget is per channel, so every cluster of
//! the target shares it. A body over the retry buffer limit commits the call. Backoff sleeps
//! count against the call deadline, which the deadline layer above enforces. When spans are
//! made, each attempt carries an [`AttemptInfo`] (gRFC A72 `previous-rpc-attempts`,
//! `transparent-retry`) for the attempt layer below. When an A96 instrument is enabled, each call
//! counts its retries, transparent retries and backoff delays and records them once, when the
//! call's retry future ends (returned or dropped) ([`RetryRecorder`]); otherwise the layer pays
//! one branch per call.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::request::Parts;
use http::{HeaderValue, Request, Response, Uri};
use tonic::Code;
use tonic::body::Body;
use tonic::metadata::MetadataMap;
use tower::{Layer, Service, ServiceExt};

use super::body::grpc_status;
use super::core::ChannelCore;
use super::error::RpcError;
use super::pick::TriedEndpoints;
use super::replay::Replay;
use super::route::Routed;
use crate::resilience::retry::PREVIOUS_ATTEMPTS_HEADER;
use crate::resilience::{AttemptOutcome, Gates, GiveUp, Pushback, RetryDecision, RetryState};
use crate::telemetry::{AttemptInfo, RetryCounts, RetryRecorder};

/// Transparent retries one call may make (A6 sets no limit; the deadline bounds them, and this
/// bounds a call without one).
const MAX_TRANSPARENT: u32 = 16;

/// Adds [`Retry`] in front of a service.
#[derive(Clone, Debug)]
pub(crate) struct RetryLayer {
    core: Arc<ChannelCore>,
}

/// Retries failed attempts; see the module docs.
#[derive(Clone, Debug)]
pub(crate) struct Retry<S> {
    core: Arc<ChannelCore>,
    metrics: RetryRecorder,
    inner: S,
}

impl RetryLayer {
    pub(crate) fn new(core: Arc<ChannelCore>) -> Self {
        RetryLayer { core }
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = Retry<S>;

    fn layer(&self, inner: S) -> Retry<S> {
        let telemetry = &self.core.options.telemetry;
        let metrics = match telemetry.methods() {
            Some(methods) => telemetry.mesh().retry_recorder(&self.core.target, methods),
            None => RetryRecorder::default(),
        };
        Retry {
            core: self.core.clone(),
            metrics,
            inner,
        }
    }
}

/// How an attempt ended, for the retry decision.
enum Ended {
    /// Hand this result to the application.
    Final,
    /// Decide with this outcome.
    Outcome(AttemptOutcome),
}

impl<S> Service<Request<Body>> for Retry<S>
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
        let metrics = self.metrics.clone();
        let template = self.inner.clone();
        let first = std::mem::replace(&mut self.inner, template.clone());
        let (parts, body) = request.into_parts();
        Box::pin(async move {
            let policy = parts
                .extensions
                .get::<Routed>()
                .and_then(|r| r.decision.as_ref())
                .and_then(|d| d.retry_policy())
                .or(core.options.retry.as_ref());
            let mut state = policy.map_or_else(RetryState::without_policy, RetryState::new);
            let replay = Replay::new(body, core.options.retry_buffer_limit);
            let tried = TriedEndpoints::default();
            if let Some(budget) = &core.resilience.budget {
                budget.deposit();
            }
            let mut first = Some(first);
            let mut transparent_count = 0u32;
            let tracing = core.options.telemetry.is_tracing();
            let mut transparent = false;
            let mut tally = metrics.is_enabled().then(|| Tally {
                recorder: metrics,
                uri: parts.uri.clone(),
                counts: RetryCounts::default(),
            });
            loop {
                let mut attempt = attempt_request(&parts, &replay, &tried, &state);
                if tracing {
                    attempt.extensions_mut().insert(AttemptInfo {
                        previous_attempts: state.previous_attempts().unwrap_or(0),
                        transparent,
                    });
                }
                let result = match first.take() {
                    Some(mut ready) => ready.call(attempt).await,
                    None => template.clone().oneshot(attempt).await,
                };
                if replay.overflowed() {
                    state.commit();
                }
                if let Err(RpcError::CircuitBreaker(_)) = &result {
                    let mesh = core.options.telemetry.mesh();
                    mesh.breaker_overflow(&core.target, routed_cluster(&parts));
                }
                let outcome = match ended(&result) {
                    Ended::Final => return result,
                    Ended::Outcome(outcome) => outcome,
                };
                let gates = Gates {
                    throttle: core.resilience.throttle.as_ref(),
                    budget: core.resilience.budget.as_ref(),
                };
                match state.on_attempt_end(outcome, gates, &core.rng) {
                    RetryDecision::GiveUp(GiveUp::BudgetExhausted) => {
                        let mesh = core.options.telemetry.mesh();
                        mesh.retry_budget_exhausted(&core.target, routed_cluster(&parts));
                        return result;
                    }
                    RetryDecision::Done | RetryDecision::GiveUp(_) => return result,
                    RetryDecision::Retry {
                        transparent: true, ..
                    } if transparent_count >= MAX_TRANSPARENT => return result,
                    RetryDecision::Retry {
                        delay,
                        transparent: is_transparent,
                    } => {
                        if is_transparent {
                            transparent_count += 1;
                        }
                        if let Some(t) = &mut tally {
                            t.count(is_transparent, delay);
                        }
                        transparent = is_transparent;
                        tracing::debug!(
                            target = %core.target,
                            ?delay,
                            transparent = is_transparent,
                            attempts = state.attempts(),
                            "retrying the call"
                        );
                        drop(result);
                        if !delay.is_zero() {
                            tokio::time::sleep(delay).await;
                        }
                    }
                }
            }
        })
    }
}

/// One call's A96 counts, recorded when the call's future ends, however it ends.
struct Tally {
    recorder: RetryRecorder,
    uri: Uri,
    counts: RetryCounts,
}

impl Tally {
    fn count(&mut self, transparent: bool, delay: std::time::Duration) {
        if transparent {
            self.counts.transparent += 1;
        } else {
            self.counts.retries += 1;
        }
        self.counts.delay += delay;
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        self.recorder.record(self.uri.path(), self.counts);
    }
}

/// The request of the next attempt: the call's head, a replaying body, and
/// `grpc-previous-rpc-attempts` on retries.
fn attempt_request(
    parts: &Parts,
    replay: &Replay,
    tried: &TriedEndpoints,
    state: &RetryState,
) -> Request<Body> {
    let mut request = Request::new(Body::new(replay.attempt()));
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers.clone();
    *request.extensions_mut() = parts.extensions.clone();
    request.extensions_mut().insert(tried.clone());
    if let Some(previous) = state.previous_attempts() {
        request
            .headers_mut()
            .insert(PREVIOUS_ATTEMPTS_HEADER, HeaderValue::from(previous));
    }
    request
}

/// Classifies an attempt's result.
fn ended(result: &Result<Response<Body>, RpcError>) -> Ended {
    match result {
        Ok(response) => match grpc_status(response.headers()) {
            // Headers without a status: committed (gRFC A6).
            None => Ended::Final,
            Some(Code::Ok) => Ended::Outcome(AttemptOutcome::Ok),
            Some(code) => {
                let metadata = MetadataMap::from_headers(response.headers().clone());
                Ended::Outcome(AttemptOutcome::Failed {
                    code,
                    pushback: Pushback::from_metadata(&metadata),
                })
            }
        },
        Err(error) => match error {
            RpcError::NotSent { .. } => Ended::Outcome(AttemptOutcome::NotSent),
            RpcError::Refused { .. } => Ended::Outcome(AttemptOutcome::Refused),
            RpcError::Transport { .. }
            | RpcError::Pick { .. }
            | RpcError::ClusterUnusable { .. } => Ended::Outcome(AttemptOutcome::Failed {
                code: Code::Unavailable,
                pushback: None,
            }),
            RpcError::Dropped { .. } | RpcError::CircuitBreaker(_) => {
                Ended::Outcome(AttemptOutcome::Dropped)
            }
            _ => Ended::Final,
        },
    }
}

/// The cluster the route layer chose (for mesh metrics), or `""` if it did not run.
fn routed_cluster(parts: &Parts) -> &str {
    parts.extensions.get::<Routed>().map_or("", |r| &r.cluster)
}
