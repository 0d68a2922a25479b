//! CSDS, `envoy.service.status.v3.ClientStatusDiscoveryService` (gRFC A40): the process's xDS
//! client state for `grpcdebug <addr> xds status` and other standard tooling.
//!
//! One `ClientConfig` for the process's xDS client (node = the node sent to the control plane,
//! resources as a flat `generic_xds_configs` list). A request whose `node_matchers` are set is
//! refused `INVALID_ARGUMENT` (node matching is not supported, as in grpc-go); a mesh without a
//! control plane answers an empty config list. The stream answers each request it receives.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use meshwork_proto::envoy::service::status::v3::client_status_discovery_service_server::ClientStatusDiscoveryService;
use meshwork_proto::envoy::service::status::v3::{ClientStatusRequest, ClientStatusResponse};
use tonic::{Request, Response, Status, Streaming};

use super::dump;
use crate::Mesh;

/// The CSDS service over a mesh's xDS client.
#[derive(Debug)]
pub(crate) struct Csds {
    mesh: Mesh,
}

type ResponseStream = Pin<Box<dyn Stream<Item = Result<ClientStatusResponse, Status>> + Send>>;

impl Csds {
    pub(crate) fn new(mesh: Mesh) -> Self {
        Csds { mesh }
    }
}

/// The answer to one request.
fn answer(mesh: &Mesh, request: &ClientStatusRequest) -> Result<ClientStatusResponse, Status> {
    if !request.node_matchers.is_empty() {
        return Err(Status::invalid_argument(
            "node_matchers: node matching is not supported; send the request without node_matchers",
        ));
    }
    let config = mesh
        .xds_client()
        .map(|client| dump::to_csds(&client.config_dump(), !request.exclude_resource_contents))
        .into_iter()
        .collect();
    Ok(ClientStatusResponse { config })
}

#[tonic::async_trait]
impl ClientStatusDiscoveryService for Csds {
    type StreamClientStatusStream = ResponseStream;

    async fn stream_client_status(
        &self,
        request: Request<Streaming<ClientStatusRequest>>,
    ) -> Result<Response<ResponseStream>, Status> {
        let mesh = self.mesh.clone();
        let stream = request.into_inner().map(move |item| match item {
            Ok(request) => answer(&mesh, &request),
            Err(status) => Err(status),
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn fetch_client_status(
        &self,
        request: Request<ClientStatusRequest>,
    ) -> Result<Response<ClientStatusResponse>, Status> {
        answer(&self.mesh, request.get_ref()).map(Response::new)
    }
}
