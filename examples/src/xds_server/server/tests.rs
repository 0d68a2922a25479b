//! In-process ADS tests over loopback with a tonic ADS client playing the gRPC client's part.

use std::time::Duration;

use meshwork_proto::envoy::config::core::v3::Node;
use meshwork_proto::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use meshwork_proto::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use meshwork_proto::google::protobuf::Any;
use meshwork_proto::google::rpc::Status;
use meshwork_proto::type_url::{CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

use super::*;

const WAIT: Duration = Duration::from_secs(10);

fn mesh(port: u16) -> Mesh {
    Mesh::from_yaml(&format!(
        "services: [{{host: greeter, port: 50051, cluster: greeter}}]\n\
         clusters: [{{name: greeter, localities: [{{endpoints: [{{address: '127.0.0.1:{port}'}}]}}]}}]"
    ))
    .unwrap()
}

struct Client {
    tx: mpsc::Sender<DiscoveryRequest>,
    rx: Streaming<DiscoveryResponse>,
}

impl Client {
    async fn connect(server: &ServerHandle) -> Client {
        let mut ads =
            AggregatedDiscoveryServiceClient::connect(format!("http://{}", server.local_addr()))
                .await
                .unwrap();
        let (tx, rx) = mpsc::channel(8);
        let rx = ads
            .stream_aggregated_resources(ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        Client { tx, rx }
    }

    async fn send(
        &self,
        type_url: &str,
        names: &[&str],
        version: &str,
        nonce: &str,
        error: Option<&str>,
    ) {
        let req = DiscoveryRequest {
            node: Some(Node {
                id: "test-node".into(),
                ..Default::default()
            }),
            type_url: type_url.into(),
            resource_names: names.iter().map(|n| (*n).to_owned()).collect(),
            version_info: version.into(),
            response_nonce: nonce.into(),
            error_detail: error.map(|m| Status {
                code: 3,
                message: m.into(),
                details: vec![],
            }),
            ..Default::default()
        };
        self.tx.send(req).await.unwrap();
    }

    async fn recv(&mut self) -> DiscoveryResponse {
        tokio::time::timeout(WAIT, self.rx.message())
            .await
            .expect("response in time")
            .unwrap()
            .unwrap()
    }

    async fn ack(&self, resp: &DiscoveryResponse, names: &[&str]) {
        self.send(&resp.type_url, names, &resp.version_info, &resp.nonce, None)
            .await;
    }
}

/// Regression: `wait_for_nack` used to count the NACKs already logged only when first polled, so
/// a NACK that landed between creating the future and awaiting it was never seen.
#[tokio::test]
async fn nack_waits_see_a_nack_logged_before_they_are_polled() {
    let server = XdsServer::start("127.0.0.1:0".parse().unwrap(), mesh(1))
        .await
        .unwrap();
    let mut client = Client::connect(&server).await;
    client.send(CLUSTER, &[], "", "", None).await;
    let cds = client.recv().await;
    client.ack(&cds, &[]).await;
    let garbage = Any {
        type_url: CLUSTER.into(),
        value: vec![0xff],
    };
    let bad = server.set_raw(CLUSTER, "greeter", garbage);
    let pushed = client.recv().await;

    let nack = server.wait_for_nack("test-node", CLUSTER, WAIT);
    let mut events = server.events();
    client
        .send(CLUSTER, &[], &cds.version_info, &pushed.nonce, Some("bad"))
        .await;
    loop {
        let event = tokio::time::timeout(WAIT, events.recv()).await.unwrap();
        if matches!(event.unwrap(), AckEvent::Nack { .. }) {
            break;
        }
    }

    let expected = NackRecord {
        version: bad.to_string(),
        message: "bad".into(),
    };
    assert_eq!(nack.await.unwrap(), expected);
    let by_version = server.wait_for_nack_of("test-node", CLUSTER, bad, WAIT);
    assert_eq!(by_version.await.unwrap(), expected);
    let later = server
        .wait_for_nack_of("test-node", CLUSTER, bad + 1, Duration::from_millis(100))
        .await;
    assert!(
        matches!(later, Err(ServerError::Timeout { .. })),
        "{later:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn subscribe_ack_and_receive_updates() {
    let server = XdsServer::start("127.0.0.1:0".parse().unwrap(), mesh(1))
        .await
        .unwrap();
    let mut client = Client::connect(&server).await;
    client
        .send(LISTENER, &["greeter:50051"], "", "", None)
        .await;
    let lds = client.recv().await;
    assert_eq!((lds.type_url.as_str(), lds.resources.len()), (LISTENER, 1));
    client.ack(&lds, &["greeter:50051"]).await;
    let v1: u64 = lds.version_info.parse().unwrap();
    server
        .wait_for_ack("test-node", LISTENER, v1, WAIT)
        .await
        .unwrap();

    client
        .send(CLUSTER_LOAD_ASSIGNMENT, &["greeter"], "", "", None)
        .await;
    let eds = client.recv().await;
    client.ack(&eds, &["greeter"]).await;

    let v2 = server.set_mesh(&mesh(2)).unwrap();
    let pushed = client.recv().await;
    assert_eq!(
        pushed.type_url, CLUSTER_LOAD_ASSIGNMENT,
        "only the changed type is pushed"
    );
    assert_eq!(pushed.version_info, v2.to_string());
    assert_ne!(pushed.nonce, eds.nonce);
    client.ack(&pushed, &["greeter"]).await;
    server
        .wait_for_ack("test-node", CLUSTER_LOAD_ASSIGNMENT, v2, WAIT)
        .await
        .unwrap();
    assert_eq!(server.ack_log().nack_count(), 0);
    server.shutdown().await;
}

#[tokio::test]
async fn raw_override_provokes_a_recorded_nack() {
    let server = XdsServer::start("127.0.0.1:0".parse().unwrap(), mesh(1))
        .await
        .unwrap();
    let mut client = Client::connect(&server).await;
    client.send(CLUSTER, &[], "", "", None).await;
    let cds = client.recv().await;
    client.ack(&cds, &[]).await;

    let garbage = Any {
        type_url: CLUSTER.into(),
        value: vec![0xff, 0xff, 0xff],
    };
    let bad = server.set_raw(CLUSTER, "greeter", garbage.clone());
    let pushed = client.recv().await;
    assert_eq!(pushed.version_info, bad.to_string());
    assert_eq!(pushed.resources, [garbage]);
    let nack = server.wait_for_nack("test-node", CLUSTER, WAIT);
    client
        .send(
            CLUSTER,
            &[],
            &cds.version_info,
            &pushed.nonce,
            Some("cannot decode Cluster"),
        )
        .await;
    let record = nack.await.unwrap();
    assert_eq!(
        record,
        NackRecord {
            version: bad.to_string(),
            message: "cannot decode Cluster".into()
        }
    );

    let fixed = server.remove_raw(CLUSTER, "greeter");
    let restored = client.recv().await;
    assert_eq!(restored.version_info, fixed.to_string());
    client.ack(&restored, &[]).await;
    server
        .wait_for_ack("test-node", CLUSTER, fixed, WAIT)
        .await
        .unwrap();
    let status = server
        .ack_log()
        .status("test-node", CLUSTER)
        .cloned()
        .unwrap();
    assert_eq!(status.nacks.len(), 1);
}

#[tokio::test]
async fn invalid_mesh_is_refused_and_the_old_one_kept() {
    let server = XdsServer::start("127.0.0.1:0".parse().unwrap(), mesh(1))
        .await
        .unwrap();
    let before = server.version();
    let mut bad = mesh(1);
    bad.services[0].cluster = Some("missing".into());
    let err = server.set_mesh(&bad).unwrap_err().to_string();
    assert!(err.contains("`missing` is not declared"), "{err}");
    assert_eq!(server.version(), before);
}

#[tokio::test]
async fn wait_for_ack_times_out_with_a_useful_message() {
    let server = XdsServer::start("127.0.0.1:0".parse().unwrap(), mesh(1))
        .await
        .unwrap();
    let err = server
        .wait_for_ack("nobody", LISTENER, 1, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("from node `nobody`"), "{err}");
}
