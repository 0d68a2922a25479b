//! Real greeter backends on loopback for the end-to-end tests: start `n` of them, steer their
//! behaviour and health, kill and revive them on the same port, and tally which backend answered
//! a batch of calls.
//!
//! Each backend is a [`meshwork_examples::greeter`] server (named `b0`, `b1`, ...) with its own
//! seeded [`Behavior`] (seed = index). [`mesh`] writes a `meshwork-xds` mesh naming them, so the
//! channel tests can point an xDS client at exactly these processes. Clients are not made here:
//! tests use a plain tonic channel or the SDK's, as they need.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::{Index, IndexMut};
use std::time::Duration;

use anyhow::{Context, Result};
use meshwork_examples::greeter::{
    Behavior, GreeterBackend, HealthHandle, RunningGreeter, ServeError, Served, serve,
};
use meshwork_proto::helloworld::greeter_client::GreeterClient;
use meshwork_proto::helloworld::{HelloReply, HelloRequest};
use tokio::time::Instant;
use tonic::Code;
use tonic::codegen::{Body, Bytes, StdError};

pub mod mesh;

pub use mesh::{ClusterSpec, LocalitySpec, MeshSpec};

/// How long [`Backend::restart`] keeps retrying the bind while the OS still holds the port.
pub const RESTART_WITHIN: Duration = Duration::from_secs(5);
/// Pause between two bind attempts of a restart.
const REBIND_PAUSE: Duration = Duration::from_millis(20);
/// `SayHelloStream` interval of test backends (the binary's default of 1 s is for humans).
pub const TEST_STREAM_INTERVAL: Duration = Duration::from_millis(20);

/// A set of running greeter backends `b0..bn`.
#[derive(Debug)]
pub struct Backends {
    backends: Vec<Backend>,
}

/// One greeter backend on a fixed loopback port; it keeps its name, behaviour, health and
/// counters across [`stop`](Backend::stop) and [`restart`](Backend::restart).
#[derive(Debug)]
pub struct Backend {
    backend: GreeterBackend,
    health: HealthHandle,
    addr: SocketAddr,
    running: Option<RunningGreeter>,
}

/// Outcome counts of a batch of calls: successes by answering backend, failures by code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Successful replies per backend name.
    pub by_backend: BTreeMap<String, usize>,
    /// Failures per gRPC code (as `i32`, so the map is ordered).
    pub failures: BTreeMap<i32, usize>,
}

impl Backends {
    /// Starts `n` backends named `b0..` on free ports of 127.0.0.1.
    pub async fn start(n: usize) -> Result<Backends> {
        let mut backends = Vec::with_capacity(n);
        for i in 0..n {
            backends.push(Backend::start(i).await?);
        }
        Ok(Backends { backends })
    }

    /// Number of backends.
    pub fn len(&self) -> usize {
        self.backends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.backends.is_empty()
    }

    /// The backends in index order.
    pub fn iter(&self) -> impl Iterator<Item = &Backend> {
        self.backends.iter()
    }

    /// Every address, in index order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.iter().map(Backend::addr).collect()
    }

    /// Every name (`b0`, `b1`, ...), in index order.
    pub fn names(&self) -> Vec<String> {
        self.iter().map(|b| b.name().to_owned()).collect()
    }

    /// Total calls served by all backends.
    pub fn total_served(&self) -> u64 {
        self.iter().map(|b| b.served().total()).sum()
    }

    /// The simplest mesh over these backends: service `greeter:50051` → cluster `greeter`
    /// (round robin) → every backend in one locality. Extend it with the [`MeshSpec`] builders.
    pub fn mesh(&self) -> MeshSpec {
        MeshSpec::new("greeter", 50051).cluster(
            ClusterSpec::new("greeter")
                .locality(LocalitySpec::new("local").endpoints(self.addrs())),
        )
    }
}

impl Index<usize> for Backends {
    type Output = Backend;

    fn index(&self, index: usize) -> &Backend {
        &self.backends[index]
    }
}

impl IndexMut<usize> for Backends {
    fn index_mut(&mut self, index: usize) -> &mut Backend {
        &mut self.backends[index]
    }
}

