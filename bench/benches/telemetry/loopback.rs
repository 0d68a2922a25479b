//! The loopback arm of the telemetry benchmark: a real tonic greeter over 127.0.0.1, telemetry
//! on vs off, CPU time per RPC from `getrusage`.
//!
//! Laid out as performance-anchors.md §8 asks: the servers run on their own thread (a
//! current-thread runtime), the clients on the calling thread's current-thread runtime, so
//! each side's CPU is measured apart: the client's from `getrusage(RUSAGE_THREAD)` on its
//! thread, the server's as the process's (`RUSAGE_SELF`) minus the client thread's. The sum is
//! the whole cost of an RPC.
//!
//! Two servers and two client channels run side by side: one pair with A66 metrics (Prometheus
//! reader), one with `Telemetry::disabled()` layers. Arms run in ABBA order per block so that
//! drift hits both alike; the report gives ns of CPU per RPC per arm and side, their difference
//! and the median of the per-block on/off ratios.

use std::time::Duration;

use meshwork::channel::MeshChannel;
use tower::Layer as _;

use crate::floor::{Floor, FloorLayer};
use meshwork::telemetry::{
    AttemptMetrics, AttemptMetricsLayer, CallMetricsLayer, ServerMetricsLayer, Telemetry,
};
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

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

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

/// What the loopback arm measured for one side (or both together).
pub struct Measure {
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

impl Measure {
    fn new(total: [f64; 2], per_arm: f64, mut ratios: Vec<f64>) -> Self {
        ratios.sort_by(f64::total_cmp);
        Self {
            off_ns: total[0] / per_arm,
            on_ns: total[1] / per_arm,
            median_ratio: median(&ratios),
            min_ratio: ratios.first().copied().unwrap_or(f64::NAN),
            max_ratio: ratios.last().copied().unwrap_or(f64::NAN),
        }
    }

    /// `off … metrics … on-off … median block ratio … (min …, max …)`.
    pub fn line(&self) -> String {
        format!(
            "off {:>6.0}  metrics {:>6.0}  on-off {:+6.0} ns/RPC  median block ratio {:.3} (min {:.3}, max {:.3})",
            self.off_ns,
            self.on_ns,
            self.on_ns - self.off_ns,
            self.median_ratio,
            self.min_ratio,
            self.max_ratio,
        )
    }
}

/// What the loopback arm measured: per side and for the whole RPC.
pub struct Report {
    /// The client thread (channel, telemetry layers, its hyper connection).
    pub client: Measure,
    /// The server thread (tonic server, its telemetry layer, the handler).
    pub server: Measure,
    /// Both.
    pub total: Measure,
}

impl Report {
    /// One line per side.
    pub fn lines(&self) -> String {
        format!(
            "  client side   {}\n  server side   {}\n  whole RPC     {}",
            self.client.line(),
            self.server.line(),
            self.total.line()
        )
    }
}

/// CPU time (user + system) so far of this process and of the calling thread, in ns.
fn cpu_ns() -> Result<Cpu, BoxError> {
    let ns = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 * 1e9 + t.tv_usec() as f64 * 1e3;
    let total = getrusage(UsageWho::RUSAGE_SELF)?;
    let thread = getrusage(UsageWho::RUSAGE_THREAD)?;
    Ok(Cpu {
        client: ns(thread.user_time()) + ns(thread.system_time()),
        total: ns(total.user_time()) + ns(total.system_time()),
    })
}

/// CPU time of the client (calling) thread and of the whole process.
#[derive(Clone, Copy, Default)]
pub struct Cpu {
    /// The calling thread: the client side.
    pub client: f64,
    /// The process: client + server thread.
    pub total: f64,
}

impl Cpu {
    fn per_rpc_since(self, before: Cpu, n: u32) -> Cpu {
        let n = f64::from(n);
        Cpu {
            client: (self.client - before.client) / n,
            total: (self.total - before.total) / n,
        }
    }

