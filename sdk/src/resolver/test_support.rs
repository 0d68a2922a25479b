//! Test-only fake control plane: a tiny state-of-the-world ADS server on loopback that serves
//! whatever resources a test sets, the way a real SotW control plane does (every response of a
//! type carries all of that type's resources), and logs every request it receives.
//!
//! It answers a request when its name set changes or a stream (re)subscribes, and pushes a new
//! version to every stream when a test changes a type. It does not check ACKs or NACKs, and it
//! serves only SotW (delta is refused).

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use meshwork_proto::envoy::service::discovery::v3::aggregated_discovery_service_server::{
    AggregatedDiscoveryService, AggregatedDiscoveryServiceServer,
};
use meshwork_proto::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use meshwork_proto::google::protobuf::Any;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

use crate::xds::resource::ResourceKind;

/// Upper bound of every wait in tests that use the fake.
pub(crate) const BOUND: Duration = Duration::from_secs(10);

/// The resources of one type and their version.
#[derive(Clone, Debug, Default)]
struct TypeResources {
    version: u64,
    resources: Vec<Any>,
}

type Resources = BTreeMap<ResourceKind, TypeResources>;

/// A running fake control plane. Dropping it stops the server.
pub(crate) struct FakeControlPlane {
    addr: SocketAddr,
    resources: watch::Sender<Resources>,
    requests: mpsc::UnboundedReceiver<DiscoveryRequest>,
    _shutdown: oneshot::Sender<()>,
}

struct Ads {
    resources: watch::Receiver<Resources>,
    requests: mpsc::UnboundedSender<DiscoveryRequest>,
}

impl FakeControlPlane {
    /// Starts serving on an ephemeral loopback port.
    pub(crate) async fn start() -> FakeControlPlane {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (resources, resources_rx) = watch::channel(Resources::new());
        let (log, requests) = mpsc::unbounded_channel();
        let (shutdown, stop) = oneshot::channel::<()>();
        let service = AggregatedDiscoveryServiceServer::new(Ads {
            resources: resources_rx,
            requests: log,
        });
        tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                    let _ = stop.await;
                })
                .await;
        });
        FakeControlPlane {
            addr,
            resources,
            requests,
            _shutdown: shutdown,
        }
    }

    /// Where it listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces every resource of `kind` (a new version, pushed to every stream).
    pub(crate) fn set(&self, kind: ResourceKind, resources: Vec<Any>) {
        self.resources.send_modify(|all| {
            let entry = all.entry(kind).or_default();
            entry.version += 1;
            entry.resources = resources;
        });
    }

    /// Waits (bounded) for a request that satisfies `pred`, skipping the others.
    pub(crate) async fn wait_for_request(
        &mut self,
        pred: impl Fn(&DiscoveryRequest) -> bool,
    ) -> DiscoveryRequest {
        bounded(async {
            loop {
                let req = self.requests.recv().await.expect("server running");
                if pred(&req) {
                    return req;
                }
            }
        })
        .await
    }
}

/// Runs `f` for at most [`BOUND`]; panics (failing the test) if it takes longer.
pub(crate) async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(BOUND, f)
        .await
        .expect("condition not reached within the bound")
}

#[tonic::async_trait]
impl AggregatedDiscoveryService for Ads {
    type StreamAggregatedResourcesStream = ReceiverStream<Result<DiscoveryResponse, Status>>;
    type DeltaAggregatedResourcesStream = ReceiverStream<Result<DeltaDiscoveryResponse, Status>>;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamAggregatedResourcesStream>, Status> {
        let (tx, rx) = mpsc::channel(16);
        let stream = SotwStream {
            incoming: request.into_inner(),
            responses: tx,
            resources: self.resources.clone(),
            log: self.requests.clone(),
            subscribed: BTreeMap::new(),
            sent: BTreeMap::new(),
            nonce: 0,
        };
        // Ends with the client's request stream or when the response stream is dropped.
        tokio::spawn(stream.run());
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

/// One ADS stream as the fake serves it.
struct SotwStream {
    incoming: Streaming<DiscoveryRequest>,
    responses: mpsc::Sender<Result<DiscoveryResponse, Status>>,
    resources: watch::Receiver<Resources>,
    log: mpsc::UnboundedSender<DiscoveryRequest>,
    subscribed: BTreeMap<ResourceKind, Vec<String>>,
    sent: BTreeMap<ResourceKind, u64>,
    nonce: u64,
}

impl SotwStream {
    async fn run(mut self) {
        loop {
            tokio::select! {
                msg = self.incoming.message() => {
                    let Ok(Some(req)) = msg else { return };
                    let _ = self.log.send(req.clone());
                    let Some(kind) = ResourceKind::from_type_url(&req.type_url) else { continue };
                    let changed = self.subscribed.get(&kind) != Some(&req.resource_names);
                    self.subscribed.insert(kind, req.resource_names);
                    if (changed || req.response_nonce.is_empty()) && !self.send(kind).await {
                        return;
                    }
                }
                changed = self.resources.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let kinds: Vec<ResourceKind> = self.subscribed.keys().copied().collect();
                    for kind in kinds {
                        let version = self.resources.borrow().get(&kind).map(|t| t.version);
                        if version.is_some() && self.sent.get(&kind).copied() != version
                            && !self.send(kind).await
                        {
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Sends every resource of `kind`; `false` once the client is gone.
    async fn send(&mut self, kind: ResourceKind) -> bool {
        let current = self
            .resources
            .borrow()
            .get(&kind)
            .cloned()
            .unwrap_or_default();
        self.sent.insert(kind, current.version);
        self.nonce += 1;
        let response = DiscoveryResponse {
            version_info: current.version.to_string(),
            resources: current.resources,
            type_url: kind.type_url().to_string(),
            nonce: self.nonce.to_string(),
            ..Default::default()
        };
        self.responses.send(Ok(response)).await.is_ok()
    }
}