impl Backend {
    async fn start(index: usize) -> Result<Backend> {
        let backend = GreeterBackend::new(format!("b{index}"))
            .with_behavior(Behavior::new(index as u64))
            .with_stream_interval(TEST_STREAM_INTERVAL);
        let health = HealthHandle::new().await;
        let running = serve(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            backend.clone(),
            &health,
        )
        .await
        .with_context(|| format!("start backend b{index}"))?;
        Ok(Backend {
            addr: running.local_addr(),
            backend,
            health,
            running: Some(running),
        })
    }

    /// The backend's name, as replies carry it.
    pub fn name(&self) -> &str {
        self.backend.name()
    }

    /// Its address (stable across restarts).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The handle steering its latency, errors and hangs.
    pub fn behavior(&self) -> &Behavior {
        self.backend.behavior()
    }

    /// The switch of its `grpc.health.v1` status.
    pub fn health(&self) -> &HealthHandle {
        &self.health
    }

    /// Counters of the calls it served.
    pub fn served(&self) -> &Served {
        self.backend.served()
    }

    /// Whether it is currently serving.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Kills it like a crash: the port closes and open connections are cut, so clients' calls
    /// fail UNAVAILABLE. Does nothing if already stopped.
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }

    /// Serves again on the same port, retrying the bind for up to [`RESTART_WITHIN`].
    /// Does nothing if it is running.
    pub async fn restart(&mut self) -> Result<()> {
        if self.running.is_some() {
            return Ok(());
        }
        let deadline = Instant::now() + RESTART_WITHIN;
        loop {
            match serve(self.addr, self.backend.clone(), &self.health).await {
                Ok(running) => {
                    self.running = Some(running);
                    return Ok(());
                }
                Err(ServeError::Bind { source, .. }) if Instant::now() < deadline => {
                    tracing::debug!(addr = %self.addr, error = %source, "port still held; retrying");
                    tokio::time::sleep(REBIND_PAUSE).await;
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("restart backend {} on {}", self.name(), self.addr)
                    });
                }
            }
        }
    }
}

impl Tally {
    /// Successful calls.
    pub fn ok(&self) -> usize {
        self.by_backend.values().sum()
    }

    /// Failed calls.
    pub fn failed(&self) -> usize {
        self.failures.values().sum()
    }

    /// Failures with `code`.
    pub fn code(&self, code: Code) -> usize {
        self.failures.get(&(code as i32)).copied().unwrap_or(0)
    }

    /// Successes answered by `backend`.
    pub fn backend(&self, backend: &str) -> usize {
        self.by_backend.get(backend).copied().unwrap_or(0)
    }

    /// Adds the counts of `other`.
    pub fn merge(&mut self, other: &Tally) {
        for (backend, n) in &other.by_backend {
            *self.by_backend.entry(backend.clone()).or_default() += n;
        }
        for (code, n) in &other.failures {
            *self.failures.entry(*code).or_default() += n;
        }
    }

    /// Counts one call's outcome.
    pub fn record(&mut self, outcome: Result<&HelloReply, &tonic::Status>) {
        match outcome {
            Ok(reply) => *self.by_backend.entry(reply.backend.clone()).or_default() += 1,
            Err(status) => *self.failures.entry(status.code() as i32).or_default() += 1,
        }
    }
}

/// Counts replies by the backend that sent them.
pub fn count_by_backend<'a>(
    replies: impl IntoIterator<Item = &'a HelloReply>,
) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for reply in replies {
        *counts.entry(reply.backend.clone()).or_default() += 1;
    }
    counts
}

/// Sends `n` sequential `SayHello` calls through `client` (any channel: plain tonic or the mesh)
/// and tallies the outcomes.
pub async fn say_hello_batch<T>(client: &mut GreeterClient<T>, n: usize) -> Tally
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<StdError>,
    T::ResponseBody: Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as Body>::Error: Into<StdError> + Send,
{
    let mut tally = Tally::default();
    for i in 0..n {
        let request = HelloRequest {
            name: format!("call-{i}"),
        };
        let outcome = client.say_hello(request).await;
        tally.record(outcome.as_ref().map(|r| r.get_ref()));
    }
    tally
}
