//! The greeter test backends themselves, driven by a plain tonic client (not the mesh): what the
//! mesh tests rely on must hold here first — names in replies, stream lengths, seeded error rates,
//! retry-attempt counting, prompt failure on stop, recovery on restart, health flips.

use std::future::Future;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use meshwork::xds::resource::ResourceKind;
use meshwork_examples::greeter::{
    GreeterBackend, HealthHandle, PREVIOUS_ATTEMPTS, REQUEST_ID, RPC_BEHAVIOR, STREAM_COUNT, serve,
};
use meshwork_proto::helloworld::HelloRequest;
use meshwork_proto::helloworld::greeter_client::GreeterClient;
use meshwork_tests::backend::{Backend, Backends, say_hello_batch};
use meshwork_tests::greeter::{BACKOFF_BASE, WAIT};
use meshwork_tests::watch::load_assignment;
use meshwork_tests::{WatchLog, client_for, fast_reconnect, start_control_plane};
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Bound on anything that should happen promptly over loopback.
const PROMPT: Duration = Duration::from_secs(3);
/// Pause between two probes of a condition polled with a bound.
const PROBE: Duration = Duration::from_millis(20);

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> Result<T> {
    tokio::time::timeout(PROMPT, fut)
        .await
        .with_context(|| format!("{what} did not happen within {PROMPT:?}"))
}

async fn client(backend: &Backend) -> Result<GreeterClient<Channel>> {
    let channel = Channel::from_shared(format!("http://{}", backend.addr()))?
        .connect_timeout(Duration::from_secs(1))
        .connect()
        .await
        .with_context(|| format!("connect to {}", backend.name()))?;
    Ok(GreeterClient::new(channel))
}

