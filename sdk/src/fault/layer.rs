//! A tower layer that applies a [`FaultDecision`] to each `http::Request`: sleep for the delay,
//! then answer with the abort status, or pass the request on (gRFC A33: both happen before any
//! traffic is sent).
//!
//! The layer does not decide; a [`FaultDecider`] does, per request, so the channel can supply
//! route-aware scopes (runtime rules plus the route's xDS policy) and the server layer method
//! scopes. An abort is a trailers-only gRPC response built with `tonic::Status::into_http`, so
//! clients see the status as if the server had sent it. The delay uses `tokio::time` and ends
//! with the caller: dropping the response future cancels the sleep and sends nothing. A delayed
//! request does not hold the inner service's readiness while it sleeps; it waits for readiness
//! again afterwards (a fault delay should not occupy, say, a circuit-breaker slot).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tonic::codegen::http::{Request, Response};
use tower::{Layer, Service};

use super::decision::FaultDecision;

/// Chooses the faults for one request.
pub trait FaultDecider<B> {
    /// The faults to inject into `request` (usually [`FaultDecision::none`]).
    fn decide(&self, request: &Request<B>) -> FaultDecision;
}

impl<B, F> FaultDecider<B> for F
where
    F: Fn(&Request<B>) -> FaultDecision,
{
    fn decide(&self, request: &Request<B>) -> FaultDecision {
        self(request)
    }
}

/// Wraps services in a [`FaultService`] using `decider`.
#[derive(Clone, Debug)]
pub struct FaultLayer<D> {
    decider: D,
}

/// Applies the faults its decider chooses, then calls the inner service (or does not).
#[derive(Clone, Debug)]
pub struct FaultService<S, D> {
    inner: S,
    decider: D,
}

pin_project! {
    /// The response of a [`FaultService`]: the inner response, or an injected abort.
    pub struct ResponseFuture<S, Req, F, Res> {
        #[pin]
        state: State<S, Req, F, Res>,
        // Holds the request's active-fault slot until the delay or abort is over.
        decision: FaultDecision,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, Req, F, Res> {
        Called { #[pin] future: F },
        Delaying { sleep: Pin<Box<Sleep>>, service: Option<S>, request: Option<Req> },
        Readying { service: Option<S>, request: Option<Req> },
        Aborted { response: Option<Res> },
    }
}

impl<D> FaultLayer<D> {
    /// A layer asking `decider` for each request's faults.
    pub fn new(decider: D) -> Self {
        FaultLayer { decider }
    }
}

impl<S, D: Clone> Layer<S> for FaultLayer<D> {
    type Service = FaultService<S, D>;

    fn layer(&self, inner: S) -> Self::Service {
        FaultService {
            inner,
            decider: self.decider.clone(),
        }
    }
}

impl<S, D, B, ResB> Service<Request<B>> for FaultService<S, D>
where
    S: Service<Request<B>, Response = Response<ResB>> + Clone,
    D: FaultDecider<B>,
    ResB: Default,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S, Request<B>, S::Future, Response<ResB>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let mut decision = self.decider.decide(&request);
        let state = match (decision.delay.take(), decision.abort.take()) {
            (None, None) => {
                decision = FaultDecision::none();
                State::Called {
                    future: self.inner.call(request),
                }
            }
            (None, Some(status)) => State::Aborted {
                response: Some(status.into_http()),
            },
            (Some(delay), abort) => {
                // Keep the abort for after the sleep; the service is needed only without one.
                decision.abort = abort;
                let service = decision.abort.is_none().then(|| self.inner.clone());
                State::Delaying {
                    sleep: Box::pin(tokio::time::sleep(delay)),
                    service,
                    request: Some(request),
                }
            }
        };
        ResponseFuture { state, decision }
    }
}

impl<S, B, F, ResB> Future for ResponseFuture<S, Request<B>, F, Response<ResB>>
where
    S: Service<Request<B>, Response = Response<ResB>, Future = F>,
    F: Future<Output = Result<Response<ResB>, S::Error>>,
    ResB: Default,
{
    type Output = Result<Response<ResB>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Called { future } => return future.poll(cx),
                StateProj::Delaying {
                    sleep,
                    service,
                    request,
                } => {
                    ready!(sleep.as_mut().poll(cx));
                    let abort = this.decision.abort.take();
                    // The delay fault is over (A33): free the active-fault slot.
                    *this.decision = FaultDecision::none();
                    let next = match abort {
                        Some(status) => State::Aborted {
                            response: Some(status.into_http()),
                        },
                        None => State::Readying {
                            service: service.take(),
                            request: request.take(),
                        },
                    };
                    this.state.set(next);
                }
                StateProj::Readying { service, request } => {
                    let Some(svc) = service.as_mut() else {
                        return Poll::Ready(Ok(polled_after_completion()));
                    };
                    if let Err(e) = ready!(svc.poll_ready(cx)) {
                        return Poll::Ready(Err(e));
                    }
                    let Some(req) = request.take() else {
                        return Poll::Ready(Ok(polled_after_completion()));
                    };
                    let future = svc.call(req);
                    this.state.set(State::Called { future });
                }
                StateProj::Aborted { response } => {
                    *this.decision = FaultDecision::none();
                    return Poll::Ready(Ok(response
                        .take()
                        .unwrap_or_else(polled_after_completion)));
                }
            }
        }
    }
}

/// What a future polled again after it completed answers, instead of panicking.
fn polled_after_completion<ResB: Default>() -> Response<ResB> {
    tonic::Status::internal("fault layer response polled after it completed").into_http()
}

#[cfg(test)]
mod tests;
