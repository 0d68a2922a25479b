//! Endpoint and route changes under `MeshChannel`, end to end over loopback: EDS priority
//! failover driven by endpoint health (gRFC A27 priorities; the interop
//! `secondary_locality_gets_requests_on_primary_failure` case) and churn under continuous load
//! with zero failed RPCs (`remove_instance_group`, `change_backend_service`).
//!
//! Real greeter backends, the dev control plane in-process, unchanged tonic `GreeterClient`s.
//! Changes are make-before-break, as a control plane rolls them out: an endpoint leaves EDS first
//! and its process stops only once the client has ACKed the update and moved its traffic away.
//! The load is bounded (2 paced workers, ≤ 10 s, ≤ 5,000 RPCs); every wait is bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use meshwork::xds::resource::ResourceKind;
use meshwork_examples::xds_server::ServerHandle;
use meshwork_examples::xds_server::mesh::{Health, Route};
use meshwork_proto::helloworld::HelloRequest;
use meshwork_tests::backend::{
    Backends, ClusterSpec, LocalitySpec, MeshSpec, Tally, say_hello_batch,
};
use meshwork_tests::channel::{
    MeshGreeter, SETTLE, greeter, mesh_options, only_on, poll_until, sdk_mesh, wait_for_backends,
};
use meshwork_tests::start_control_plane;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

/// Cluster `greeter`: priority 0 = b0, b1 (with `primary_health`), priority 1 = b2.
fn priority_mesh(backends: &Backends, primary_health: Health) -> MeshSpec {
    MeshSpec::new("greeter", 50051).cluster(
        ClusterSpec::new("greeter")
            .locality(
                LocalitySpec::new("primary")
                    .health(primary_health)
                    .endpoints([backends[0].addr(), backends[1].addr()]),
            )
            .locality(
                LocalitySpec::new("secondary")
                    .priority(1)
                    .endpoints([backends[2].addr()]),
            ),
    )
}

/// Pushes `spec` and waits until `node` ACKed `kind` at the new version.
async fn push(
    server: &ServerHandle,
    node: &str,
    spec: &MeshSpec,
    kind: ResourceKind,
) -> Result<()> {
    let version = server.set_mesh(&spec.build()?)?;
    server
        .wait_for_ack(node, kind.type_url(), version, SETTLE)
        .await
        .with_context(|| format!("{node} ACKs {kind} version {version}"))
}

#[tokio::test]
async fn unhealthy_primary_fails_over_to_priority_1_and_back() -> Result<()> {
    const NODE: &str = "failover";
    let backends = Backends::start(3).await?;
    let healthy = priority_mesh(&backends, Health::Healthy);
    let server = start_control_plane(healthy.build()?).await?;
    let mesh = sdk_mesh(&server, NODE, mesh_options(SETTLE))?;
    let mut client = greeter(&mesh, &healthy.target()).await?;

    wait_for_backends(&mut client, &["b0", "b1"], 10, SETTLE).await?;
    let primary = say_hello_batch(&mut client, 30).await;
    ensure!(
        only_on(&primary, &["b0", "b1"]),
        "priority 0 only: {primary:?}"
    );

    let unhealthy = priority_mesh(&backends, Health::Unhealthy);
    push(
        &server,
        NODE,
        &unhealthy,
        ResourceKind::ClusterLoadAssignment,
    )
    .await?;
    wait_for_backends(&mut client, &["b2"], 10, SETTLE).await?;
    let secondary = say_hello_batch(&mut client, 30).await;
    ensure!(
        secondary.failed() == 0 && secondary.backend("b2") == 30,
        "all traffic on priority 1 while priority 0 is unhealthy: {secondary:?}"
    );

    push(&server, NODE, &healthy, ResourceKind::ClusterLoadAssignment).await?;
    wait_for_backends(&mut client, &["b0", "b1"], 10, SETTLE).await?;
    let back = say_hello_batch(&mut client, 30).await;
    ensure!(
        only_on(&back, &["b0", "b1"]),
        "all of the next 30 calls back on priority 0: {back:?}"
    );
    Ok(())
}

/// Upper bound on the load's duration.
const LOAD_FOR: Duration = Duration::from_secs(10);
/// Upper bound on each worker's RPCs (two workers: 5,000 in all).
const LOAD_RPCS: usize = 2_500;
/// One RPC per worker per tick at most (≈ 250 RPC/s per worker).
const LOAD_PACE: Duration = Duration::from_millis(4);

/// Paced workers calling `SayHello` until stopped, out of time or out of RPCs.
struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<Tally>>,
}

impl Load {
    fn start(client: &MeshGreeter, workers: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let deadline = Instant::now() + LOAD_FOR;
        let workers = (0..workers)
            .map(|_| tokio::spawn(worker(client.clone(), stop.clone(), deadline)))
            .collect();
        Load { stop, workers }
    }

