//! The demo mesh end to end, in-process over loopback: the embedded control plane, the greeter
//! backends and the SDK client that `meshwork-demo` runs. What a user sees in its first seconds
//! must hold: every backend gets traffic, failures come only from the flaky backend, the live line
//! renders, a killed backend is routed around, and shutdown leaves nothing running.

use std::time::Duration;

use anyhow::{Result, bail, ensure};
use meshwork_examples::demo::{Demo, DemoConfig, DemoHandle, DemoStats};
use tokio::runtime::Handle;
use tokio::time::Instant;

/// Bound on anything that should happen within a few seconds of traffic.
const WAIT: Duration = Duration::from_secs(10);
/// How often the tests look at the stats while waiting.
const POLL: Duration = Duration::from_millis(50);

/// Polls the demo's stats until `done` holds; fails after `bound` with the last stats seen.
async fn wait_for_stats(
    demo: &DemoHandle,
    bound: Duration,
    what: &str,
    done: impl Fn(&DemoStats) -> bool,
) -> Result<DemoStats> {
    let deadline = Instant::now() + bound;
    loop {
        let stats = demo.stats();
        if done(&stats) {
            return Ok(stats);
        }
        if Instant::now() >= deadline {
            bail!(
                "{what} did not happen within {bound:?}; last stats:\n{}\n{}",
                stats.line(),
                stats.summary()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits, bounded, until the runtime has at most `baseline` live tasks.
async fn wait_for_tasks(baseline: usize, bound: Duration) -> Result<()> {
    let metrics = Handle::current().metrics();
    let deadline = Instant::now() + bound;
    while metrics.num_alive_tasks() > baseline {
        ensure!(
            Instant::now() < deadline,
            "{} tasks still alive {bound:?} after shutdown (baseline {baseline})",
            metrics.num_alive_tasks()
        );
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_spreads_traffic_keeps_errors_on_the_flaky_backend_and_stops_cleanly() -> Result<()>
{
    let baseline = Handle::current().metrics().num_alive_tasks();
    let demo = Demo::start(DemoConfig {
        seed: 7,
        ..DemoConfig::default()
    })
    .await?;
    assert!(
        demo.describe()
            .contains(&demo.control_plane_addr().to_string())
    );

    let stats = wait_for_stats(
        &demo,
        WAIT,
        "100 client RPCs, traffic on every backend and a failure injected by b2",
        |s| {
            s.client.total.requests() >= 100
                && s.backends.iter().all(|b| b.total.requests() > 0)
                && s.backend("b2").is_some_and(|b| b.served_failed > 0)
        },
    )
    .await?;

    let client = &stats.client;
    ensure!(
        client.total.success_ratio() >= 0.9,
        "client success ratio {:.3} below 0.9:\n{}",
        client.total.success_ratio(),
        stats.summary()
    );
    // With retries the flaky backend's UNAVAILABLE is absorbed; without, it reaches the client.
    // Either way no other backend fails and every failure is one b2 injected.
    ensure!(client.unattributed_errors == 0, "{}", stats.summary());
    for backend in stats.backends.iter().filter(|b| b.name != "b2") {
        ensure!(backend.total.errors == 0, "{}", stats.summary());
        ensure!(backend.served_failed == 0, "{}", stats.summary());
    }
    // The slow backend's latency shows in its own percentiles, not the fast one's.
    let (b0, b1) = (stats.backend("b0"), stats.backend("b1"));
    let p50 = |b: Option<&meshwork_examples::demo::BackendStats>| b.and_then(|b| b.total.p50);
    ensure!(
        p50(b1) >= Some(Duration::from_millis(20)),
        "{}",
        stats.summary()
    );
    ensure!(p50(b0) < p50(b1), "{}", stats.summary());

    let line = stats.line();
    ensure!(line.starts_with("t="), "{line}");
    for part in [
        "b0 ",
        "b1 ",
        "b2 ",
        "canary ",
        "/s ",
        " err p99 ",
        "| client ok ",
    ] {
        ensure!(line.contains(part), "`{part}` missing from `{line}`");
    }

    let stopped = tokio::time::timeout(WAIT, demo.shutdown()).await;
    ensure!(stopped.is_ok(), "shutdown took longer than {WAIT:?}");
    wait_for_tasks(baseline, WAIT).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_backend_is_routed_around() -> Result<()> {
    let mut demo = Demo::start(DemoConfig {
        seed: 3,
        ..DemoConfig::default()
    })
    .await?;
    wait_for_stats(&demo, WAIT, "traffic on b0", |s| {
        s.backend("b0").is_some_and(|b| b.total.ok > 10)
    })
    .await?;

    let Some(b0) = demo.backends_mut().iter_mut().find(|b| b.name() == "b0") else {
        bail!("the default demo has a backend b0");
    };
    b0.kill().await;
    let b0_before = demo.stats().backend("b0").map_or(0, |b| b.total.ok);

    // A full second without b0 in which the client still succeeds.
    let stats = wait_for_stats(
        &demo,
        WAIT,
        "a second of successful traffic without b0",
        |s| {
            s.backend("b0")
                .is_some_and(|b| b.last_second.requests() == 0)
                && s.client.last_second.ok >= 20
                && s.backend("b1").is_some_and(|b| b.last_second.ok > 0)
        },
    )
    .await?;
    let b0_after = stats.backend("b0").map_or(0, |b| b.total.ok);
    ensure!(b0_after == b0_before, "b0 answered after being killed");

    tokio::time::timeout(WAIT, demo.shutdown()).await?;
    Ok(())
}
