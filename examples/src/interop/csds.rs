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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use meshwork::xds::resource::ResourceKind;
    use meshwork::xds::{ResourceDump, ResourceStatus, UpdateFailure};
    use meshwork_proto::envoy::config::core::v3::Node;

    use super::*;

    #[test]
    fn each_resource_becomes_a_generic_config_with_status_and_wall_clock_times() {
        let taken_at = Instant::now();
        let updated = taken_at.checked_sub(Duration::from_secs(10)).unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let dump = ConfigDump {
            node: Node {
                id: "interop-client".into(),
                ..Node::default()
            },
            server_uri: "127.0.0.1:1".into(),
            taken_at,
            resources: vec![
                ResourceDump {
                    kind: ResourceKind::Listener,
                    type_url: ResourceKind::Listener.type_url(),
                    name: "interop-test:8080".into(),
                    version_info: "3".into(),
                    status: ResourceStatus::Acked,
                    xds_config: None,
                    last_updated: Some(updated),
                    error_state: None,
                },
                ResourceDump {
                    kind: ResourceKind::Cluster,
                    type_url: ResourceKind::Cluster.type_url(),
                    name: "c1".into(),
                    version_info: String::new(),
                    status: ResourceStatus::Nacked,
                    xds_config: None,
                    last_updated: None,
                    error_state: Some(UpdateFailure {
                        details: "bad lb policy".into(),
                        version_info: "4".into(),
                        last_update_attempt: taken_at,
                        failed_configuration: None,
                    }),
                },
            ],
        };
        let response = to_response(&dump, now);
        assert_eq!(response.config.len(), 1);
        let config = &response.config[0];
        assert_eq!(
            config.node.as_ref().map(|n| n.id.as_str()),
            Some("interop-client")
        );
        let [lds, cds] = &config.generic_xds_configs[..] else {
            panic!("two resources expected: {config:?}");
        };
        assert_eq!(
            (lds.name.as_str(), lds.client_status),
            ("interop-test:8080", 3)
        );
        assert_eq!(lds.last_updated.as_ref().map(|t| t.seconds), Some(999_990));
        assert_eq!(cds.client_status, 4);
        let error = cds.error_state.as_ref().unwrap();
        assert_eq!(
            (error.details.as_str(), error.version_info.as_str()),
            ("bad lb policy", "4")
        );
        assert_eq!(
            error.last_update_attempt.as_ref().map(|t| t.seconds),
            Some(1_000_000)
        );
    }
}
