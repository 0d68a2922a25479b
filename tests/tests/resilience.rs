//! End-to-end resilience of `MeshChannel` (issue "Resilience"): real greeter backends on
//! loopback that misbehave on command, the dev control plane in-process, SDK channels from
//! `Mesh::channel`. Covers retries across a killed backend (A6/A44), outlier ejection and return
//! (A50), the call deadline (A31), `num_retries` against "succeed on attempt k", the retry budget
//! under a total outage, the circuit breaker (A32) and active health checks (A17). Every wait is
//! bounded; seeds are fixed.

use std::time::Duration;

use anyhow::{Result, ensure};
use meshwork::channel::{ChannelOptions, HealthCheckConfig, MeshChannel};
use meshwork_proto::helloworld::HelloRequest;
use meshwork_proto::helloworld::greeter_client::GreeterClient;
use meshwork_tests::backend::{Backends, Tally, say_hello_batch};
use meshwork_tests::resilience::{ServiceYaml, mesh_yaml, sdk_mesh, serve_yaml, until};
use tokio::time::Instant;
use tonic::Code;

/// Bound on anything that should happen "soon" over loopback.
const WAIT: Duration = Duration::from_secs(15);

fn service(host: &str, cluster: &str, route: &[&str]) -> ServiceYaml {
    ServiceYaml {
        host: host.into(),
        cluster: cluster.into(),
        route: route.iter().map(|s| s.to_string()).collect(),
    }
}

fn hello(i: usize) -> HelloRequest {
    HelloRequest {
        name: format!("call-{i}"),
    }
}

