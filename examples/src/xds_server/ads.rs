//! The ADS gRPC service (`envoy.service.discovery.v3.AggregatedDiscoveryService`): one task per
//! `StreamAggregatedResources` stream drives a [`protocol::StreamProtocol`] with the client's
//! requests and the store's snapshot changes, and records every ACK/NACK in the store.
//!
//! State of the world only: `DeltaAggregatedResources` answers UNIMPLEMENTED (gRPC clients use
//! SotW; Istio does the same for them). A stream task ends when the client closes the stream or
//! the server shuts down.

pub mod protocol;

use std::sync::Arc;

use futures::StreamExt;
use meshwork_proto::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
    aggregated_discovery_service_server::AggregatedDiscoveryService,
};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::state::{AckEvent, Store};
use protocol::StreamProtocol;

/// Responses buffered per stream before the stream task waits for the client to read.
const STREAM_BUFFER: usize = 16;

/// The ADS service handed to tonic.
pub(crate) struct AdsService {
    pub(crate) store: Arc<Store>,
    pub(crate) shutdown: watch::Receiver<bool>,
}

#[tonic::async_trait]
impl AggregatedDiscoveryService for AdsService {
    type StreamAggregatedResourcesStream = ReceiverStream<Result<DiscoveryResponse, Status>>;
    type DeltaAggregatedResourcesStream = ReceiverStream<Result<DeltaDiscoveryResponse, Status>>;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamAggregatedResourcesStream>, Status> {
        let peer = request.remote_addr();
        let inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let store = Arc::clone(&self.store);
        let shutdown = self.shutdown.clone();
        // Owned through `shutdown`: the task ends when the server stops or the client leaves.
        tokio::spawn(async move {
            tracing::debug!(?peer, "ADS stream opened");
            run_stream(store, inbound, tx, shutdown).await;
            tracing::debug!(?peer, "ADS stream closed");
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn delta_aggregated_resources(
        &self,
        _request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaAggregatedResourcesStream>, Status> {
        Err(Status::unimplemented(
            "meshwork-xds serves state-of-the-world ADS only; use StreamAggregatedResources",
        ))
    }
}

type Outbound = mpsc::Sender<Result<DiscoveryResponse, Status>>;

async fn run_stream(
    store: Arc<Store>,
    mut inbound: Streaming<DiscoveryRequest>,
    tx: Outbound,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut snapshots = store.subscribe_snapshot();
    let mut protocol = StreamProtocol::new();
    if *shutdown.borrow_and_update() {
        return;
    }
    loop {
        tokio::select! {
            message = inbound.next() => {
                let request = match message {
                    Some(Ok(request)) => request,
                    Some(Err(status)) => {
                        tracing::debug!(%status, node = protocol.node_id(), "ADS stream failed");
                        return;
                    }
                    None => return,
                };
                // Not `borrow_and_update`: changes for other types still need their push.
                let snapshot = snapshots.borrow().clone();
                let outcome = protocol.on_request(&request, &snapshot);
                if outcome.stale {
                    tracing::debug!(node = protocol.node_id(), type_url = %request.type_url,
                        nonce = %request.response_nonce, "ignoring request with stale nonce");
                }
                if let Some(version) = outcome.opened {
                    store.record_opened(protocol.node_id(), &request.type_url, version);
                }
                if let Some(event) = outcome.event {
                    log_event(&event);
                    store.record(event);
                }
                if let Some(response) = outcome.response
                    && !send(&tx, response, protocol.node_id()).await
                {
                    return;
                }
            }
            changed = snapshots.changed() => {
                if changed.is_err() {
                    return;
                }
                let snapshot = snapshots.borrow_and_update().clone();
                for response in protocol.on_snapshot(&snapshot) {
                    if !send(&tx, response, protocol.node_id()).await {
                        return;
                    }
                }
            }
            // Only ever flips to `true`; a closed sender means the server is gone too.
            _ = shutdown.changed() => return,
        }
    }
}

async fn send(tx: &Outbound, response: DiscoveryResponse, node: &str) -> bool {
    tracing::debug!(node, type_url = %response.type_url, version = %response.version_info,
        nonce = %response.nonce, resources = response.resources.len(), "sending response");
    tx.send(Ok(response)).await.is_ok()
}

fn log_event(event: &AckEvent) {
    match event {
        AckEvent::Ack {
            node_id,
            type_url,
            version,
        } => {
            tracing::debug!(node = %node_id, %type_url, %version, "ACK");
        }
        AckEvent::Nack {
            node_id,
            type_url,
            version,
            message,
        } => {
            tracing::warn!(node = %node_id, %type_url, %version, %message, "NACK");
        }
    }
}
