//! gRPC's xDS interop cases (grpc/grpc `doc/xds-test-descriptions.md`, psm-interop `tests/`)
//! replayed on loopback: `xds-interop-server` and `xds-interop-client` run as processes against
//! the in-process dev control plane, and each case asserts the framework's thresholds through the
//! client's stats, configure and CSDS services only.

#[macro_use]
#[path = "interop_conformance/harness.rs"]
mod harness;

use std::time::Duration;

use anyhow::{Result, ensure};
use harness::{
    CLIENT_IP, ClientKind, control_plane, endpoints_yaml, names, only_resource, start_backends,
    start_client_of,
};
use meshwork_proto::envoy::config::cluster::v3::Cluster;
use meshwork_proto::envoy::config::cluster::v3::cluster::{ClusterDiscoveryType, DiscoveryType};
use meshwork_proto::envoy::config::endpoint::v3::ClusterLoadAssignment;
use meshwork_proto::envoy::config::listener::v3::Listener;
use meshwork_proto::envoy::config::route::v3::RouteConfiguration;
use meshwork_proto::google::protobuf::value::Kind;
use meshwork_proto::grpc_testing::client_configure_request::RpcType;

const TARGET: &str = "xds:///interop-test:8080";
const CONVERGE: Duration = Duration::from_secs(20);

fn one_cluster_mesh(cluster_keys: &str, backends: &[harness::Backend]) -> String {
    format!(
        "services:\n- host: interop-test\n  port: 8080\n  cluster: c1\nclusters:\n- name: c1\n{cluster_keys}{}",
        endpoints_yaml(backends)
    )
}

async fn ping_pong_case(kind: ClientKind) -> Result<()> {
    let backends = start_backends(4).await?;
    let cp = control_plane(&one_cluster_mesh("", &backends)).await?;
    let mut client = start_client_of(&kind, &cp, TARGET, &["--fail_on_failed_rpc", "true"]).await?;
    client.wait_for_peers(&names(&backends), CONVERGE).await?;
    client.assert_running()
}

async fn round_robin_case(kind: ClientKind) -> Result<()> {
    let backends = start_backends(2).await?;
    let cp = control_plane(&one_cluster_mesh("  lb_policy: round_robin\n", &backends)).await?;
    let client = start_client_of(&kind, &cp, TARGET, &[]).await?;
    client.wait_for_peers(&names(&backends), CONVERGE).await?;
    let r = client.stats(100, 10).await?;
    ensure!(r.num_failures == 0, "failures: {r:?}");
    ensure!(r.rpcs_by_peer.values().sum::<i32>() == 100, "{r:?}");
    for b in &backends {
        let n = r.rpcs_by_peer.get(&b.name).copied().unwrap_or(0);
        ensure!(
            (49..=51).contains(&n),
            "{} got {n} of 100, want 50 ± 1: {r:?}",
            b.name
        );
    }
    Ok(())
}

/// psm-interop `tests/url_map/csds_test.py`: 50 RPCs of both types all succeed, and the CSDS dump
/// on the stats port echoes the node (metadata `INSTANCE_IP`), names the Listener after the target,
/// holds a RouteConfiguration with virtual hosts, exactly one EDS Cluster and one endpoint, every
/// resource ACKed.
async fn csds_case(kind: ClientKind) -> Result<()> {
    let backends = start_backends(1).await?;
    let cp = control_plane(&one_cluster_mesh("", &backends)).await?;
    let client = start_client_of(&kind, &cp, TARGET, &[]).await?;
    client.wait_for_peers(&names(&backends), CONVERGE).await?;
    client
        .configure(&[RpcType::UnaryCall, RpcType::EmptyCall], &[], 0)
        .await?;
    let r = client.stats(50, 10).await?;
    ensure!(
        r.num_failures == 0 && r.rpcs_by_peer.values().sum::<i32>() == 50,
        "50 RPCs should all succeed: {r:?}"
    );
    let dump = client.csds().await?;
    ensure!(
        dump.config.len() == 1,
        "one ClientConfig expected: {dump:?}"
    );
    let config = &dump.config[0];
    let node = config.node.clone().unwrap_or_default();
    ensure!(node.id == "interop-client", "node: {node:?}");
    let instance_ip = node
        .metadata
        .as_ref()
        .and_then(|m| m.fields.get("INSTANCE_IP"))
        .and_then(|v| v.kind.clone());
    ensure!(
        instance_ip == Some(Kind::StringValue(CLIENT_IP.to_owned())),
        "node metadata should carry INSTANCE_IP {CLIENT_IP}: {node:?}"
    );
    let listener: Listener = only_resource(config, "Listener")?;
    ensure!(
        listener.name == "interop-test:8080",
        "LDS name: {}",
        listener.name
    );
    let routes: RouteConfiguration = only_resource(config, "RouteConfiguration")?;
    ensure!(
        !routes.virtual_hosts.is_empty(),
        "RDS without virtual hosts"
    );
    let cluster: Cluster = only_resource(config, "Cluster")?;
    ensure!(
        cluster.cluster_discovery_type
            == Some(ClusterDiscoveryType::Type(DiscoveryType::Eds as i32)),
        "CDS type should be EDS: {cluster:?}"
    );
    let assignment: ClusterLoadAssignment = only_resource(config, "ClusterLoadAssignment")?;
    let endpoints: usize = assignment
        .endpoints
        .iter()
        .map(|l| l.lb_endpoints.len())
        .sum();
    ensure!(endpoints == 1, "one endpoint expected: {assignment:?}");
    Ok(())
}

