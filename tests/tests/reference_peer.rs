//! gRPC's own xDS client (C-core, via Python grpcio) against meshwork-xds: proves the control
//! plane serves resources a reference client ACKs and routes by (gRFC A27 resolution, A28
//! weighted clusters).
//!
//! The peer binds its backends on ports the OS picks and reports them; only then does the
//! control plane serve a mesh naming those ports, so no port is ever free for another process to
//! take in between. Needs the venv from `./scripts/test` (`MESHWORK_PYTHON`).

// Test-only helpers: a failed expectation is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use meshwork_examples::xds_server::{Mesh, ServerHandle, XdsServer};
use meshwork_proto::type_url;
use meshwork_tests::{peer_script, reference_python};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

/// Upper bound on one Python run (xDS setup + 60 RPCs normally takes a few seconds).
const PEER_TIMEOUT: Duration = Duration::from_secs(90);
const RPCS: u64 = 60;
const SERVICE: &str = "greeter:50051";

struct PeerRun {
    counts: BTreeMap<String, u64>,
    failures: Vec<Value>,
}

/// Runs the Python reference client against `server`. The peer binds its `backends` on ports of
/// its own choosing and reports them; the control plane then serves `mesh_for(ports)`, and only
/// after that is the peer told to start its xDS client. Returns the ports and what the peer saw.
async fn run_peer(
    server: &ServerHandle,
    node_id: &str,
    backends: usize,
    mesh_for: impl FnOnce(&[u16]) -> Mesh,
) -> (Vec<u16>, PeerRun) {
    let python = reference_python().unwrap_or_else(|e| panic!("{e}"));
    let mut child = tokio::process::Command::new(python)
        .arg(peer_script("xds_reference_client.py"))
        .args(["--xds-server", &server.local_addr().to_string()])
        .args(["--node-id", node_id, "--target", SERVICE])
        .args(["--backends", &backends.to_string()])
        .args(["--rpcs", &RPCS.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the Python reference client");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let stderr = tokio::spawn(async move {
        let mut text = String::new();
        // Whatever was read before a read error is still worth showing.
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let outcome = tokio::time::timeout(PEER_TIMEOUT, drive_peer(server, &mut child, mesh_for))
        .await
        .unwrap_or_else(|_| Err(anyhow!("did not finish within {PEER_TIMEOUT:?}")));
    match outcome {
        Ok(run) => run,
        Err(e) => {
            // Kill it so its stderr ends, then show that stderr (bounded: the pipe closes on exit).
            let _ = child.start_kill();
            let stderr = tokio::time::timeout(Duration::from_secs(5), stderr)
                .await
                .map(|r| r.unwrap_or_default())
                .unwrap_or_default();
            panic!("Python reference client failed: {e:#}\nits stderr:\n{stderr}");
        }
    }
}

/// The peer protocol of `xds_reference_client.py`: ports line, go-ahead, result line, exit.
async fn drive_peer(
    server: &ServerHandle,
    child: &mut Child,
    mesh_for: impl FnOnce(&[u16]) -> Mesh,
) -> Result<(Vec<u16>, PeerRun)> {
    let mut stdout = BufReader::new(child.stdout.take().context("piped stdout")?).lines();
    let ports_line = read_json_line(&mut stdout, "the backend ports line").await?;
    let ports = ports_line["ports"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .map(|p| p.as_u64().and_then(|p| u16::try_from(p).ok()))
                .collect::<Option<Vec<u16>>>()
        })
        .with_context(|| format!("expected {{\"ports\": [u16, ...]}}, got {ports_line}"))?;
    server
        .set_mesh(&mesh_for(&ports))
        .context("serve the mesh naming the peer's backends")?;
    let mut stdin = child.stdin.take().context("piped stdin")?;
    stdin
        .write_all(b"go\n")
        .await
        .context("send the go-ahead")?;
    stdin.flush().await.context("send the go-ahead")?;
    let result = read_json_line(&mut stdout, "the result line").await?;
    let status = child.wait().await.context("wait for the peer to exit")?;
    if !status.success() {
        bail!("exited with {status} after printing {result}");
    }
    let counts = result["counts"]
        .as_object()
        .with_context(|| format!("no `counts` object in {result}"))?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
        .collect();
    let failures = result["failures"].as_array().cloned().unwrap_or_default();
    Ok((ports, PeerRun { counts, failures }))
}

async fn read_json_line(stdout: &mut Lines<BufReader<ChildStdout>>, what: &str) -> Result<Value> {
    let line = stdout
        .next_line()
        .await
        .with_context(|| format!("read {what}"))?
        .with_context(|| format!("stdout ended before {what}"))?;
    serde_json::from_str(line.trim()).with_context(|| format!("{what} is not JSON: {line}"))
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

/// One cluster over three backends in two localities.
fn round_robin_mesh(ports: &[u16]) -> Mesh {
    Mesh::from_yaml(&format!(
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
    .unwrap()
}

/// A 100/0 split between cluster `blue` (first backend) and `green` (the other two).
fn split_mesh(ports: &[u16]) -> Mesh {
    Mesh::from_yaml(&format!(
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
    .unwrap()
}

async fn start_empty_control_plane() -> ServerHandle {
    XdsServer::start("127.0.0.1:0".parse().unwrap(), Mesh::default())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_reference_client_round_robins_over_every_backend() {
    let server = start_empty_control_plane().await;

    let (ports, run) = run_peer(&server, "python-rr", 3, round_robin_mesh).await;

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
    let server = start_empty_control_plane().await;

    let (ports, run) = run_peer(&server, "python-split", 3, split_mesh).await;

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
