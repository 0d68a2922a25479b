//! SDK channels for the end-to-end tests of `MeshChannel`: a [`meshwork::Mesh`] pointed at the
//! dev control plane, a tonic `GreeterClient` over its channel, and bounded waits on where the
//! client's RPCs land.
//!
//! The waits port psm-interop's `assertRpcsEventuallyGoToGivenServers` (see
//! `reference/interop-and-conformance.md`): send batches until one batch succeeds entirely on
//! exactly the expected backends, giving up after a bound with the last batch in the error.
//! Waits on RPCs never sleep; [`poll_until`] probes counters that have no notification.
//! Backends and meshes come from [`crate::backend`], control planes from
//! [`crate::control_plane`].

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use meshwork::channel::ChannelOptions;
use meshwork::connection::ConnectOptions;
use meshwork::xds::BackoffConfig;
use meshwork::{Mesh, MeshChannel, MeshOptions};
use meshwork_examples::xds_server::ServerHandle;
use meshwork_proto::helloworld::greeter_client::GreeterClient;
use meshwork_proto::helloworld::{HelloReply, HelloRequest};
use tokio::time::Instant;
use tonic::{Request, Status};

use crate::backend::{Tally, say_hello_batch};
use crate::control_plane::{bootstrap_for, fast_reconnect};

/// A tonic client over a Meshwork channel, exactly as an application would hold it.
pub type MeshGreeter = GreeterClient<MeshChannel>;

/// Seed of every test channel's randomness (routing draws, balancer start indexes).
pub const CHANNEL_SEED: u64 = 11;
/// Default bound on waits for the client to follow a configuration change.
pub const SETTLE: Duration = Duration::from_secs(10);

/// Mesh options for tests: the given resolution timeout, a fixed seed, endpoint reconnects
/// within 50–200 ms and control-plane reconnects from 200 ms.
pub fn mesh_options(resolve_timeout: Duration) -> MeshOptions {
    MeshOptions {
        channel: ChannelOptions {
            resolve_timeout,
            seed: Some(CHANNEL_SEED),
            ..ChannelOptions::default()
        },
        connect: fast_connect(),
        xds: fast_reconnect(Duration::from_millis(200)),
    }
}

/// Endpoint connection options for tests: reconnect backoff 50 ms → 200 ms, seeded jitter.
pub fn fast_connect() -> ConnectOptions {
    ConnectOptions {
        backoff: BackoffConfig {
            base: Duration::from_millis(50),
            max: Duration::from_millis(200),
            ..BackoffConfig::default()
        },
        min_connect_timeout: Duration::from_secs(2),
        seed: Some(3),
    }
}

/// A Meshwork [`Mesh`] for node `node_id` whose bootstrap names only `server`.
pub fn sdk_mesh(server: &ServerHandle, node_id: &str, options: MeshOptions) -> Result<Mesh> {
    Mesh::with_options(bootstrap_for(server.local_addr(), node_id), options)
        .with_context(|| format!("create the SDK mesh for node `{node_id}`"))
}

/// A `GreeterClient` over `mesh`'s channel to `target` (e.g. `xds:///greeter:50051`).
pub async fn greeter(mesh: &Mesh, target: &str) -> Result<MeshGreeter> {
    let channel = mesh
        .channel(target)
        .await
        .with_context(|| format!("open a mesh channel to `{target}`"))?;
    Ok(GreeterClient::new(channel))
}

/// A `SayHello` request carrying `headers` as metadata.
pub fn hello(name: &str, headers: &[(&'static str, &str)]) -> Result<Request<HelloRequest>> {
    let mut request = Request::new(HelloRequest {
        name: name.to_owned(),
    });
    for (key, value) in headers {
        let value = value
            .parse()
            .with_context(|| format!("metadata value `{value}` for `{key}`"))?;
        request.metadata_mut().insert(*key, value);
    }
    Ok(request)
}

/// One `SayHello` with `headers`; the reply or the status.
pub async fn say_hello(
    client: &mut MeshGreeter,
    headers: &[(&'static str, &str)],
) -> Result<std::result::Result<HelloReply, Status>> {
    let outcome = client.say_hello(hello("e2e", headers)?).await;
    Ok(outcome.map(tonic::Response::into_inner))
}

/// One `SayHelloStream` with `headers`, read to its end (bounded by [`SETTLE`]); the backends
/// that sent each reply, or the status of the first failure.
pub async fn say_hello_stream(
    client: &mut MeshGreeter,
    headers: &[(&'static str, &str)],
) -> Result<std::result::Result<Vec<String>, Status>> {
    let request = hello("e2e", headers)?;
    let read = async {
        let mut stream = client.say_hello_stream(request).await?.into_inner();
        let mut backends = Vec::new();
        while let Some(reply) = stream.message().await? {
            backends.push(reply.backend);
        }
        Ok::<_, Status>(backends)
    };
    tokio::time::timeout(SETTLE, read)
        .await
        .with_context(|| format!("a SayHelloStream did not end within {SETTLE:?}"))
}

/// Calls until every backend of `names` has answered at least once (the warm-up of the interop
/// round-robin case). Failures are allowed while endpoints connect; gives up after `bound`.
pub async fn warm_up(client: &mut MeshGreeter, names: &[&str], bound: Duration) -> Result<Tally> {
    let deadline = Instant::now() + bound;
    let mut tally = Tally::default();
    while !names.iter().all(|n| tally.backend(n) > 0) {
        if Instant::now() >= deadline {
            bail!(
                "warm-up: not every backend of {names:?} answered within {bound:?}; saw {tally:?}"
            );
        }
        tally.merge(&say_hello_batch(client, names.len()).await);
    }
    Ok(tally)
}

/// Sends batches of `batch` calls until one batch succeeds entirely and is answered by exactly
/// the backends `names`; returns that batch. Gives up after `bound` with the last batch.
pub async fn wait_for_backends(
    client: &mut MeshGreeter,
    names: &[&str],
    batch: usize,
    bound: Duration,
) -> Result<Tally> {
    let expected: BTreeSet<&str> = names.iter().copied().collect();
    let deadline = Instant::now() + bound;
    loop {
        let tally = say_hello_batch(client, batch).await;
        let seen: BTreeSet<&str> = tally.by_backend.keys().map(String::as_str).collect();
        if tally.failed() == 0 && seen == expected {
            return Ok(tally);
        }
        if Instant::now() >= deadline {
            bail!(
                "RPCs did not go to exactly {expected:?} within {bound:?}; last batch of {batch}: \
                 {tally:?}"
            );
        }
    }
}

/// Pause between two probes of a condition that has no change notification (backend counters).
pub const PROBE: Duration = Duration::from_millis(5);

/// Waits until `done` holds, probing every [`PROBE`]; gives up after `bound` naming `what`.
pub async fn poll_until(what: &str, bound: Duration, mut done: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + bound;
    while !done() {
        if Instant::now() >= deadline {
            bail!("{what}: not reached within {bound:?}");
        }
        tokio::time::sleep(PROBE).await;
    }
    Ok(())
}

/// Whether every call of `tally` succeeded on one of `names`.
pub fn only_on(tally: &Tally, names: &[&str]) -> bool {
    tally.failed() == 0 && tally.by_backend.keys().all(|b| names.contains(&b.as_str()))
}