/// A client on `xds:///{host}:50051` of a fresh SDK mesh.
async fn client(
    server: &meshwork_examples::xds_server::ServerHandle,
    host: &str,
    options: ChannelOptions,
) -> Result<GreeterClient<MeshChannel>> {
    let mesh = sdk_mesh(server, host, options)?;
    let channel = mesh.channel(&format!("xds:///{host}:50051")).await?;
    Ok(GreeterClient::new(channel))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_backend_costs_no_rpc_with_retries_and_gets_traffic_back() -> Result<()> {
    let mut backends = Backends::start(3).await?;
    let retry = "retry: {retry_on: [unavailable], num_retries: 3, backoff: {base_interval: 5ms, max_interval: 50ms}}";
    let yaml = mesh_yaml(
        &[service("kill", "kill", &[retry])],
        "kill",
        &[],
        &backends.addrs(),
    );
    let server = serve_yaml(&yaml).await?;
    let mut client = client(&server, "kill", ChannelOptions::default()).await?;
    let warm = say_hello_batch(&mut client, 30).await;
    ensure!(
        warm.failed() == 0 && warm.by_backend.len() == 3,
        "warm-up: {warm:?}"
    );

    // Continuous load from four workers while b1 dies.
    let mut workers = Vec::new();
    for w in 0..4 {
        let mut client = client.clone();
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            for i in 0..150 {
                let outcome = client.say_hello(hello(w * 1000 + i)).await;
                tally.record(outcome.as_ref().map(|r| r.get_ref()));
            }
            tally
        }));
    }
    until("load reaches every backend", WAIT, || async {
        Ok(backends[1].served().total() > 40)
    })
    .await?;
    backends[1].stop().await;
    let mut total = Tally::default();
    for worker in workers {
        let tally = worker.await?;
        total.failures.extend(tally.failures);
        for (name, n) in tally.by_backend {
            *total.by_backend.entry(name).or_default() += n;
        }
    }
    ensure!(total.failed() == 0, "calls failed while b1 died: {total:?}");
    ensure!(total.ok() == 600, "{total:?}");

    backends[1].restart().await?;
    until("b1 serves again after its restart", WAIT, || {
        let mut client = client.clone();
        async move {
            let batch = say_hello_batch(&mut client, 10).await;
            ensure!(batch.failed() == 0, "after restart: {batch:?}");
            Ok(batch.backend("b1") > 0)
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_failing_backend_is_ejected_and_returns_after_the_ejection_time() -> Result<()> {
    let backends = Backends::start(3).await?;
    let outlier = "outlier_detection: {interval: 300ms, base_ejection_time: 1s, \
                   max_ejection_percent: 50, enforcing_success_rate: 0, \
                   failure_percentage_threshold: 30, enforcing_failure_percentage: 100, \
                   failure_percentage_minimum_hosts: 3, failure_percentage_request_volume: 5}";
    let yaml = mesh_yaml(
        &[service("outlier", "outlier", &[])],
        "outlier",
        &[outlier],
        &backends.addrs(),
    );
    let server = serve_yaml(&yaml).await?;
    let mut client = client(&server, "outlier", ChannelOptions::default()).await?;
    backends[0]
        .behavior()
        .set_error_rate(0.5, Code::Unavailable);

    until("b0 is ejected", WAIT, || {
        let mut client = client.clone();
        async move {
            let batch = say_hello_batch(&mut client, 30).await;
            Ok(batch.failed() == 0 && batch.backend("b0") == 0)
        }
    })
    .await?;
    // Ejected: the others take all traffic.
    let batch = say_hello_batch(&mut client, 30).await;
    ensure!(
        batch.failed() == 0 && batch.backend("b1") > 0 && batch.backend("b2") > 0,
        "while b0 is ejected: {batch:?}"
    );

    backends[0].behavior().reset();
    let healed = Instant::now();
    until("b0 returns after its ejection time", WAIT, || {
        let mut client = client.clone();
        async move { Ok(say_hello_batch(&mut client, 10).await.backend("b0") > 0) }
    })
    .await?;
    ensure!(
        healed.elapsed() <= Duration::from_secs(5),
        "b0 came back only after {:?}",
        healed.elapsed()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_backend_fails_deadline_exceeded_at_the_effective_deadline() -> Result<()> {
    let backends = Backends::start(1).await?;
    backends[0].behavior().set_latency(Duration::from_secs(5));
    let yaml = mesh_yaml(
        &[service(
            "slow",
            "slow",
            &["timeout: {max_stream_duration: 400ms}"],
        )],
        "slow",
        &[],
        &backends.addrs(),
    );
    let server = serve_yaml(&yaml).await?;
    let mut client = client(&server, "slow", ChannelOptions::default()).await?;
    backends[0].behavior().set_latency(Duration::ZERO);
    ensure!(client.say_hello(hello(0)).await.is_ok(), "warm-up");
    backends[0].behavior().set_latency(Duration::from_secs(5));

    // No application deadline: the route's cap applies.
    let started = Instant::now();
    let status = client.say_hello(hello(1)).await.err();
    let elapsed = started.elapsed();
    ensure!(
        status.as_ref().map(|s| s.code()) == Some(Code::DeadlineExceeded),
        "{status:?}"
    );
    ensure!(
        (Duration::from_millis(390)..Duration::from_millis(1200)).contains(&elapsed),
        "the route cap of 400 ms ended the call after {elapsed:?}"
    );

    // A shorter application deadline wins over the cap.
    let mut request = tonic::Request::new(hello(2));
    request.set_timeout(Duration::from_millis(150));
    let started = Instant::now();
    let status = client.say_hello(request).await.err();
    let elapsed = started.elapsed();
    ensure!(
        status.as_ref().map(|s| s.code()) == Some(Code::DeadlineExceeded),
        "{status:?}"
    );
    ensure!(
        (Duration::from_millis(140)..Duration::from_millis(380)).contains(&elapsed),
        "the 150 ms application deadline ended the call after {elapsed:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn num_retries_decides_whether_succeed_on_attempt_four_is_reached() -> Result<()> {
    let backends = Backends::start(2).await?;
    for b in backends.iter() {
        b.behavior().succeed_on_attempt(4, Code::Unavailable);
    }
    let retry = |n: u32| {
        format!(
            "retry: {{retry_on: [unavailable], num_retries: {n}, \
             backoff: {{base_interval: 5ms, max_interval: 20ms}}}}"
        )
    };
    let (two, three) = (retry(2), retry(3));
    let yaml = mesh_yaml(
        &[
            service("retry2", "retries", &[two.as_str()]),
            service("retry3", "retries", &[three.as_str()]),
        ],
        "retries",
        &[],
        &backends.addrs(),
    );
    let server = serve_yaml(&yaml).await?;

    // num_retries 2 = 3 attempts: attempt 4 is never made.
    let mut short = client(&server, "retry2", ChannelOptions::default()).await?;
    let status = short.say_hello(hello(0)).await.err();
    ensure!(status.map(|s| s.code()) == Some(Code::Unavailable));
    ensure!(
        backends.total_served() == 3,
        "served {}",
        backends.total_served()
    );

    // num_retries 3 = 4 attempts: the fourth succeeds.
    let mut long = client(&server, "retry3", ChannelOptions::default()).await?;
    let reply = long.say_hello(hello(1)).await;
    ensure!(reply.is_ok(), "{reply:?}");
    ensure!(
        backends.total_served() == 7,
        "served {}",
        backends.total_served()
    );
    Ok(())
}

/// gRPC's interop `retry` case: metadata `rpc-behavior: succeed-on-retry-attempt-4,error-code-14`
/// makes a backend succeed only when `grpc-previous-rpc-attempts` is 4 (the fourth retry) and fail
/// UNAVAILABLE otherwise. `num_retries: 3` never gets there (UNAVAILABLE); `num_retries: 4` does (OK).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_retry_case_num_retries_3_fails_and_4_succeeds() -> Result<()> {
    let backends = Backends::start(2).await?;
    let retry = |n: u32| {
        format!(
            "retry: {{retry_on: [unavailable], num_retries: {n}, \
             backoff: {{base_interval: 5ms, max_interval: 20ms}}}}"
        )
    };
    let (three, four) = (retry(3), retry(4));
    let yaml = mesh_yaml(
        &[
            service("retry3", "retries", &[three.as_str()]),
            service("retry4", "retries", &[four.as_str()]),
        ],
        "retries",
        &[],
        &backends.addrs(),
    );
    let server = serve_yaml(&yaml).await?;
    let request = |i: usize| {
        let mut r = tonic::Request::new(hello(i));
        r.metadata_mut().insert(
            "rpc-behavior",
            tonic::metadata::MetadataValue::from_static("succeed-on-retry-attempt-4,error-code-14"),
        );
        r
    };

    let mut three = client(&server, "retry3", ChannelOptions::default()).await?;
    for i in 0..5 {
        let status = three.say_hello(request(i)).await.err().map(|s| s.code());
        ensure!(
            status == Some(Code::Unavailable),
            "num_retries 3, call {i}: {status:?}"
        );
    }
    ensure!(
        backends.total_served() == 5 * 4,
        "served {}",
        backends.total_served()
    );

    let mut four = client(&server, "retry4", ChannelOptions::default()).await?;
    for i in 0..5 {
        let reply = four.say_hello(request(i)).await;
        ensure!(reply.is_ok(), "num_retries 4, call {i}: {reply:?}");
    }
    ensure!(
        backends.total_served() == 5 * 4 + 5 * 5,
        "served {}",
        backends.total_served()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retry_budget_keeps_a_total_outage_from_multiplying_load() -> Result<()> {
    const CALLS: u64 = 300;
    let backends = Backends::start(3).await?;
    let retry = "retry: {retry_on: [unavailable], num_retries: 4, backoff: {base_interval: 1ms, max_interval: 2ms}}";
    let yaml = mesh_yaml(
        &[service("outage", "outage", &[retry])],
        "outage",
        &[],
        &backends.addrs(),
    );
    let server = serve_yaml(&yaml).await?;
    let mut client = client(&server, "outage", ChannelOptions::default()).await?;
    for b in backends.iter() {
        b.behavior().set_error_rate(1.0, Code::Unavailable);
    }
    let tally = say_hello_batch(&mut client, CALLS as usize).await;
    ensure!(tally.code(Code::Unavailable) == CALLS as usize, "{tally:?}");
    // Default budget: 20 % of calls plus a reserve of 10/s × 10 s.
    let attempts = backends.total_served();
    let ceiling = CALLS * 12 / 10 + 100;
    ensure!(
        attempts > CALLS && attempts <= ceiling,
        "{attempts} attempts for {CALLS} calls (ceiling {ceiling}; without a budget up to {})",
        CALLS * 5
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_circuit_breaker_caps_calls_in_flight_and_fails_the_rest_fast() -> Result<()> {
    const MAX: u64 = 20;
    let backends = Backends::start(2).await?;
    let yaml = mesh_yaml(
        &[service("breaker", "breaker-only", &[])],
        "breaker-only",
        &["max_requests: 20"],
        &backends.addrs(),
    );
    let server = serve_yaml(&yaml).await?;
    let client = client(&server, "breaker", ChannelOptions::default()).await?;
    ensure!(
        say_hello_batch(&mut client.clone(), 4).await.ok() == 4,
        "warm-up"
    );
    for b in backends.iter() {
        b.behavior().set_hang(true);
    }
    let in_flight = || backends.iter().map(|b| b.served().in_flight()).sum::<u64>();

    let mut held = Vec::new();
    for i in 0..(MAX as usize + 10) {
        let mut client = client.clone();
        held.push(tokio::spawn(
            async move { client.say_hello(hello(i)).await },
        ));
    }
    until("the held calls reach the backends", WAIT, || async {
        Ok(held.iter().filter(|h| h.is_finished()).count() >= 10 && in_flight() >= MAX - 1)
    })
    .await?;
    let mut fast = Vec::new();
    for i in 0..20 {
        let started = Instant::now();
        let outcome = client.clone().say_hello(hello(100 + i)).await;
        fast.push((outcome.err(), started.elapsed()));
    }
    for (status, elapsed) in &fast {
        let status = status.as_ref();
        ensure!(
            status.map(|s| s.code()) == Some(Code::Unavailable),
            "{status:?}"
        );
        ensure!(
            status.is_some_and(|s| s.message().contains("max_requests 20")),
            "{status:?}"
        );
        ensure!(
            *elapsed < Duration::from_millis(500),
            "not fast: {elapsed:?}"
        );
    }
    let settled = in_flight();
    ensure!(
        (MAX * 95 / 100..=MAX * 101 / 100).contains(&settled),
        "{settled} calls in flight with max_requests {MAX}"
    );

    for h in &held {
        h.abort();
    }
    for b in backends.iter() {
        b.behavior().set_hang(false);
    }
    until("slots are freed once the held calls end", WAIT, || {
        let mut client = client.clone();
        async move { Ok(client.say_hello(hello(999)).await.is_ok()) }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_not_serving_backend_leaves_rotation_and_rejoins_when_serving() -> Result<()> {
    let backends = Backends::start(3).await?;
    let yaml = mesh_yaml(
        &[service("health", "health", &[])],
        "health",
        &[],
        &backends.addrs(),
    );
    let server = serve_yaml(&yaml).await?;
    let options = ChannelOptions {
        health_check: Some(HealthCheckConfig {
            service_name: "helloworld.Greeter".into(),
        }),
        ..ChannelOptions::default()
    };
    let mut client = client(&server, "health", options).await?;
    let warm = say_hello_batch(&mut client, 30).await;
    ensure!(
        warm.failed() == 0 && warm.backend("b1") > 0,
        "warm-up: {warm:?}"
    );

    backends[1].health().set_serving(false).await;
    until("b1 leaves rotation", WAIT, || {
        let mut client = client.clone();
        async move {
            let batch = say_hello_batch(&mut client, 20).await;
            ensure!(batch.failed() == 0, "{batch:?}");
            Ok(batch.backend("b1") == 0)
        }
    })
    .await?;
    let batch = say_hello_batch(&mut client, 30).await;
    ensure!(batch.backend("b1") == 0 && batch.ok() == 30, "{batch:?}");

    backends[1].health().set_serving(true).await;
    until("b1 rejoins", WAIT, || {
        let mut client = client.clone();
        async move { Ok(say_hello_batch(&mut client, 20).await.backend("b1") > 0) }
    })
    .await
}
