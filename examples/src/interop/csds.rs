//! A CSDS server (`envoy.service.status.v3.ClientStatusDiscoveryService`, gRFC A40) over the
//! process's [`XdsClient`] config dump, for the interop client's stats port: one `ClientConfig`
//! with a `GenericXdsConfig` per subscribed resource (type URL, name, version, status, last
//! accepted value, last error).
//!
//! Node matchers are ignored (a client has one node). The dump's monotonic instants become
//! wall-clock timestamps here, relative to when the dump was taken.

use std::pin::Pin;
use std::time::{SystemTime, UNIX_EPOCH};

use meshwork::xds::{ConfigDump, XdsClient};
use meshwork_proto::envoy::admin::v3::UpdateFailureState;
use meshwork_proto::envoy::service::status::v3::client_config::GenericXdsConfig;
use meshwork_proto::envoy::service::status::v3::client_status_discovery_service_server::ClientStatusDiscoveryService;
use meshwork_proto::envoy::service::status::v3::{
    ClientConfig, ClientStatusRequest, ClientStatusResponse,
};
use meshwork_proto::google::protobuf::Timestamp;
use tokio::time::Instant;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

/// CSDS over one xDS client.
#[derive(Debug, Clone)]
pub struct CsdsService {
    client: XdsClient,
}

impl CsdsService {
    /// CSDS for `client`.
    pub fn new(client: XdsClient) -> Self {
        CsdsService { client }
    }

    /// The current status as a CSDS response.
    pub fn status(&self) -> ClientStatusResponse {
        to_response(&self.client.config_dump(), SystemTime::now())
    }
}

/// Converts a dump taken at `now` (wall clock) into a CSDS response.
pub fn to_response(dump: &ConfigDump, now: SystemTime) -> ClientStatusResponse {
    let stamp = |at: Instant| timestamp(now, dump.taken_at, at);
    let generic_xds_configs = dump
        .resources
        .iter()
        .map(|r| GenericXdsConfig {
            type_url: r.type_url.to_owned(),
            name: r.name.clone(),
            version_info: r.version_info.clone(),
            xds_config: r.xds_config.clone(),
            last_updated: r.last_updated.map(stamp),
            client_status: r.status.csds_value(),
            error_state: r.error_state.as_ref().map(|e| UpdateFailureState {
                failed_configuration: e.failed_configuration.clone(),
                last_update_attempt: Some(stamp(e.last_update_attempt)),
                details: e.details.clone(),
                version_info: e.version_info.clone(),
            }),
            ..GenericXdsConfig::default()
        })
        .collect();
    #[allow(deprecated)]
    let config = ClientConfig {
        node: Some(dump.node.clone()),
        generic_xds_configs,
        ..ClientConfig::default()
    };
    ClientStatusResponse {
        config: vec![config],
    }
}

fn timestamp(now: SystemTime, taken_at: Instant, at: Instant) -> Timestamp {
    let wall = now
        .checked_sub(taken_at.saturating_duration_since(at))
        .unwrap_or(now);
    let since_epoch = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp {
        seconds: i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(since_epoch.subsec_nanos()).unwrap_or(0),
    }
}

#[tonic::async_trait]
impl ClientStatusDiscoveryService for CsdsService {
    type StreamClientStatusStream =
        Pin<Box<dyn Stream<Item = Result<ClientStatusResponse, Status>> + Send + 'static>>;

    async fn stream_client_status(
        &self,
        request: Request<Streaming<ClientStatusRequest>>,
    ) -> Result<Response<Self::StreamClientStatusStream>, Status> {
        let this = self.clone();
        let answers = request
            .into_inner()
            .map(move |req| req.map(|_| this.status()));
        Ok(Response::new(Box::pin(answers)))
    }

    async fn fetch_client_status(
        &self,
        _: Request<ClientStatusRequest>,
    ) -> Result<Response<ClientStatusResponse>, Status> {
        Ok(Response::new(self.status()))
    }
}
