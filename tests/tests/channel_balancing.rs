//! Client-side load balancing through `MeshChannel`, end to end over loopback: the dev control
//! plane (`meshwork-xds`, in-process), three or more real greeter backends and an unchanged tonic
//! `GreeterClient`. Thresholds are the xDS interop cases' (`round_robin`: ±1 of even over 100;
//! `traffic_splitting`: 5 % over 1,000; `affinity`: one backend per header value) — see
//! `reference/interop-and-conformance.md`. Static channels (no control plane) close the file.
//!
//! Every wait is bounded and condition-based; channels are seeded, so the split is reproducible.

use anyhow::{Result, ensure};
use meshwork::channel::ChannelOptions;
use meshwork::{Lb, MeshChannel};
use meshwork_examples::xds_server::mesh::{HashPolicy, LbPolicy, Route};
use meshwork_proto::helloworld::greeter_client::GreeterClient;
use meshwork_tests::backend::{Backends, ClusterSpec, LocalitySpec, MeshSpec, say_hello_batch};
use meshwork_tests::channel::{
    CHANNEL_SEED, SETTLE, fast_connect, greeter, mesh_options, say_hello, sdk_mesh, warm_up,
};
use meshwork_tests::start_control_plane;

const ALL: [&str; 3] = ["b0", "b1", "b2"];

/// `round_robin` interop case: after every backend has been seen, 99 calls give each of the three
/// 33 ± 1.
#[tokio::test]
async fn xds_round_robin_spreads_calls_evenly_over_three_backends() -> Result<()> {
    let backends = Backends::start(3).await?;
    let spec = backends.mesh();
    let server = start_control_plane(spec.build()?).await?;
    let mesh = sdk_mesh(&server, "rr", mesh_options(SETTLE))?;
    let mut client = greeter(&mesh, &spec.target()).await?;

    warm_up(&mut client, &ALL, SETTLE).await?;
    let tally = say_hello_batch(&mut client, 99).await;
    ensure!(tally.failed() == 0, "every call succeeds: {tally:?}");
    for name in ALL {
        let n = tally.backend(name);
        ensure!((32..=34).contains(&n), "{name} got {n} of 99: {tally:?}");
    }
    Ok(())
}

/// `traffic_splitting` interop case: a 20/80 weighted split holds within 5 points over 1,000
/// calls.
#[tokio::test]
async fn weighted_clusters_split_traffic_20_80() -> Result<()> {
    let backends = Backends::start(3).await?;
    let spec =
        MeshSpec::new("greeter", 50051)
            .cluster(
                ClusterSpec::new("blue")
                    .route_weight(20)
                    .locality(LocalitySpec::new("a").endpoints([backends[0].addr()])),
            )
            .cluster(ClusterSpec::new("green").route_weight(80).locality(
                LocalitySpec::new("b").endpoints([backends[1].addr(), backends[2].addr()]),
            ));
    let server = start_control_plane(spec.build()?).await?;
    let mesh = sdk_mesh(&server, "split", mesh_options(SETTLE))?;
    let mut client = greeter(&mesh, &spec.target()).await?;

    warm_up(&mut client, &ALL, SETTLE).await?;
    let tally = say_hello_batch(&mut client, 1000).await;
    ensure!(tally.failed() == 0, "every call succeeds: {tally:?}");
    let blue = tally.backend("b0");
    let green = tally.backend("b1") + tally.backend("b2");
    ensure!(
        (150..=250).contains(&blue),
        "blue (20 %) got {blue} of 1000: {tally:?}"
    );
    ensure!(
        (750..=850).contains(&green),
        "green (80 %) got {green} of 1000: {tally:?}"
    );
    ensure!(
        tally.backend("b1") > 0 && tally.backend("b2") > 0,
        "green balances over both of its backends: {tally:?}"
    );
    Ok(())
}

/// `affinity` interop case: a ring-hash cluster with a route hash policy on `x-user` keeps one
/// user on one backend, and spreads many users over the backends.
#[tokio::test]
async fn ring_hash_on_a_header_pins_each_user_to_one_backend() -> Result<()> {
    let backends = Backends::start(3).await?;
    let spec = MeshSpec::new("greeter", 50051)
        .cluster(
            ClusterSpec::new("greeter")
                .lb_policy(LbPolicy::RingHash)
                .locality(LocalitySpec::new("a").endpoints(backends.addrs())),
        )
        .routes([Route {
            cluster: Some("greeter".into()),
            hash_policy: vec![HashPolicy {
                header: Some("x-user".into()),
                ..HashPolicy::default()
            }],
            ..Route::default()
        }]);
    let server = start_control_plane(spec.build()?).await?;
    let mesh = sdk_mesh(&server, "ring", mesh_options(SETTLE))?;
    let mut client = greeter(&mesh, &spec.target()).await?;

    let mut pinned = Vec::new();
    for _ in 0..50 {
        pinned.push(say_hello(&mut client, &[("x-user", "ada")]).await??.backend);
    }
    ensure!(
        pinned.iter().all(|b| *b == pinned[0]),
        "user `ada` always lands on one backend: {pinned:?}"
    );

    let mut spread = std::collections::BTreeMap::<String, usize>::new();
    for user in 0..30 {
        let user = format!("user-{user}");
        let reply = say_hello(&mut client, &[("x-user", &user)]).await??;
        let again = say_hello(&mut client, &[("x-user", &user)]).await??;
        ensure!(
            reply.backend == again.backend,
            "{user} moved from {} to {}",
            reply.backend,
            again.backend
        );
        *spread.entry(reply.backend).or_default() += 1;
    }
    ensure!(
        spread.len() >= 2,
        "30 users spread over at least 2 backends (3 expected): {spread:?}"
    );
    Ok(())
}