    /// The server thread's share.
    pub fn server(self) -> f64 {
        self.total - self.client
    }
}

/// The thread the greeter servers run on (a current-thread runtime of its own).
struct ServerThread(tokio::runtime::Handle);

impl ServerThread {
    /// The process's one server thread, started on first use.
    fn get() -> Result<&'static ServerThread, BoxError> {
        static THREAD: std::sync::OnceLock<Option<ServerThread>> = std::sync::OnceLock::new();
        THREAD
            .get_or_init(|| {
                let (tx, rx) = std::sync::mpsc::channel();
                std::thread::Builder::new()
                    .name("bench-server".into())
                    .spawn(move || {
                        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                        else {
                            return;
                        };
                        if tx.send(rt.handle().clone()).is_ok() {
                            rt.block_on(std::future::pending::<()>());
                        }
                    })
                    .ok()?;
                rx.recv().ok().map(ServerThread)
            })
            .as_ref()
            .ok_or_else(|| "could not start the server thread".into())
    }
}

/// Servers run on the calling thread's runtime instead of the server thread (for callgrind:
/// one thread keeps instruction counts repeatable; two threads' wake-ups vary run to run).
static SAME_THREAD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Serves a greeter with `telemetry`'s server layer on 127.0.0.1, on the server thread (or this
/// thread's runtime, see [`SAME_THREAD`]); returns its address.
fn serve_greeter(telemetry: &Telemetry) -> Result<std::net::SocketAddr, BoxError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let layer = ServerMetricsLayer::new(telemetry);
    let serve = async move {
        let Ok(listener) = TcpListener::from_std(listener) else {
            return;
        };
        let served = Server::builder()
            .layer(layer)
            .add_service(GreeterServer::new(Greet))
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await;
        if let Err(e) = served {
            eprintln!("bench greeter server failed: {e}");
        }
    };
    if SAME_THREAD.load(std::sync::atomic::Ordering::Relaxed) {
        tokio::spawn(serve);
    } else {
        ServerThread::get()?.0.spawn(serve);
    }
    Ok(addr)
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
    let addr = serve_greeter(server)?;
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

/// A greeter server with telemetry off and a plain tonic channel under the observation floor
/// layer (`floor.rs`), on or off.
async fn floor_arm(on: bool) -> Result<GreeterClient<Floor<tonic::transport::Channel>>, BoxError> {
    let addr = serve_greeter(&Telemetry::disabled())?;
    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    Ok(GreeterClient::new(FloorLayer(on).layer(channel)))
}

type Client = meshwork::telemetry::CallMetrics<
    meshwork::telemetry::AttemptMetrics<tonic::transport::Channel>,
>;

/// A greeter server with `telemetry`'s layer and a `MeshChannel` to it (static endpoint, round
/// robin, a retry policy armed that never fires) with `telemetry` on the channel: Meshwork's
/// whole client stack, as an application uses it.
async fn mesh_arm(telemetry: &Telemetry) -> Result<GreeterClient<MeshChannel>, BoxError> {
    split_mesh_arm(telemetry, telemetry).await
}

/// Like [`mesh_arm`] with `client`'s telemetry on the channel and `server`'s on the server.
async fn split_mesh_arm(
    client: &Telemetry,
    server: &Telemetry,
) -> Result<GreeterClient<MeshChannel>, BoxError> {
    let addr = serve_greeter(server)?;
    let retry = RetryPolicy {
        retry_on: vec![Code::Unavailable],
        num_retries: 2,
        initial_backoff: Duration::from_millis(25),
        max_backoff: Duration::from_millis(250),
    };
    let channel = MeshChannel::builder()
        .endpoints([addr.to_string().as_str()])
        .retry(retry)
        .telemetry(client)
        .build()?;
    Ok(GreeterClient::new(channel))
}

/// CPU ns per RPC over `n` sequential unary RPCs.
async fn segment<C>(client: &mut GreeterClient<C>, n: u32) -> Result<Cpu, BoxError>
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
    Ok(cpu_ns()?.per_rpc_since(before, n))
}

/// Runs `n` RPCs through `telemetry`'s arm only (a `MeshChannel` one if `mesh`; the floor arm,
/// on or off, if `floor` is set), with telemetry on `side` (the other side off), for profilers;
/// returns CPU ns per RPC. Client and server share this thread here (repeatable counts).
pub async fn single(
    telemetry: &Telemetry,
    side: Side,
    pair: Pair,
    n: u32,
) -> Result<Cpu, BoxError> {
    SAME_THREAD.store(true, std::sync::atomic::Ordering::Relaxed);
    let off = Telemetry::disabled();
    let (client_t, server_t) = match side {
        Side::Both => (telemetry, telemetry),
        Side::Client => (telemetry, &off),
        Side::Server => (&off, telemetry),
    };
    match pair {
        Pair::Floor(on) => measure(floor_arm(on).await?, n).await,
        Pair::Mesh => measure(split_mesh_arm(client_t, server_t).await?, n).await,
        Pair::OneLayer => measure(one_layer_arm(client_t, server_t).await?, n).await,
        Pair::Tonic => measure(split_arm(client_t, server_t).await?, n).await,
    }
}

