//! xDS routing through `MeshChannel`, end to end over loopback: path, prefix and header matchers
//! (gRFC A28; the interop `path_matching` / `header_matching` cases) send each RPC type to the
//! cluster the route configuration names; an RPC no route matches, and a target the control plane
//! has no Listener for, fail `UNAVAILABLE` with a message that names what is missing.
//!
//! Real greeter backends, the dev control plane in-process and an unchanged tonic
//! `GreeterClient`; every wait is bounded.

use std::time::Duration;

use anyhow::{Result, ensure};
use meshwork_examples::xds_server::mesh::{HeaderMatch, Route, RouteMatch};
use meshwork_tests::backend::{Backends, ClusterSpec, LocalitySpec, MeshSpec, say_hello_batch};
use meshwork_tests::channel::{
    MeshGreeter, SETTLE, greeter, mesh_options, only_on, say_hello, say_hello_stream, sdk_mesh,
    wait_for_backends,
};
use meshwork_tests::start_control_plane;
use tokio::time::Instant;
use tonic::Code;

const SAY_HELLO: &str = "/helloworld.Greeter/SayHello";

fn header(name: &str) -> HeaderMatch {
    HeaderMatch {
        name: name.into(),
        ..HeaderMatch::default()
    }
}

fn route(matcher: RouteMatch, cluster: &str) -> Route {
    Route {
        matcher,
        cluster: Some(cluster.into()),
        ..Route::default()
    }
}

/// Cluster `unary` = b0, b1; cluster `stream` = b2. In match order:
/// 1. any Greeter method with `x-canary: yes` → `stream`;
/// 2. path `/helloworld.Greeter/SayHello` unless `x-blocked` is present → `unary`;
/// 3. prefix `/helloworld.Greeter/SayHelloS` → `stream`.
fn routed_mesh(backends: &Backends) -> MeshSpec {
    let canary = RouteMatch {
        prefix: Some("/helloworld.Greeter/".into()),
        headers: vec![HeaderMatch {
            exact: Some("yes".into()),
            ..header("x-canary")
        }],
        ..RouteMatch::default()
    };
    let unary = RouteMatch {
        path: Some(SAY_HELLO.into()),
        headers: vec![HeaderMatch {
            present: Some(true),
            invert: true,
            ..header("x-blocked")
        }],
        ..RouteMatch::default()
    };
    let stream = RouteMatch {
        prefix: Some("/helloworld.Greeter/SayHelloS".into()),
        ..RouteMatch::default()
    };
    MeshSpec::new("greeter", 50051)
        .cluster(
            ClusterSpec::new("unary").locality(
                LocalitySpec::new("a").endpoints([backends[0].addr(), backends[1].addr()]),
            ),
        )
        .cluster(
            ClusterSpec::new("stream")
                .locality(LocalitySpec::new("b").endpoints([backends[2].addr()])),
        )
        .routes([
            route(canary, "stream"),
            route(unary, "unary"),
            route(stream, "stream"),
        ])
}

