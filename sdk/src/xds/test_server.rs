//! Test-only fake control plane: a tonic `AggregatedDiscoveryService` on a loopback socket,
//! plaintext or TLS, that hands each new ADS stream to the test so it can drive the exchange step
//! by step. Shared by the shell tests of the client, TLS, fallback and federation.
//!
//! Not a control plane: it answers nothing on its own. Every wait is bounded by [`BOUND`].

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use meshwork_proto::envoy::service::discovery::v3::aggregated_discovery_service_server::{
    AggregatedDiscoveryService, AggregatedDiscoveryServiceServer,
};
use meshwork_proto::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::transport::ServerTlsConfig;
use tonic::{Request, Response, Status, Streaming};

use crate::xds::{BackoffConfig, ClientOptions};

/// Upper bound of every wait in the shell tests.
pub(crate) const BOUND: Duration = Duration::from_secs(10);

/// One ADS stream as the fake server sees it.
pub(crate) struct FakeStream {
    pub(crate) requests: Streaming<DiscoveryRequest>,
    pub(crate) responses: mpsc::Sender<Result<DiscoveryResponse, Status>>,
}

struct FakeAds {
    streams: mpsc::UnboundedSender<FakeStream>,
}

#[tonic::async_trait]
impl AggregatedDiscoveryService for FakeAds {
    type StreamAggregatedResourcesStream = ReceiverStream<Result<DiscoveryResponse, Status>>;
    type DeltaAggregatedResourcesStream = ReceiverStream<Result<DeltaDiscoveryResponse, Status>>;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamAggregatedResourcesStream>, Status> {
        let (responses, rx) = mpsc::channel(16);
        let _ = self.streams.send(FakeStream {
            requests: request.into_inner(),
            responses,
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn delta_aggregated_resources(
        &self,
        _request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaAggregatedResourcesStream>, Status> {
        Err(Status::unimplemented(
            "the fake serves state of the world only",
        ))
    }
}

/// A running fake control plane.
pub(crate) struct FakeServer {
    pub(crate) addr: SocketAddr,
    pub(crate) streams: mpsc::UnboundedReceiver<FakeStream>,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeServer {
    pub(crate) async fn start() -> FakeServer {
        Self::start_with(None).await
    }

    /// A fake serving TLS with `tls`.
    pub(crate) async fn start_tls(tls: ServerTlsConfig) -> FakeServer {
        Self::start_with(Some(tls)).await
    }

    /// A fake on a fresh loopback port.
    pub(crate) async fn start_with(tls: Option<ServerTlsConfig>) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::serve(listener, tls)
    }

    /// A fake on `addr` (to bring a stopped server back on the same port).
    pub(crate) async fn start_on(addr: SocketAddr) -> FakeServer {
        let listener = TcpListener::bind(addr).await.expect("bind again");
        Self::serve(listener, None)
    }

    fn serve(listener: TcpListener, tls: Option<ServerTlsConfig>) -> FakeServer {
        let addr = listener.local_addr().expect("addr");
        let (tx, streams) = mpsc::unbounded_channel();
        let (shutdown, stop) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut builder = tonic::transport::Server::builder();
            if let Some(tls) = tls {
                builder = builder.tls_config(tls).expect("server tls config");
            }
            let _ = builder
                .add_service(AggregatedDiscoveryServiceServer::new(FakeAds {
                    streams: tx,
                }))
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                    let _ = stop.await;
                })
                .await;
        });
        FakeServer {
            addr,
            streams,
            shutdown: Some(shutdown),
            task,
        }
    }

    pub(crate) async fn next_stream(&mut self) -> FakeStream {
        bounded(self.streams.recv())
            .await
            .expect("a new ADS stream")
    }

    /// Stop accepting; returns once the server is gone (open streams must be dropped first).
    pub(crate) async fn stop(mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        let _ = bounded(&mut self.task).await;
    }
}

impl FakeStream {
    pub(crate) async fn next_request(&mut self) -> DiscoveryRequest {
        bounded(self.requests.message())
            .await
            .expect("request stream failed")
            .expect("request stream ended")
    }

    pub(crate) async fn send(&self, resp: DiscoveryResponse) {
        self.responses.send(Ok(resp)).await.expect("stream open");
    }
}

/// `f`, or a panic once [`BOUND`] passes.
pub(crate) async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(BOUND, f)
        .await
        .expect("condition not reached within the bound")
}

/// Client options for loopback tests: fast backoff, fixed seed, short connect timeout.
pub(crate) fn fast_options() -> ClientOptions {
    ClientOptions {
        backoff: BackoffConfig {
            base: Duration::from_millis(20),
            max: Duration::from_millis(200),
            ..BackoffConfig::default()
        },
        rng_seed: Some(42),
        connect_timeout: Duration::from_secs(2),
        resource_timeout: None,
    }
}