/// Which client a single-arm run drives.
#[derive(Clone, Copy, Debug)]
pub enum Pair {
    /// A tonic channel under the call and attempt layers.
    Tonic,
    /// A tonic channel under one `AttemptMetricsLayer::with_call`.
    OneLayer,
    /// A `MeshChannel`.
    Mesh,
    /// A tonic channel under the observation floor layer, on or off.
    Floor(bool),
}

impl Pair {
    /// From a `MESHWORK_BENCH_LOOPBACK` arm name: `off|metrics`, `one-off|one`,
    /// `mesh-off|mesh-metrics`, `floor-off|floor`.
    pub fn from_arm(arm: &str) -> Self {
        if arm.starts_with("mesh-") {
            Self::Mesh
        } else if arm.starts_with("one") {
            Self::OneLayer
        } else if let Some(rest) = arm.strip_prefix("floor") {
            Self::Floor(rest != "-off")
        } else {
            Self::Tonic
        }
    }
}

/// Warms `client` up, then measures `n` RPCs.
async fn measure<C>(mut client: GreeterClient<C>, n: u32) -> Result<Cpu, BoxError>
where
    C: GrpcService<tonic::body::Body>,
    C::Error: Into<BoxError>,
    C::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <C::ResponseBody as http_body::Body>::Error: Into<BoxError> + Send,
{
    segment(&mut client, n / 4 + 1).await?;
    segment(&mut client, n).await
}

/// A greeter server with `server`'s layer and a tonic channel under one
/// `AttemptMetricsLayer::with_call` (call and attempt in one layer) with `client`'s telemetry.
async fn one_layer_arm(
    client: &Telemetry,
    server: &Telemetry,
) -> Result<GreeterClient<AttemptMetrics<tonic::transport::Channel>>, BoxError> {
    let addr = serve_greeter(server)?;
    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let layer = AttemptMetricsLayer::with_call(client, format!("dns:///{addr}"));
    Ok(GreeterClient::new(layer.layer(channel)))
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

/// Like [`run`] with one `AttemptMetricsLayer::with_call` on the client instead of the call and
/// attempt layers; telemetry on both sides.
pub async fn run_one_layer(on: &Telemetry, n: u32, blocks: usize) -> Result<Report, BoxError> {
    let off = Telemetry::disabled();
    abba(
        [
            one_layer_arm(&off, &off).await?,
            one_layer_arm(on, on).await?,
        ],
        n,
        blocks,
    )
    .await
}

/// Like [`run`] with the observation floor (`floor.rs`) on the client of the measured arm and
/// telemetry off everywhere.
pub async fn run_floor(n: u32, blocks: usize) -> Result<Report, BoxError> {
    abba([floor_arm(false).await?, floor_arm(true).await?], n, blocks).await
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
    // [client, server, total] × [off, on]
    let mut total = [[0.0f64; 2]; 3];
    let mut ratios: [Vec<f64>; 3] = Default::default();
    for b in 0..blocks {
        // ABBA, starting with the other arm every block.
        let order = if b % 2 == 0 {
            [0, 1, 1, 0]
        } else {
            [1, 0, 0, 1]
        };
        let mut block = [[0.0f64; 2]; 3];
        for i in order {
            let cpu = segment(&mut clients[i], n).await?;
            block[0][i] += cpu.client;
            block[1][i] += cpu.server();
            block[2][i] += cpu.total;
        }
        for side in 0..3 {
            total[side][0] += block[side][0];
            total[side][1] += block[side][1];
            ratios[side].push(block[side][1] / block[side][0]);
        }
    }
    let per_arm = 2.0 * blocks as f64;
    let [rc, rs, rt] = ratios;
    Ok(Report {
        client: Measure::new(total[0], per_arm, rc),
        server: Measure::new(total[1], per_arm, rs),
        total: Measure::new(total[2], per_arm, rt),
    })
}

fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}
