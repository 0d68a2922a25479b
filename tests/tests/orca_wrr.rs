//! Weighted round robin (gRFC A58) driven by per-call backend load reports (ORCA, gRFC A51),
//! end to end over loopback: two tonic greeter servers with `meshwork::orca::OrcaLayer` report
//! the same request rate and different application utilization in every call's trailers; a
//! Meshwork channel with `Lb::WeightedRoundRobin` reads them and sends the lightly loaded
//! backend its share (weights `qps / utilization`: 100 / 0.1 vs 100 / 0.9, so 90 %). The A78
//! WRR metrics (opt-in) show the fallback while no weight was known and the weights after.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use meshwork::orca::{CallMetricRecorder, OrcaLayer};
use meshwork::telemetry::Telemetry;
use meshwork::telemetry::names::{
    WRR_ENDPOINT_WEIGHTS, WRR_RR_FALLBACK, WRR_WEIGHT_NOT_YET_USABLE,
};
use meshwork::xds::resource::cluster::WrrConfig;
use meshwork::{Lb, Mesh, MeshChannel};
use meshwork_proto::helloworld::greeter_client::GreeterClient;
use meshwork_proto::helloworld::greeter_server::{Greeter, GreeterServer};
use meshwork_proto::helloworld::{HelloReply, HelloRequest};
use meshwork_tests::promtool::sample;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;
use tonic::{Request, Response, Status};

/// Bound on waiting for the weights to take effect.
const BOUND: Duration = Duration::from_secs(10);

/// Answers with its name and reports `utilization` at 100 requests per second.
struct Loaded {
    name: &'static str,
    utilization: f64,
}

#[tonic::async_trait]
impl Greeter for Loaded {
    async fn say_hello(&self, req: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        if let Some(recorder) = req.extensions().get::<CallMetricRecorder>() {
            recorder.record_rps_fractional(100.0);
            recorder.record_application_utilization(self.utilization);
        }
        Ok(Response::new(HelloReply {
            message: format!("hello {}", req.into_inner().name),
            backend: self.name.into(),
        }))
    }

    type SayHelloStreamStream = tokio_stream::Empty<Result<HelloReply, Status>>;

    async fn say_hello_stream(
        &self,
        _req: Request<HelloRequest>,
    ) -> Result<Response<Self::SayHelloStreamStream>, Status> {
        Err(Status::unimplemented("not used"))
    }
}

async fn backend(name: &'static str, utilization: f64) -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(
        Server::builder()
            .layer(OrcaLayer::new())
            .add_service(GreeterServer::new(Loaded { name, utilization }))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    Ok(addr)
}

/// Calls `n` times; returns calls per backend name.
async fn spread(
    client: &mut GreeterClient<MeshChannel>,
    n: usize,
) -> Result<HashMap<String, usize>> {
    let mut by = HashMap::new();
    for i in 0..n {
        let reply = client
            .say_hello(HelloRequest {
                name: format!("#{i}"),
            })
            .await
            .context("RPC failed")?;
        *by.entry(reply.into_inner().backend).or_default() += 1;
    }
    Ok(by)
}

#[tokio::test]
async fn load_reports_weight_the_lightly_loaded_backend() -> Result<()> {
    let (light, heavy) = (backend("light", 0.1).await?, backend("heavy", 0.9).await?);
    let telemetry = Telemetry::builder()
        .enable_metrics([
            WRR_RR_FALLBACK,
            WRR_WEIGHT_NOT_YET_USABLE,
            WRR_ENDPOINT_WEIGHTS,
        ])?
        .build()?;
    let mesh = Mesh::builder().telemetry(telemetry).build()?;
    let config = WrrConfig {
        blackout_period: Duration::ZERO,
        weight_update_period: Duration::from_millis(100),
        ..WrrConfig::default()
    };
    let channel = mesh
        .static_channel()
        .endpoints([light.to_string(), heavy.to_string()])
        .load_balancing(Lb::WeightedRoundRobin(config))
        .build()?;
    let mut client = GreeterClient::new(channel);

    // Warm-up: connections open, the first reports arrive (no weight is known before them).
    spread(&mut client, 10).await?;

    // Reports arrive with every call; the scheduler picks them up within its update period.
    let deadline = Instant::now() + BOUND;
    loop {
        let batch = spread(&mut client, 50).await?;
        if batch.get("light").copied().unwrap_or(0) >= 40 {
            break;
        }
        if Instant::now() > deadline {
            bail!("weights never took effect; last batch {batch:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let measured = spread(&mut client, 200).await?;
    let light_share = measured.get("light").copied().unwrap_or(0) as f64 / 200.0;
    ensure!(
        (0.85..=0.95).contains(&light_share),
        "weights 1000 : 111 should give the light backend 90 % of calls: {measured:?}"
    );
    ensure!(
        measured.get("heavy").copied().unwrap_or(0) > 0,
        "the heavy backend still gets calls"
    );

    let text = mesh.telemetry().prometheus_text();
    let fallback = sample(&text, "grpc_lb_wrr_rr_fallback_total", &[]);
    ensure!(
        fallback >= Some(1.0),
        "fallback before weights: {fallback:?}\n{text}"
    );
    let not_yet = sample(
        &text,
        "grpc_lb_wrr_endpoint_weight_not_yet_usable_total",
        &[],
    );
    ensure!(
        not_yet >= Some(2.0),
        "both endpoints had no weight at first: {not_yet:?}\n{text}"
    );
    let weights = sample(&text, "grpc_lb_wrr_endpoint_weights_sum", &[]);
    ensure!(
        weights.is_some_and(|w| w > 1000.0),
        "recorded weights include 1000 and 111: {weights:?}\n{text}"
    );
    Ok(())
}
