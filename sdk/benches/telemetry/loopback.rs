//! The loopback arm of the telemetry benchmark: a real tonic greeter over 127.0.0.1, telemetry
//! on vs off, CPU time per RPC from `getrusage(RUSAGE_SELF)` (client, server and runtime all
//! live in this process on one current-thread runtime, so that is the whole cost of an RPC).
//!
//! Two servers and two client channels run side by side: one pair with A66 metrics (Prometheus
//! reader), one with `Telemetry::disabled()` layers. Arms run in ABBA order per block so that
//! drift hits both alike; the report gives ns of CPU per RPC per arm, their difference and the
//! median of the per-block on/off ratios.

use std::time::Duration;

use meshwork::channel::MeshChannel;
use meshwork::telemetry::{AttemptMetricsLayer, CallMetricsLayer, ServerMetricsLayer, Telemetry};
use meshwork::xds::resource::route::RetryPolicy;
use meshwork_proto::helloworld::greeter_client::GreeterClient;
use meshwork_proto::helloworld::greeter_server::{Greeter, GreeterServer};
use meshwork_proto::helloworld::{HelloReply, HelloRequest};
use nix::sys::resource::{UsageWho, getrusage};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::client::GrpcService;
use tonic::transport::{Endpoint, Server};
use tonic::{Code, Request, Response, Status};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Answers every name.
struct Greet;

#[tonic::async_trait]
impl Greeter for Greet {
    async fn say_hello(&self, req: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        Ok(Response::new(HelloReply {
            message: format!("hello {}", req.into_inner().name),
            backend: "bench".into(),
        }))
    }

    type SayHelloStreamStream = tokio_stream::Empty<Result<HelloReply, Status>>;

    async fn say_hello_stream(
        &self,
        _req: Request<HelloRequest>,
    ) -> Result<Response<Self::SayHelloStreamStream>, Status> {
        Err(Status::unimplemented("not benchmarked"))
    }
}

/// What the loopback arm measured.
pub struct Report {
    /// CPU ns per RPC with telemetry off, on (over all blocks).
    pub off_ns: f64,
    /// See `off_ns`.
    pub on_ns: f64,
    /// Median of the per-block on/off CPU ratios, and their min and max.
    pub median_ratio: f64,
    /// See `median_ratio`.
    pub min_ratio: f64,
    /// See `median_ratio`.
    pub max_ratio: f64,
}

impl Report {
    /// `off … metrics … on-off … median block ratio … (min …, max …)`.
    pub fn line(&self) -> String {
        format!(
            "off {:>6.0}  metrics {:>6.0}  on-off {:+.0} ns/RPC  median block ratio {:.3} (min {:.3}, max {:.3})",
            self.off_ns,
            self.on_ns,
            self.on_ns - self.off_ns,
            self.median_ratio,
            self.min_ratio,
            self.max_ratio,
        )
    }
}

/// CPU time (user + system) of this process so far, in ns.
fn cpu_ns() -> Result<f64, BoxError> {
    let usage = getrusage(UsageWho::RUSAGE_SELF)?;
    let ns = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 * 1e9 + t.tv_usec() as f64 * 1e3;
    Ok(ns(usage.user_time()) + ns(usage.system_time()))
}

/// Which side of the loopback RPC the measured arm turns telemetry on for (the other side keeps
/// `Telemetry::disabled()` layers, as in the off arm).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Client call + attempt layers and the server layer.
    Both,
    /// Client layers only.
    Client,
    /// Server layer only.
    Server,
}

impl Side {
    /// From `MESHWORK_BENCH_SIDE=client|server` (anything else: both).
    pub fn from_env() -> Self {
        match std::env::var("MESHWORK_BENCH_SIDE").as_deref() {
            Ok("client") => Self::Client,
            Ok("server") => Self::Server,
            _ => Self::Both,
        }
    }
}

/// A greeter server and a client channel, both with `telemetry`'s layers.
async fn arm(telemetry: &Telemetry) -> Result<GreeterClient<Client>, BoxError> {
    split_arm(telemetry, telemetry).await
}

/// A greeter server with `server`'s layer and a client channel with `client`'s layers.
async fn split_arm(
    client: &Telemetry,
    server: &Telemetry,
) -> Result<GreeterClient<Client>, BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(
        Server::builder()
            .layer(ServerMetricsLayer::new(server))
            .add_service(GreeterServer::new(Greet))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let target = format!("dns:///{addr}");
    let stack = tower::ServiceBuilder::new()
        .layer(CallMetricsLayer::new(client, target.clone()))
        .layer(AttemptMetricsLayer::new(client, target))
        .service(channel);
    Ok(GreeterClient::new(stack))
}