async fn stream_lands_on(client: &mut MeshGreeter, headers: &[(&'static str, &str)]) -> Result<()> {
    let replies = say_hello_stream(client, headers).await??;
    ensure!(
        !replies.is_empty() && replies.iter().all(|b| b == "b2"),
        "SayHelloStream {headers:?} on cluster `stream` (b2): {replies:?}"
    );
    Ok(())
}

#[tokio::test]
async fn path_prefix_and_header_routes_send_each_rpc_to_its_cluster() -> Result<()> {
    let backends = Backends::start(3).await?;
    let spec = routed_mesh(&backends);
    let server = start_control_plane(spec.build()?).await?;
    let mesh = sdk_mesh(&server, "routing", mesh_options(SETTLE))?;
    let mut client = greeter(&mesh, &spec.target()).await?;

    // Path route: SayHello goes to `unary`, balanced over both of its backends.
    wait_for_backends(&mut client, &["b0", "b1"], 10, SETTLE).await?;
    let unary = say_hello_batch(&mut client, 20).await;
    ensure!(
        only_on(&unary, &["b0", "b1"]),
        "SayHello on `unary`: {unary:?}"
    );

    // Prefix route: SayHelloStream goes to `stream`.
    for _ in 0..3 {
        stream_lands_on(&mut client, &[]).await?;
    }

    // Exact header route wins over the path route, for either method.
    for _ in 0..10 {
        let reply = say_hello(&mut client, &[("x-canary", "yes")]).await??;
        ensure!(
            reply.backend == "b2",
            "x-canary: yes → `stream`, got {}",
            reply.backend
        );
    }
    stream_lands_on(&mut client, &[("x-canary", "yes")]).await?;
    let reply = say_hello(&mut client, &[("x-canary", "no")]).await??;
    ensure!(
        ["b0", "b1"].contains(&reply.backend.as_str()),
        "x-canary: no keeps SayHello on `unary`, got {}",
        reply.backend
    );

    // The inverted presence matcher only excludes SayHello; the stream route has no header.
    stream_lands_on(&mut client, &[("x-blocked", "1")]).await?;
    Ok(())
}

#[tokio::test]
async fn an_rpc_no_route_matches_fails_unavailable_naming_its_path() -> Result<()> {
    let backends = Backends::start(3).await?;
    let spec = routed_mesh(&backends);
    let server = start_control_plane(spec.build()?).await?;
    let mesh = sdk_mesh(&server, "no-route", mesh_options(SETTLE))?;
    let mut client = greeter(&mesh, &spec.target()).await?;
    wait_for_backends(&mut client, &["b0", "b1"], 10, SETTLE).await?;
    let served_before = backends.total_served();

    // SayHello with `x-blocked` matches neither the canary, the SayHello nor the stream route.
    let status = say_hello(&mut client, &[("x-blocked", "1")])
        .await?
        .err()
        .ok_or_else(|| anyhow::anyhow!("a SayHello no route matches must fail"))?;
    ensure!(status.code() == Code::Unavailable, "{status:?}");
    ensure!(
        status.message().contains(&format!("`{SAY_HELLO}`")),
        "the message names the path: {}",
        status.message()
    );
    ensure!(
        backends.total_served() == served_before,
        "no backend saw the unroutable call"
    );
    // The channel keeps serving routable calls.
    let reply = say_hello(&mut client, &[]).await??;
    ensure!(["b0", "b1"].contains(&reply.backend.as_str()), "{reply:?}");
    Ok(())
}

#[tokio::test]
async fn a_target_without_a_listener_fails_unavailable_within_the_resolve_timeout() -> Result<()> {
    const RESOLVE: Duration = Duration::from_millis(500);
    /// Slack for loopback I/O and scheduling on a shared machine.
    const SLACK: Duration = Duration::from_secs(2);
    let backends = Backends::start(3).await?;
    let server = start_control_plane(backends.mesh().build()?).await?;
    let mesh = sdk_mesh(&server, "unresolvable", mesh_options(RESOLVE))?;

    let started = Instant::now();
    let mut client = greeter(&mesh, "xds:///nowhere:443").await?;
    let status = say_hello(&mut client, &[])
        .await?
        .err()
        .ok_or_else(|| anyhow::anyhow!("a call to a target without a Listener must fail"))?;
    let elapsed = started.elapsed();
    ensure!(status.code() == Code::Unavailable, "{status:?}");
    ensure!(
        status.message().contains("nowhere:443"),
        "the message names the missing listener: {}",
        status.message()
    );
    ensure!(
        elapsed <= RESOLVE + SLACK,
        "failed after {elapsed:?}, resolve timeout {RESOLVE:?}"
    );

    // Later calls fail at once with the same explanation instead of queueing again.
    let again = Instant::now();
    let status = say_hello(&mut client, &[]).await?.err();
    ensure!(
        status
            .as_ref()
            .is_some_and(|s| s.code() == Code::Unavailable && s.message().contains("nowhere:443")),
        "{status:?}"
    );
    ensure!(again.elapsed() <= SLACK, "took {:?}", again.elapsed());
    ensure!(backends.total_served() == 0, "nothing reached a backend");
    Ok(())
}

/// A LOGICAL_DNS cluster (gRFC A27): the Cluster names `localhost:<port>` and the channel resolves
/// it itself (no EDS), so every call lands on the backend behind that name; repointing the
/// cluster at another port moves the calls there.
#[tokio::test]
async fn a_logical_dns_cluster_is_resolved_by_the_channel_and_follows_updates() -> Result<()> {
    use meshwork_examples::xds_server::mesh::Mesh as MeshFile;

    let backends = Backends::start(2).await?;
    let yaml = |port: u16| {
        format!(
            "services:\n- host: dns\n  port: 50051\n  cluster: by-name\nclusters:\n- name: by-name\n  dns: localhost:{port}\n"
        )
    };
    let mesh_file = |port: u16| MeshFile::from_yaml(&yaml(port));
    let server = start_control_plane(mesh_file(backends[0].addr().port())?).await?;
    let mesh = sdk_mesh(&server, "logical-dns", mesh_options(SETTLE))?;
    let mut client = greeter(&mesh, "xds:///dns:50051").await?;
    wait_for_backends(&mut client, &["b0"], 5, SETTLE).await?;
    let calls = say_hello_batch(&mut client, 20).await;
    ensure!(only_on(&calls, &["b0"]), "localhost:<b0> → b0: {calls:?}");

    server.set_mesh(&mesh_file(backends[1].addr().port())?)?;
    wait_for_backends(&mut client, &["b1"], 5, SETTLE).await?;
    let calls = say_hello_batch(&mut client, 20).await;
    ensure!(only_on(&calls, &["b1"]), "localhost:<b1> → b1: {calls:?}");
    Ok(())
}
