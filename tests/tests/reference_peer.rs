//! gRPC's own xDS client (C-core, via Python grpcio) against meshwork-xds: proves the control
//! plane serves resources a reference client ACKs and routes by (gRFC A27 resolution, A28
//! weighted clusters).
//!
//! Needs the venv from `./scripts/test` (`MESHWORK_PYTHON`).

// Test-only helpers: a failed expectation is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use meshwork_examples::xds_server::{Mesh, ServerHandle, XdsServer};
use meshwork_proto::type_url;
use meshwork_tests::{free_ports, peer_script, reference_python};
use serde_json::Value;

/// Upper bound on one Python run (xDS setup + 60 RPCs normally takes a few seconds).
const PEER_TIMEOUT: Duration = Duration::from_secs(90);
const RPCS: u64 = 60;
const SERVICE: &str = "greeter:50051";

struct PeerRun {
    counts: BTreeMap<String, u64>,
    failures: Vec<Value>,
}

async fn run_peer(server: &ServerHandle, node_id: &str, ports: &[u16]) -> PeerRun {
    let python = reference_python().unwrap_or_else(|e| panic!("{e}"));
    let ports_arg = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let child = tokio::process::Command::new(python)
        .arg(peer_script("xds_reference_client.py"))
        .args(["--xds-server", &server.local_addr().to_string()])
        .args([
            "--node-id",
            node_id,
            "--target",
            SERVICE,
            "--ports",
            &ports_arg,
        ])
        .args(["--rpcs", &RPCS.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the Python reference client");
    let output = tokio::time::timeout(PEER_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| {
            panic!("Python reference client did not finish within {PEER_TIMEOUT:?}")
        })
        .expect("wait for the Python reference client");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "reference client failed ({}):\n{stderr}",
        output.status
    );
    let json: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("reference client printed no JSON ({e}):\n{stdout}\n{stderr}"));
    let counts = json["counts"]
        .as_object()
        .expect("counts object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
        .collect();
    let failures = json["failures"].as_array().cloned().unwrap_or_default();
    PeerRun { counts, failures }
}

/// Every type was ACKed by the node at the current version, and nothing was NACKed.
async fn assert_all_acked(server: &ServerHandle, node_id: &str) {
    let version = server.version();
    for t in [
        type_url::LISTENER,
        type_url::ROUTE_CONFIGURATION,
        type_url::CLUSTER,
        type_url::CLUSTER_LOAD_ASSIGNMENT,
    ] {
        server
            .wait_for_ack(node_id, t, version, Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let log = server.ack_log();
    assert_eq!(log.nack_count(), 0, "the reference client NACKed: {log:?}");
}

fn endpoint(port: u16) -> String {
    format!("{{address: '127.0.0.1:{port}'}}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_reference_client_round_robins_over_every_backend() {
    let ports = free_ports(3).unwrap();
    let mesh = Mesh::from_yaml(&format!(
        "services: [{{host: greeter, port: 50051, cluster: greeter}}]\n\
         clusters:\n\
         - name: greeter\n\
         \x20 lb_policy: round_robin\n\
         \x20 localities:\n\
         \x20 - locality: {{region: test, zone: a}}\n\
         \x20   endpoints: [{}, {}]\n\
         \x20 - locality: {{region: test, zone: b}}\n\
         \x20   endpoints: [{}]\n",
        endpoint(ports[0]),
        endpoint(ports[1]),
        endpoint(ports[2])
    ))
    .unwrap();
    let server = XdsServer::start("127.0.0.1:0".parse().unwrap(), mesh)
        .await
        .unwrap();

    let run = run_peer(&server, "python-rr", &ports).await;

    assert!(run.failures.is_empty(), "RPCs failed: {:?}", run.failures);
    for port in &ports {
        let got = run
            .counts
            .get(&format!("backend-{port}"))
            .copied()
            .unwrap_or(0);
        assert!(
            got > 0,
            "backend on port {port} got no RPCs: {:?}",
            run.counts
        );
    }
    assert_eq!(run.counts.values().sum::<u64>(), RPCS);
    assert_all_acked(&server, "python-rr").await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_reference_client_follows_a_100_0_weighted_split() {
    let ports = free_ports(3).unwrap();
    let mesh = Mesh::from_yaml(&format!(
        "services:\n\
         - host: greeter\n\
         \x20 port: 50051\n\
         \x20 routes:\n\
         \x20 - weighted_clusters: [{{name: blue, weight: 100}}, {{name: green, weight: 0}}]\n\
         clusters:\n\
         - name: blue\n\
         \x20 localities: [{{endpoints: [{}]}}]\n\
         - name: green\n\
         \x20 localities: [{{endpoints: [{}, {}]}}]\n",
        endpoint(ports[0]),
        endpoint(ports[1]),
        endpoint(ports[2])
    ))
    .unwrap();
    let server = XdsServer::start("127.0.0.1:0".parse().unwrap(), mesh)
        .await
        .unwrap();

    let run = run_peer(&server, "python-split", &ports).await;

    assert!(run.failures.is_empty(), "RPCs failed: {:?}", run.failures);
    let blue = format!("backend-{}", ports[0]);
    assert_eq!(
        run.counts,
        BTreeMap::from([(blue, RPCS)]),
        "every RPC should go to the weight-100 cluster"
    );
    assert_all_acked(&server, "python-split").await;
    server.shutdown().await;
}
