//! End to end over loopback: the off-by-default A96 retry and A94 subchannel metrics. A mesh
//! whose telemetry enables them by name, a static channel with a retry policy to one greeter
//! backend that fails the first attempts: the scrape shows `grpc.client.call.retries` = 2 and a
//! `grpc.client.call.retry_delay`, one open connection, and once the backend is killed, a
//! disconnection and no open connection. With the switch off, the same traffic leaves none of
//! these series.

use std::time::Duration;

use anyhow::{Context as _, ensure};
use meshwork::Mesh;
use meshwork::telemetry::{Telemetry, names::OPTIONAL_METRICS};
use meshwork::xds::resource::route::RetryPolicy;
use meshwork_proto::helloworld::HelloRequest;
use meshwork_proto::helloworld::greeter_client::GreeterClient;
use meshwork_tests::backend::Backends;
use meshwork_tests::promtool::{sample, wait_for_text};
use tonic::Code;

/// How long a metric may take to show a change the test caused.
const WITHIN: Duration = Duration::from_secs(10);

/// A mesh with telemetry (`enable` = the opt-in instruments on), a backend failing its next two
/// calls UNAVAILABLE, and one retried call through a static channel; returns the channel target.
async fn retried_call(
    enable: bool,
    backends: &Backends,
) -> anyhow::Result<(Mesh, String, GreeterClient<meshwork::MeshChannel>)> {
    let mut telemetry = Telemetry::builder();
    if enable {
        telemetry = telemetry.enable_metrics(OPTIONAL_METRICS)?;
    }
    let mesh = Mesh::builder()
        .service_name("telemetry-lb")
        .telemetry(telemetry.build()?)
        .build()?;
    let channel = mesh
        .static_channel()
        .endpoints([backends[0].addr().to_string()])
        .retry(RetryPolicy {
            retry_on: vec![Code::Unavailable],
            num_retries: 3,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(40),
        })
        .build()?;
    let target = channel.target().to_owned();
    let mut client = GreeterClient::new(channel);
    backends[0].behavior().fail_next(2, Code::Unavailable);
    client
        .say_hello(HelloRequest { name: "r".into() })
        .await
        .context("the third attempt must succeed")?;
    Ok((mesh, target, client))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_and_connections_are_recorded_when_enabled() -> anyhow::Result<()> {
    let mut backends = Backends::start(1).await?;
    let (mesh, target, _client) = retried_call(true, &backends).await?;
    let t = format!("grpc_target=\"{target}\"");
    let method = "grpc_method=\"helloworld.Greeter/SayHello\"";
    let labels = [t.as_str(), method];

    let text = mesh.telemetry().prometheus_text();
    ensure!(
        sample(&text, "grpc_client_call_retries_count", &labels) == Some(1.0)
            && sample(&text, "grpc_client_call_retries_sum", &labels) == Some(2.0),
        "one call with 2 retries expected:\n{text}"
    );
    let delay = sample(&text, "grpc_client_call_retry_delay_seconds_sum", &labels);
    ensure!(
        delay.is_some_and(|d| d > 0.0 && d <= 0.08),
        "retry_delay: two backoffs of at most 40 ms expected, got {delay:?}:\n{text}"
    );
    ensure!(
        sample(&text, "grpc_client_call_transparent_retries_count", &[]).is_none(),
        "no transparent retry happened:\n{text}"
    );
    ensure!(
        sample(&text, "grpc_subchannel_open_connections", &[&t]) == Some(1.0)
            && sample(
                &text,
                "grpc_subchannel_connection_attempts_succeeded_total",
                &[&t]
            ) == Some(1.0),
        "one open connection expected:\n{text}"
    );

    backends[0].stop().await;
    wait_for_text(
        mesh.telemetry(),
        WITHIN,
        "the disconnection of the killed backend",
        |text| {
            // The client may reconnect once while the backend is still draining, so count
            // disconnections against successful connects rather than expecting exactly one.
            let disconnections = sample(text, "grpc_subchannel_disconnections_total", &[&t]);
            let connects = sample(
                text,
                "grpc_subchannel_connection_attempts_succeeded_total",
                &[&t],
            );
            sample(text, "grpc_subchannel_open_connections", &[&t]) == Some(0.0)
                && disconnections.is_some_and(|n| n >= 1.0)
                && disconnections == connects
        },
    )
    .await?;
    // round_robin reconnects at once; the dead port refuses it.
    wait_for_text(
        mesh.telemetry(),
        WITHIN,
        "a failed reconnection attempt",
        |text| {
            sample(
                text,
                "grpc_subchannel_connection_attempts_failed_total",
                &[&t],
            )
            .is_some_and(|n| n >= 1.0)
        },
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_recorded_while_the_switch_is_off() -> anyhow::Result<()> {
    let mut backends = Backends::start(1).await?;
    let (mesh, target, _client) = retried_call(false, &backends).await?;
    backends[0].stop().await;
    // The A66 metrics of the same call are there, so the scrape works.
    let t = format!("grpc_target=\"{target}\"");
    let text = wait_for_text(
        mesh.telemetry(),
        WITHIN,
        "the A66 attempt counter",
        |text| sample(text, "grpc_client_attempt_started_total", &[&t]) == Some(3.0),
    )
    .await?;
    for series in ["grpc_client_call_retr", "grpc_subchannel_", "grpc_lb_wrr_"] {
        ensure!(
            !text.contains(series),
            "{series} with the switch off:\n{text}"
        );
    }
    Ok(())
}