type Client = meshwork::telemetry::CallMetrics<
    meshwork::telemetry::AttemptMetrics<tonic::transport::Channel>,
>;

/// A greeter server with `telemetry`'s layer and a `MeshChannel` to it (static endpoint, round
/// robin, a retry policy armed that never fires) with `telemetry` on the channel: Meshwork's
/// whole client stack, as an application uses it.
async fn mesh_arm(telemetry: &Telemetry) -> Result<GreeterClient<MeshChannel>, BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(
        Server::builder()
            .layer(ServerMetricsLayer::new(telemetry))
            .add_service(GreeterServer::new(Greet))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let retry = RetryPolicy {
        retry_on: vec![Code::Unavailable],
        num_retries: 2,
        initial_backoff: Duration::from_millis(25),
        max_backoff: Duration::from_millis(250),
    };
    let channel = MeshChannel::builder()
        .endpoints([addr.to_string().as_str()])
        .retry(retry)
        .telemetry(telemetry)
        .build()?;
    Ok(GreeterClient::new(channel))
}

/// CPU ns per RPC over `n` sequential unary RPCs.
async fn segment<C>(client: &mut GreeterClient<C>, n: u32) -> Result<f64, BoxError>
where
    C: GrpcService<tonic::body::Body>,
    C::Error: Into<BoxError>,
    C::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <C::ResponseBody as http_body::Body>::Error: Into<BoxError> + Send,
{
    let before = cpu_ns()?;
    for _ in 0..n {
        let reply = client
            .say_hello(HelloRequest {
                name: "bench".into(),
            })
            .await?;
        std::hint::black_box(reply);
    }
    Ok((cpu_ns()? - before) / f64::from(n))
}

/// Runs `n` RPCs through `telemetry`'s arm only (a `MeshChannel` one if `mesh`), for profilers;
/// returns CPU ns per RPC.
pub async fn single(telemetry: &Telemetry, mesh: bool, n: u32) -> Result<f64, BoxError> {
    if mesh {
        let mut client = mesh_arm(telemetry).await?;
        segment(&mut client, n / 4 + 1).await?;
        return segment(&mut client, n).await;
    }
    let mut client = arm(telemetry).await?;
    segment(&mut client, n / 4 + 1).await?;
    segment(&mut client, n).await
}

/// Runs `blocks` ABBA blocks of `n` RPCs per segment; `on` is the measured arm's telemetry on
/// `side` (pass `Telemetry::disabled()` for an A/A control: its ratio shows the bench's own bias).
pub async fn run(on: &Telemetry, side: Side, n: u32, blocks: usize) -> Result<Report, BoxError> {
    let off = Telemetry::disabled();
    let measured = match side {
        Side::Both => arm(on).await?,
        Side::Client => split_arm(on, &off).await?,
        Side::Server => split_arm(&off, on).await?,
    };
    abba([arm(&off).await?, measured], n, blocks).await
}

/// Like [`run`] with both arms on a `MeshChannel` (see [`mesh_arm`]); telemetry on both sides.
pub async fn run_mesh(on: &Telemetry, n: u32, blocks: usize) -> Result<Report, BoxError> {
    let off = Telemetry::disabled();
    abba([mesh_arm(&off).await?, mesh_arm(on).await?], n, blocks).await
}

/// ABBA blocks of `n` RPCs per segment over `clients` (off, measured).
async fn abba<C>(
    mut clients: [GreeterClient<C>; 2],
    n: u32,
    blocks: usize,
) -> Result<Report, BoxError>
where
    C: GrpcService<tonic::body::Body>,
    C::Error: Into<BoxError>,
    C::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <C::ResponseBody as http_body::Body>::Error: Into<BoxError> + Send,
{
    for c in clients.iter_mut() {
        segment(c, n / 4 + 1).await?; // warm-up: connections, caches, bound series
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    let (mut total, mut ratios) = ([0.0f64; 2], Vec::with_capacity(blocks));
    for b in 0..blocks {
        // ABBA, starting with the other arm every block.
        let order = if b % 2 == 0 {
            [0, 1, 1, 0]
        } else {
            [1, 0, 0, 1]
        };
        let mut block = [0.0f64; 2];
        for i in order {
            block[i] += segment(&mut clients[i], n).await?;
        }
        total[0] += block[0];
        total[1] += block[1];
        ratios.push(block[1] / block[0]);
    }
    ratios.sort_by(f64::total_cmp);
    let per_arm = 2.0 * blocks as f64;
    Ok(Report {
        off_ns: total[0] / per_arm,
        on_ns: total[1] / per_arm,
        median_ratio: median(&ratios),
        min_ratio: ratios.first().copied().unwrap_or(f64::NAN),
        max_ratio: ratios.last().copied().unwrap_or(f64::NAN),
    })
}

fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}