async fn traffic_splitting_case(kind: ClientKind) -> Result<()> {
    let backends = start_backends(2).await?;
    let (a, b) = (&backends[..1], &backends[1..]);
    let yaml = format!(
        "services:\n- host: interop-test\n  port: 8080\n  routes:\n  - weighted_clusters:\n    - {{name: a, weight: 20}}\n    - {{name: b, weight: 80}}\nclusters:\n- name: a\n{}- name: b\n{}",
        endpoints_yaml(a),
        endpoints_yaml(b)
    );
    let cp = control_plane(&yaml).await?;
    let client = start_client_of(&kind, &cp, TARGET, &["--qps", "200"]).await?;
    client.wait_for_peers(&names(&backends), CONVERGE).await?;
    let r = client.stats(1000, 20).await?;
    ensure!(r.num_failures == 0, "{r:?}");
    let share = |name: &str| f64::from(r.rpcs_by_peer.get(name).copied().unwrap_or(0)) / 1000.0;
    ensure!(
        (share(&a[0].name) - 0.2).abs() <= 0.05,
        "a share {}: {r:?}",
        share(&a[0].name)
    );
    ensure!(
        (share(&b[0].name) - 0.8).abs() <= 0.05,
        "b share {}: {r:?}",
        share(&b[0].name)
    );
    Ok(())
}

/// Two clusters of one backend each; `routes` sends each RPC type to its own cluster.
async fn method_routing(kind: ClientKind, routes: &str, flags: &[&str]) -> Result<()> {
    let backends = start_backends(2).await?;
    let yaml = format!(
        "services:\n- host: interop-test\n  port: 8080\n  routes:\n{routes}clusters:\n- name: empty\n{}- name: unary\n{}",
        endpoints_yaml(&backends[..1]),
        endpoints_yaml(&backends[1..])
    );
    let cp = control_plane(&yaml).await?;
    let mut all = vec!["--rpc", "EmptyCall,UnaryCall"];
    all.extend_from_slice(flags);
    let client = start_client_of(&kind, &cp, TARGET, &all).await?;
    client.wait_for_peers(&names(&backends), CONVERGE).await?;
    let r = client.stats(50, 10).await?;
    let by = |m: &str| {
        r.rpcs_by_method
            .get(m)
            .map(|p| p.rpcs_by_peer.clone())
            .unwrap_or_default()
    };
    ensure!(
        by("EmptyCall").keys().eq([&backends[0].name]),
        "EmptyCall went to {:?}",
        by("EmptyCall")
    );
    ensure!(
        by("UnaryCall").keys().eq([&backends[1].name]),
        "UnaryCall went to {:?}",
        by("UnaryCall")
    );
    Ok(())
}

async fn path_matching_case(kind: ClientKind) -> Result<()> {
    method_routing(
        kind,
        "  - match: {path: /grpc.testing.TestService/EmptyCall}\n    cluster: empty\n  - match: {safe_regex: '^/.*/UnaryCall$'}\n    cluster: unary\n",
        &[],
    )
    .await
}

async fn header_matching_case(kind: ClientKind) -> Result<()> {
    method_routing(
        kind,
        "  - match: {headers: [{name: xds_md, suffix: me}]}\n    cluster: empty\n  - match: {headers: [{name: xds_md, prefix: un}]}\n    cluster: unary\n",
        &["--metadata", "EmptyCall:xds_md:empty_ytpme,UnaryCall:xds_md:unary_yranu"],
    )
    .await
}

with_both_clients! {
    csds_case, csds, csds_with_reference_client;
    ping_pong_case, ping_pong, ping_pong_with_reference_client;
    round_robin_case, round_robin, round_robin_with_reference_client;
    traffic_splitting_case, traffic_splitting, traffic_splitting_with_reference_client;
    path_matching_case, path_matching, path_matching_with_reference_client;
    header_matching_case, header_matching, header_matching_with_reference_client;
}

/// `--secure_mode true` means xDS credentials with a plaintext fallback (gRFC A29): a cluster
/// without TLS settings is reached in plaintext, as ping_pong shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_mode_falls_back_to_plaintext_when_the_cluster_has_no_tls() -> Result<()> {
    let backends = start_backends(2).await?;
    let cp = control_plane(&one_cluster_mesh("", &backends)).await?;
    let mut client = start_client_of(
        &ClientKind::Meshwork,
        &cp,
        TARGET,
        &["--secure_mode", "true", "--fail_on_failed_rpc", "true"],
    )
    .await?;
    client.wait_for_peers(&names(&backends), CONVERGE).await?;
    client.assert_running()
}
