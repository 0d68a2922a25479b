use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tonic::Code;
use tower::{ServiceExt, service_fn};

use super::*;
use crate::fault::ActiveFaults;

type Req = Request<()>;

/// An inner service answering 200 with body "served", counting its calls.
fn backend(
    calls: &Arc<AtomicUsize>,
) -> impl Service<Req, Response = Response<String>, Error = std::convert::Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    let calls = Arc::clone(calls);
    service_fn(move |_req: Req| {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok(Response::new("served".to_string())))
    })
}

fn status_of(resp: &Response<String>) -> Option<tonic::Status> {
    tonic::Status::from_header_map(resp.headers())
}

fn fixed(delay: Option<u64>, abort: Option<Code>) -> impl Fn(&Req) -> FaultDecision + Clone {
    move |_req: &Req| {
        FaultDecision::new(
            delay.map(Duration::from_millis),
            abort.map(|c| tonic::Status::new(c, "injected")),
        )
    }
}

#[tokio::test(start_paused = true)]
async fn no_fault_passes_straight_through() {
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = FaultLayer::new(fixed(None, None)).layer(backend(&calls));
    let resp = svc.oneshot(Request::new(())).await.unwrap();
    assert_eq!(resp.body(), "served");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn abort_answers_with_a_trailers_only_status_without_calling_the_backend() {
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = FaultLayer::new(fixed(None, Some(Code::Unavailable))).layer(backend(&calls));
    let resp = svc.oneshot(Request::new(())).await.unwrap();
    let status = status_of(&resp).expect("grpc-status in the headers");
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.message(), "injected");
    assert_eq!(
        resp.headers()["content-type"],
        "application/grpc",
        "trailers-only gRPC response"
    );
    assert!(resp.body().is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn delay_holds_the_request_then_sends_it() {
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = FaultLayer::new(fixed(Some(250), None)).layer(backend(&calls));
    let started = tokio::time::Instant::now();
    let call = tokio::spawn(svc.oneshot(Request::new(())));
    tokio::time::sleep(Duration::from_millis(249)).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "nothing sent during the delay"
    );
    let resp = call.await.unwrap().unwrap();
    assert_eq!(resp.body(), "served");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(started.elapsed(), Duration::from_millis(250));
}

#[tokio::test(start_paused = true)]
async fn delay_then_abort_never_reaches_the_backend() {
    let calls = Arc::new(AtomicUsize::new(0));
    let svc =
        FaultLayer::new(fixed(Some(100), Some(Code::ResourceExhausted))).layer(backend(&calls));
    let started = tokio::time::Instant::now();
    let resp = svc.oneshot(Request::new(())).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_millis(100));
    assert_eq!(
        status_of(&resp).map(|s| s.code()),
        Some(Code::ResourceExhausted)
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_call_during_the_delay_cancels_it_and_frees_the_slot() {
    let calls = Arc::new(AtomicUsize::new(0));
    let active = ActiveFaults::new();
    let gauge = active.clone();
    let decider = move |_req: &Req| {
        let d = FaultDecision::new(Some(Duration::from_secs(5)), None);
        gauge
            .try_acquire(Some(10))
            .map_or_else(FaultDecision::none, |s| d.holding(s))
    };
    let svc = FaultLayer::new(decider).layer(backend(&calls));
    let call = tokio::spawn(svc.oneshot(Request::new(())));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        active.current(),
        1,
        "the delayed RPC counts as an active fault"
    );
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());
    assert_eq!(active.current(), 0);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "a cancelled RPC is never sent"
    );
}

#[tokio::test(start_paused = true)]
async fn the_slot_is_freed_when_the_delay_ends_not_when_the_rpc_does() {
    let active = ActiveFaults::new();
    let gauge = active.clone();
    let decider = move |_req: &Req| {
        let d = FaultDecision::new(Some(Duration::from_millis(10)), None);
        gauge
            .try_acquire(None)
            .map_or_else(FaultDecision::none, |s| d.holding(s))
    };
    let (release, wait) = tokio::sync::oneshot::channel::<()>();
    let wait = Arc::new(tokio::sync::Mutex::new(Some(wait)));
    let slow = service_fn(move |_req: Req| {
        let wait = Arc::clone(&wait);
        async move {
            if let Some(w) = wait.lock().await.take() {
                let _ = w.await;
            }
            Ok::<_, std::convert::Infallible>(Response::new(String::new()))
        }
    });
    let call = tokio::spawn(
        FaultLayer::new(decider)
            .layer(slow)
            .oneshot(Request::new(())),
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(active.current(), 0, "delay over, RPC still in flight");
    assert!(!call.is_finished());
    release.send(()).unwrap();
    call.await.unwrap().unwrap();
}