fn hello(name: &str, metadata: &[(&'static str, &str)]) -> Request<HelloRequest> {
    let mut request = Request::new(HelloRequest {
        name: name.to_owned(),
    });
    for (key, value) in metadata {
        if let Ok(value) = value.parse() {
            request.metadata_mut().append(*key, value);
        }
    }
    request
}

async fn code_of(client: &mut GreeterClient<Channel>, request: Request<HelloRequest>) -> Code {
    match client.say_hello(request).await {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// A plain tonic client only sends `grpc-timeout`; the tonic server enforces it and answers
/// CANCELLED ("Timeout expired"), where gRFC-conforming servers say DEADLINE_EXCEEDED.
fn past_deadline(code: Code) -> bool {
    matches!(code, Code::DeadlineExceeded | Code::Cancelled)
}

/// What a plain tonic client reports for a call whose connection died: UNKNOWN (tonic maps an
/// h2 I/O error without a reason so); gRPC's own clients, and Meshwork's, say UNAVAILABLE.
fn connection_lost(code: Code) -> bool {
    matches!(code, Code::Unavailable | Code::Unknown)
}

#[tokio::test]
async fn replies_name_the_backend_that_answered() -> Result<()> {
    let backends = Backends::start(3).await?;
    assert_eq!(backends.names(), ["b0", "b1", "b2"]);
    for backend in backends.iter() {
        let reply = client(backend).await?.say_hello(hello("ada", &[])).await?;
        let reply = reply.into_inner();
        assert_eq!(reply.backend, backend.name());
        assert_eq!(reply.message, format!("Hello ada from {}", backend.name()));
        assert_eq!(backend.served().ok(), 1);
    }
    Ok(())
}

#[tokio::test]
async fn stream_sends_the_requested_number_of_replies() -> Result<()> {
    let backends = Backends::start(1).await?;
    let mut client = client(&backends[0]).await?;
    for (metadata, expected) in [(None, 3), (Some("5"), 5), (Some("0"), 0)] {
        let request = hello(
            "ada",
            &metadata
                .map(|n| (STREAM_COUNT, n))
                .into_iter()
                .collect::<Vec<_>>(),
        );
        let stream = client.say_hello_stream(request).await?.into_inner();
        let replies: Vec<_> = within("stream end", stream.collect::<Result<Vec<_>, _>>()).await??;
        assert_eq!(replies.len(), expected, "x-stream-count {metadata:?}");
        assert!(replies.iter().all(|r| r.backend == "b0"));
    }
    let failing = hello("ada", &[(RPC_BEHAVIOR, "error-code-8")]);
    let status = client.say_hello_stream(failing).await.err();
    assert_eq!(status.map(|s| s.code()), Some(Code::ResourceExhausted));
    assert_eq!(backends[0].served().ok(), 3);
    let bad = client
        .say_hello_stream(hello("ada", &[(STREAM_COUNT, "many")]))
        .await;
    assert_eq!(
        bad.map(|_| ()).map_err(|s| s.code()),
        Err(Code::InvalidArgument)
    );
    assert_eq!(backends[0].served().count(Code::InvalidArgument), 1);
    Ok(())
}

#[tokio::test]
async fn seeded_error_rate_fails_the_expected_share_reproducibly() -> Result<()> {
    let backends = Backends::start(1).await?;
    let b0 = &backends[0];
    let mut client = client(b0).await?;
    b0.behavior().set_error_rate(0.3, Code::Unavailable);
    let first = say_hello_batch(&mut client, 200).await;
    ensure!(
        (40..=80).contains(&first.code(Code::Unavailable)),
        "{first:?}"
    );
    assert_eq!(first.ok() + first.failed(), 200);
    assert_eq!(
        b0.served().count(Code::Unavailable),
        first.code(Code::Unavailable) as u64
    );

    b0.behavior().reseed(0);
    let again = say_hello_batch(&mut client, 200).await;
    assert_eq!(again, first, "same seed, same failures");
    Ok(())
}

#[tokio::test]
async fn fail_next_and_succeed_on_attempt_count_attempts() -> Result<()> {
    let backends = Backends::start(1).await?;
    let b0 = &backends[0];
    let mut client = client(b0).await?;

    b0.behavior().fail_next(2, Code::ResourceExhausted);
    let tally = say_hello_batch(&mut client, 4).await;
    assert_eq!((tally.code(Code::ResourceExhausted), tally.ok()), (2, 2));

    // Attempts counted per x-request-id when the client sends no gRFC A6 header.
    b0.behavior().succeed_on_attempt(3, Code::Unavailable);
    let mut codes = Vec::new();
    for _ in 0..3 {
        codes.push(code_of(&mut client, hello("ada", &[(REQUEST_ID, "req-1")])).await);
    }
    assert_eq!(codes, [Code::Unavailable, Code::Unavailable, Code::Ok]);
    // grpc-previous-rpc-attempts wins when present.
    assert_eq!(
        code_of(&mut client, hello("ada", &[(PREVIOUS_ATTEMPTS, "2")])).await,
        Code::Ok
    );
    b0.behavior().reset();

    // The interop retry case, per call.
    let directive = "succeed-on-retry-attempt-2,error-code-14";
    let mut codes = Vec::new();
    for previous in ["0", "1", "2"] {
        let request = hello(
            "ada",
            &[(RPC_BEHAVIOR, directive), (PREVIOUS_ATTEMPTS, previous)],
        );
        codes.push(code_of(&mut client, request).await);
    }
    assert_eq!(codes, [Code::Unavailable, Code::Unavailable, Code::Ok]);
    Ok(())
}

#[tokio::test]
async fn rpc_behavior_targets_one_backend_and_rejects_garbage() -> Result<()> {
    let backends = Backends::start(2).await?;
    let only_b1 = [(RPC_BEHAVIOR, "hostname=b1 error-code-2")];
    assert_eq!(
        code_of(&mut client(&backends[0]).await?, hello("a", &only_b1)).await,
        Code::Ok
    );
    let mut c1 = client(&backends[1]).await?;
    assert_eq!(code_of(&mut c1, hello("a", &only_b1)).await, Code::Unknown);
    let status = c1
        .say_hello(hello("a", &[(RPC_BEHAVIOR, "explode")]))
        .await
        .err()
        .context("a malformed rpc-behavior must fail")?;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("unknown directive `explode`"),
        "{status:?}"
    );
    Ok(())
}

#[tokio::test]
async fn hangs_and_sleeps_run_past_the_deadline() -> Result<()> {
    let backends = Backends::start(1).await?;
    let b0 = &backends[0];
    let mut client = client(b0).await?;
    let mut slow = hello("a", &[(RPC_BEHAVIOR, "sleep-2000")]);
    slow.set_timeout(Duration::from_millis(100));
    let code = within("deadline", code_of(&mut client, slow)).await?;
    assert!(past_deadline(code), "{code:?}");

    b0.behavior().set_hang(true);
    let mut hung = hello("a", &[]);
    hung.set_timeout(Duration::from_millis(100));
    let code = within("deadline", code_of(&mut client, hung)).await?;
    assert!(past_deadline(code), "{code:?}");
    within("abandoned calls counted", async {
        while b0.served().count(Code::Cancelled) < 2 {
            tokio::time::sleep(PROBE).await;
        }
    })
    .await?;
    assert_eq!(b0.served().in_flight(), 0);
    Ok(())
}

#[tokio::test]
async fn stop_fails_calls_promptly_and_restart_serves_again_on_the_same_port() -> Result<()> {
    let mut backends = Backends::start(1).await?;
    let addr = backends[0].addr();
    let mut client = client(&backends[0]).await?;
    backends[0].behavior().set_hang(true);
    let mut in_flight = client.clone();
    let hung = tokio::spawn(async move { code_of(&mut in_flight, hello("a", &[])).await });
    within("the hung call reaches the backend", async {
        while backends[0].served().in_flight() == 0 {
            tokio::time::sleep(PROBE).await;
        }
    })
    .await?;

    within("stop", backends[0].stop()).await?;
    let open = within("the open call fails", hung).await??;
    assert!(connection_lost(open), "{open:?}");
    let after = within("a new call fails", code_of(&mut client, hello("a", &[]))).await?;
    assert_eq!(after, Code::Unavailable);

    backends[0].behavior().set_hang(false);
    backends[0].restart().await?;
    assert_eq!(backends[0].addr(), addr);
    let recovered = within("a call succeeds after restart", async {
        loop {
            match client.say_hello(hello("a", &[])).await {
                Ok(reply) => break reply.into_inner(),
                Err(_) => tokio::time::sleep(PROBE).await,
            }
        }
    })
    .await?;
    assert_eq!(recovered.backend, "b0");
    Ok(())
}

#[tokio::test]
async fn health_flips_are_seen_by_check_and_watch() -> Result<()> {
    let backends = Backends::start(1).await?;
    let b0 = &backends[0];
    let channel = Channel::from_shared(format!("http://{}", b0.addr()))?
        .connect()
        .await?;
    let mut health = HealthClient::new(channel);
    let check = |service: &str| HealthCheckRequest {
        service: service.to_owned(),
    };
    let status = |r: tonic_health::pb::HealthCheckResponse| r.status;
    for service in ["", "helloworld.Greeter"] {
        let got = status(health.check(check(service)).await?.into_inner());
        assert_eq!(got, ServingStatus::Serving as i32, "service `{service}`");
    }
    let mut watch = health
        .watch(check("helloworld.Greeter"))
        .await?
        .into_inner();
    let first = within("first watch update", watch.next())
        .await?
        .context("watch ended")??;
    assert_eq!(first.status, ServingStatus::Serving as i32);

    b0.health().set_serving(false).await;
    let next = within("NOT_SERVING on watch", watch.next())
        .await?
        .context("watch ended")??;
    assert_eq!(next.status, ServingStatus::NotServing as i32);
    let overall = status(health.check(check("")).await?.into_inner());
    assert_eq!(overall, ServingStatus::NotServing as i32);

    b0.health().set_serving(true).await;
    let back = within("SERVING on watch", watch.next())
        .await?
        .context("watch ended")??;
    if back.status != ServingStatus::Serving as i32 {
        bail!("expected SERVING again, got {back:?}");
    }
    Ok(())
}

#[tokio::test]
async fn the_mesh_of_the_backends_reaches_an_xds_client() -> Result<()> {
    let backends = Backends::start(3).await?;
    let server = start_control_plane(backends.mesh().build()?).await?;
    let client = client_for(&server, "backends-test", fast_reconnect(BACKOFF_BASE))?;
    let mut eds = WatchLog::new(client.watch(ResourceKind::ClusterLoadAssignment, "greeter"));
    let assignment = eds.wait_for(WAIT, load_assignment).await?;
    let addrs: Vec<String> = assignment
        .priorities
        .iter()
        .flat_map(|p| &p.localities)
        .flat_map(|l| &l.endpoints)
        .map(|e| e.address.to_string())
        .collect();
    let expected: Vec<String> = backends.addrs().iter().map(|a| a.to_string()).collect();
    assert_eq!(addrs, expected);
    Ok(())
}

#[tokio::test]
async fn graceful_shutdown_lets_open_calls_finish_and_refuses_new_ones() -> Result<()> {
    let backend = GreeterBackend::new("g0");
    let health = HealthHandle::new().await;
    let running = serve("127.0.0.1:0".parse()?, backend.clone(), &health).await?;
    let channel = Channel::from_shared(format!("http://{}", running.local_addr()))?
        .connect()
        .await?;
    let mut client = GreeterClient::new(channel);
    let mut open = client.clone();
    let slow = tokio::spawn(async move {
        code_of(&mut open, hello("a", &[(RPC_BEHAVIOR, "sleep-300")])).await
    });
    within("the slow call reaches the backend", async {
        while backend.served().in_flight() == 0 {
            tokio::time::sleep(PROBE).await;
        }
    })
    .await?;
    within(
        "graceful shutdown",
        running.shutdown(Duration::from_secs(2)),
    )
    .await?;
    assert_eq!(within("the open call", slow).await??, Code::Ok);
    assert_eq!(
        code_of(&mut client, hello("a", &[])).await,
        Code::Unavailable
    );
    Ok(())
}
