//! gRPC's xDS interop cases (grpc/grpc `doc/xds-test-descriptions.md`, psm-interop `tests/`)
//! replayed on loopback: `xds-interop-server` and `xds-interop-client` run as processes against
//! the in-process dev control plane, and each case asserts the framework's thresholds through the
//! client's stats, configure and CSDS services only.

#[path = "interop_conformance/harness.rs"]
mod harness;

use std::time::Duration;

use anyhow::{Result, ensure};
use harness::{
    ClientKind, control_plane, endpoints_yaml, names, start_backends, start_client, start_client_of,
};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csds() -> Result<()> {
    let backends = start_backends(1).await?;
    let cp = control_plane(&one_cluster_mesh("", &backends)).await?;
    let client = start_client(&cp, TARGET, &[]).await?;
    client.wait_for_peers(&names(&backends), CONVERGE).await?;
    let r = client.stats(50, 10).await?;
    ensure!(
        r.num_failures == 0 && r.rpcs_by_peer.values().sum::<i32>() == 50,
        "{r:?}"
    );
    let dump = client.csds().await?;
    ensure!(
        dump.config.len() == 1,
        "one ClientConfig expected: {dump:?}"
    );
    let config = &dump.config[0];
    ensure!(
        config
            .node
            .as_ref()
            .is_some_and(|n| n.id == "interop-client"),
        "node: {:?}",
        config.node
    );
    let resources = &config.generic_xds_configs;
    for kind in [
        "Listener",
        "RouteConfiguration",
        "Cluster",
        "ClusterLoadAssignment",
    ] {
        let of_kind: Vec<_> = resources
            .iter()
            .filter(|r| r.type_url.ends_with(&format!(".{kind}")))
            .collect();
        ensure!(
            of_kind.len() == 1,
            "exactly one {kind} expected: {resources:#?}"
        );
        ensure!(
            of_kind[0].client_status == 3,
            "{kind} not ACKED: {:?}",
            of_kind[0]
        );
        ensure!(of_kind[0].xds_config.is_some(), "{kind} without its config");
    }
    let lds = resources.iter().find(|r| r.type_url.ends_with(".Listener"));
    ensure!(
        lds.is_some_and(|l| l.name.contains("interop-test")),
        "LDS name: {lds:?}"
    );
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

/// Each case twice: with Meshwork's `xds-interop-client`, and with gRPC's reference client
/// (`tests/peers/xds_interop_client.py`, Python grpcio C-core), skipped with a note only when
/// `MESHWORK_PYTHON` is unset.
macro_rules! with_both_clients {
    ($($case:ident, $ours:ident, $reference:ident;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $ours() -> Result<()> {
            $case(ClientKind::Meshwork).await
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $reference() -> Result<()> {
            match ClientKind::reference(stringify!($ours)) {
                Some(kind) => $case(kind).await,
                None => Ok(()),
            }
        }
    )*};
}

with_both_clients! {
    ping_pong_case, ping_pong, ping_pong_with_reference_client;
    round_robin_case, round_robin, round_robin_with_reference_client;
    traffic_splitting_case, traffic_splitting, traffic_splitting_with_reference_client;
    path_matching_case, path_matching, path_matching_with_reference_client;
    header_matching_case, header_matching, header_matching_with_reference_client;
}