fn static_channel(backends: &Backends, lb: Lb) -> Result<MeshChannel> {
    Ok(MeshChannel::builder()
        .endpoints(backends.addrs().iter().map(ToString::to_string))
        .load_balancing(lb)
        .connect_options(fast_connect())
        .options(ChannelOptions {
            seed: Some(CHANNEL_SEED),
            ..ChannelOptions::default()
        })
        .build()?)
}

/// No control plane anywhere: a static endpoint list balanced round robin.
#[tokio::test]
async fn static_round_robin_spreads_calls_evenly_without_a_control_plane() -> Result<()> {
    let backends = Backends::start(3).await?;
    let mut client = GreeterClient::new(static_channel(&backends, Lb::RoundRobin)?);

    warm_up(&mut client, &ALL, SETTLE).await?;
    let tally = say_hello_batch(&mut client, 99).await;
    ensure!(tally.failed() == 0, "every call succeeds: {tally:?}");
    for name in ALL {
        let n = tally.backend(name);
        ensure!((32..=34).contains(&n), "{name} got {n} of 99: {tally:?}");
    }
    Ok(())
}

/// pick_first (gRFC A62, no shuffling) sends everything to the first listed endpoint.
#[tokio::test]
async fn static_pick_first_sticks_to_the_first_endpoint() -> Result<()> {
    let backends = Backends::start(3).await?;
    let mut client = GreeterClient::new(static_channel(&backends, Lb::PickFirst)?);

    let tally = say_hello_batch(&mut client, 30).await;
    ensure!(
        tally.failed() == 0 && tally.backend("b0") == 30,
        "all 30 calls on b0: {tally:?}"
    );
    ensure!(
        backends[1].served().total() + backends[2].served().total() == 0,
        "the other endpoints see nothing"
    );
    Ok(())
}

/// `--num_channels`: channels from `Mesh::unshared_channel` balance independently. Calls
/// alternate between two channels; each channel still spreads its own calls evenly over both
/// backends (one shared round-robin picker would send every call of one channel to the same
/// backend), while `Mesh::channel` keeps sharing one channel per target.
#[tokio::test]
async fn unshared_channels_balance_independently() -> Result<()> {
    let backends = Backends::start(2).await?;
    let spec = backends.mesh();
    let server = start_control_plane(spec.build()?).await?;
    let mesh = sdk_mesh(&server, "unshared", mesh_options(SETTLE))?;
    let target = spec.target();
    let (ca, cb) = (
        mesh.unshared_channel(&target).await?,
        mesh.unshared_channel(&target).await?,
    );
    let mut a = GreeterClient::new(ca.clone());
    let mut b = GreeterClient::new(cb.clone());
    let two = ["b0", "b1"];
    warm_up(&mut a, &two, SETTLE).await?;
    warm_up(&mut b, &two, SETTLE).await?;
    let (mut on_a, mut on_b) = (
        meshwork_tests::backend::Tally::default(),
        meshwork_tests::backend::Tally::default(),
    );
    for _ in 0..20 {
        on_a.merge(&say_hello_batch(&mut a, 1).await);
        on_b.merge(&say_hello_batch(&mut b, 1).await);
    }
    for (name, tally) in [("a", &on_a), ("b", &on_b)] {
        ensure!(tally.failed() == 0, "channel {name}: {tally:?}");
        for backend in two {
            let n = tally.backend(backend);
            ensure!(
                (9..=11).contains(&n),
                "channel {name} sent {n} of its 20 calls to {backend}, want 10 ± 1: {tally:?}"
            );
        }
    }
    let shared = mesh.channel(&target).await?;
    let again = mesh.channel(&target).await?;
    ensure!(
        shared.same_channel(&again),
        "Mesh::channel shares one channel per target"
    );
    ensure!(!ca.same_channel(&cb), "unshared channels are distinct");
    Ok(())
}