    /// Stops the workers and adds up what they saw.
    async fn finish(self) -> Result<Tally> {
        self.stop.store(true, Ordering::Relaxed);
        let mut total = Tally::default();
        for worker in self.workers {
            total.merge(&worker.await.context("load worker panicked")?);
        }
        Ok(total)
    }
}

async fn worker(mut client: MeshGreeter, stop: Arc<AtomicBool>, deadline: Instant) -> Tally {
    let mut tick = tokio::time::interval(LOAD_PACE);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut tally = Tally::default();
    while !stop.load(Ordering::Relaxed)
        && tally.ok() + tally.failed() < LOAD_RPCS
        && Instant::now() < deadline
    {
        tick.tick().await;
        let request = HelloRequest {
            name: "load".into(),
        };
        let outcome = client.say_hello(request).await;
        tally.record(outcome.as_ref().map(|r| r.get_ref()));
    }
    tally
}

fn served(backends: &Backends, which: &[usize]) -> u64 {
    which.iter().map(|&i| backends[i].served().total()).sum()
}

/// Calls the load makes between two steps of the churn (and the window of [`moved_off`]).
const STEP: u64 = 100;

/// Waits until the backends `live` served another [`STEP`] calls.
async fn progress(backends: &Backends, live: &[usize], bound: Duration) -> Result<()> {
    let before = served(backends, live);
    poll_until(
        &format!("backends {live:?} serve {STEP} more calls of the load"),
        bound,
        || served(backends, live) >= before + STEP,
    )
    .await
}

/// Waits until the load has moved off `gone`: a window in which `live` served [`STEP`] calls
/// and `gone` served none.
async fn moved_off(backends: &Backends, gone: &[usize], live: &[usize]) -> Result<()> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let gone_before = served(backends, gone);
        progress(
            backends,
            live,
            deadline.saturating_duration_since(Instant::now()),
        )
        .await?;
        if served(backends, gone) == gone_before {
            return Ok(());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_under_load_loses_no_rpc() -> Result<()> {
    const NODE: &str = "churn";
    let mut backends = Backends::start(5).await?;
    let [b0, b1, b2, b3, b4] = [0, 1, 2, 3, 4].map(|i| backends[i].addr());
    let to = |cluster: &str| Route {
        cluster: Some(cluster.into()),
        ..Route::default()
    };
    let spec = |greeter: &[std::net::SocketAddr], route: &str| {
        MeshSpec::new("greeter", 50051)
            .cluster(
                ClusterSpec::new("greeter")
                    .locality(LocalitySpec::new("a").endpoints(greeter.iter().copied())),
            )
            .cluster(ClusterSpec::new("next").locality(LocalitySpec::new("b").endpoints([b3, b4])))
            .routes([to(route)])
    };
    let initial = spec(&[b0, b1], "greeter");
    let server = start_control_plane(initial.build()?).await?;
    let mesh = sdk_mesh(&server, NODE, mesh_options(SETTLE))?;
    let mut client = greeter(&mesh, &initial.target()).await?;
    wait_for_backends(&mut client, &["b0", "b1"], 10, SETTLE).await?;

    let load = Load::start(&client, 2);
    progress(&backends, &[0, 1], SETTLE).await?;
    // Add an endpoint: it starts taking load.
    push(
        &server,
        NODE,
        &spec(&[b0, b1, b2], "greeter"),
        ResourceKind::ClusterLoadAssignment,
    )
    .await?;
    let b2_before = served(&backends, &[2]);
    poll_until("b2 takes load once added", SETTLE, || {
        served(&backends, &[2]) > b2_before
    })
    .await?;
    progress(&backends, &[0, 1, 2], SETTLE).await?;
    // Remove one: out of EDS first, the process stops only once no traffic goes there.
    push(
        &server,
        NODE,
        &spec(&[b1, b2], "greeter"),
        ResourceKind::ClusterLoadAssignment,
    )
    .await?;
    moved_off(&backends, &[0], &[1, 2]).await?;
    backends[0].stop().await;
    // Switch the route to another cluster; the old one's backends keep running.
    push(
        &server,
        NODE,
        &spec(&[b1, b2], "next"),
        ResourceKind::RouteConfiguration,
    )
    .await?;
    moved_off(&backends, &[1, 2], &[3, 4]).await?;
    let tally = load.finish().await?;

    ensure!(tally.failed() == 0, "no RPC fails during churn: {tally:?}");
    ensure!(
        tally.ok() as u64 >= 4 * STEP && tally.ok() <= 2 * LOAD_RPCS,
        "the load ran: {tally:?}"
    );
    for name in ["b0", "b1", "b2", "b3", "b4"] {
        ensure!(
            tally.backend(name) > 0,
            "{name} took part of the load: {tally:?}"
        );
    }
    let after = say_hello_batch(&mut client, 30).await;
    ensure!(
        only_on(&after, &["b3", "b4"]) && after.backend("b3") > 0 && after.backend("b4") > 0,
        "traffic reaches the new set: {after:?}"
    );
    Ok(())
}
