//! gRPC's xDS interop cases about backends coming and going (grpc/grpc
//! `doc/xds-test-descriptions.md`; `run_xds_tests.py` backends_restart, change_backend_service,
//! remove_instance_group and the three locality failover cases, which psm-interop
//! `tests/failover_test.py` merges) on loopback: real `xds-interop-server` processes, the
//! in-process dev control plane and the interop client, asserted through the client's stats and
//! CSDS services only, with the framework's thresholds.
//!
//! As Traffic Director does in the framework, the control plane health-checks the backends
//! (`grpc.health.v1` on their maintenance ports) and publishes the result as EDS health, so
//! `SetNotServing` and a killed process both take a backend out of the clients' EDS. Gentle
//! failover (load spilling from a primary locality that is less than half healthy) is also the
//! control plane's doing (`overprovisioning_factor: 200`), since gRPC clients ignore the factor.

#[path = "interop_conformance/harness.rs"]
mod harness;

use std::time::Duration;

use anyhow::{Result, ensure};
use harness::{
    Backend, ClientKind, HEALTH_CHECKED, control_plane, localities_yaml, names, start_backends,
    start_client_of, start_restartable_backends,
};
use meshwork_examples::xds_server::Mesh;

const TARGET: &str = "xds:///interop-test:8080";
const CONVERGE: Duration = Duration::from_secs(30);
/// `run_xds_tests.py` test_backends_restart: sorted distributions differ by at most this.
const RESTART_TOLERANCE: i32 = 3;

/// One service routed to `route_to`, over `clusters` (name, extra keys, localities YAML).
fn mesh(route_to: &str, clusters: &[(&str, &str, String)]) -> String {
    let mut y = format!(
        "services:\n- host: interop-test\n  port: 8080\n  cluster: {route_to}\nclusters:\n"
    );
    for (name, keys, localities) in clusters {
        y.push_str(&format!("- name: {name}\n{keys}{localities}"));
    }
    y
}

async fn backends_restart_case(kind: ClientKind) -> Result<()> {
    let mut backends = start_restartable_backends(4).await?;
    let all = names(&backends);
    let yaml = mesh(
        "c1",
        &[(
            "c1",
            HEALTH_CHECKED,
            localities_yaml(&[("a", 0, &backends)]),
        )],
    );
    let cp = control_plane(&yaml).await?;
    let client = start_client_of(&kind, &cp, TARGET, &[]).await?;
    client.wait_for_peers(&all, CONVERGE).await?;
    let before = client.stats(100, 10).await?;
    ensure!(before.num_failures == 0, "before the restart: {before:?}");
    for b in &mut backends {
        b.stop().await?;
    }
    client.wait_for_no_peer(CONVERGE).await?;
    for b in &mut backends {
        b.restart().await?;
    }
    client.wait_for_peers(&all, CONVERGE).await?;
    let after = client.stats(100, 10).await?;
    ensure!(after.num_failures == 0, "after the restart: {after:?}");
    let sorted = |r: &meshwork_proto::grpc_testing::LoadBalancerStatsResponse| {
        let mut d: Vec<i32> = all
            .iter()
            .map(|n| r.rpcs_by_peer.get(n).copied().unwrap_or(0))
            .collect();
        d.sort_unstable();
        d
    };
    let (old, new) = (sorted(&before), sorted(&after));
    ensure!(
        old.iter()
            .zip(&new)
            .all(|(o, n)| (o - n).abs() <= RESTART_TOLERANCE),
        "distributions differ by more than {RESTART_TOLERANCE}: before {:?}, after {:?}",
        before.rpcs_by_peer,
        after.rpcs_by_peer
    );
    Ok(())
}

async fn change_backend_service_case(kind: ClientKind) -> Result<()> {
    let backends = start_backends(4).await?;
    let (original, alternate) = backends.split_at(2);
    let yaml = |route_to: &str| {
        mesh(
            route_to,
            &[
                ("original", "", localities_yaml(&[("a", 0, original)])),
                ("alternate", "", localities_yaml(&[("a", 0, alternate)])),
            ],
        )
    };
    let cp = control_plane(&yaml("original")).await?;
    let client = start_client_of(&kind, &cp, TARGET, &[]).await?;
    client.wait_for_peers(&names(original), CONVERGE).await?;
    cp.set_mesh(&Mesh::from_yaml(&yaml("alternate"))?)?;
    client.wait_for_peers(&names(alternate), CONVERGE).await?;
    let dump = client.csds().await?;
    let clusters: Vec<_> = dump
        .config
        .iter()
        .flat_map(|c| &c.generic_xds_configs)
        .filter(|r| r.type_url.ends_with(".Cluster"))
        .map(|r| (r.name.as_str(), r.client_status))
        .collect();
    ensure!(
        clusters.contains(&("alternate", 3)),
        "CSDS should show cluster `alternate` ACKED; clusters (name, status): {clusters:?}"
    );
    Ok(())
}

async fn remove_instance_group_case(kind: ClientKind) -> Result<()> {
    let backends = start_backends(4).await?;
    let (first, second) = backends.split_at(2);
    let cp = control_plane(&mesh(
        "c1",
        &[(
            "c1",
            "",
            localities_yaml(&[("a", 0, first), ("b", 0, second)]),
        )],
    ))
    .await?;
    let client = start_client_of(&kind, &cp, TARGET, &[]).await?;
    client.wait_for_peers(&names(&backends), CONVERGE).await?;
    cp.set_mesh(&Mesh::from_yaml(&mesh(
        "c1",
        &[("c1", "", localities_yaml(&[("b", 0, second)]))],
    ))?)?;
    client.wait_for_peers(&names(second), CONVERGE).await?;
    Ok(())
}

/// A health-checked cluster with `primary` backends at priority 0 (zone `a`) and `secondary` at
/// priority 1 (zone `b`), gentle failover as Traffic Director does it.
fn failover_mesh(primary: &[Backend], secondary: &[Backend]) -> String {
    let keys = format!("{HEALTH_CHECKED}  overprovisioning_factor: 200\n");
    mesh(
        "c1",
        &[(
            "c1",
            &keys,
            localities_yaml(&[("a", 0, primary), ("b", 1, secondary)]),
        )],
    )
}

async fn secondary_locality_gets_requests_on_primary_failure_case(kind: ClientKind) -> Result<()> {
    let backends = start_backends(4).await?;
    let (primary, secondary) = backends.split_at(2);
    let cp = control_plane(&failover_mesh(primary, secondary)).await?;
    let client = start_client_of(&kind, &cp, TARGET, &[]).await?;
    client.wait_for_peers(&names(primary), CONVERGE).await?;
    for b in primary {
        b.set_serving(false).await?;
    }
    client.wait_for_peers(&names(secondary), CONVERGE).await?;
    for b in primary {
        b.set_serving(true).await?;
    }
    client.wait_for_peers(&names(primary), CONVERGE).await?;
    Ok(())
}

async fn secondary_locality_gets_no_requests_on_partial_primary_failure_case(
    kind: ClientKind,
) -> Result<()> {
    let mut backends = start_backends(4).await?;
    let cp = control_plane(&failover_mesh(&backends[..2], &backends[2..])).await?;
    let client = start_client_of(&kind, &cp, TARGET, &[]).await?;
    client
        .wait_for_peers(&names(&backends[..2]), CONVERGE)
        .await?;
    backends[0].stop().await?;
    client
        .wait_for_peers(&names(&backends[1..2]), CONVERGE)
        .await?;
    Ok(())
}

async fn gentle_failover_case(kind: ClientKind) -> Result<()> {
    let mut backends = start_restartable_backends(5).await?;
    let cp = control_plane(&failover_mesh(&backends[..3], &backends[3..])).await?;
    let client = start_client_of(&kind, &cp, TARGET, &[]).await?;
    client
        .wait_for_peers(&names(&backends[..3]), CONVERGE)
        .await?;
    for b in &mut backends[..2] {
        b.stop().await?;
    }
    client
        .wait_for_peers(&names(&backends[2..]), CONVERGE)
        .await?;
    for b in &mut backends[..2] {
        b.restart().await?;
    }
    client
        .wait_for_peers(&names(&backends[..3]), CONVERGE)
        .await?;
    Ok(())
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
    backends_restart_case, backends_restart, backends_restart_with_reference_client;
    remove_instance_group_case, remove_instance_group, remove_instance_group_with_reference_client;
    secondary_locality_gets_requests_on_primary_failure_case,
        secondary_locality_gets_requests_on_primary_failure,
        secondary_locality_gets_requests_on_primary_failure_with_reference_client;
    secondary_locality_gets_no_requests_on_partial_primary_failure_case,
        secondary_locality_gets_no_requests_on_partial_primary_failure,
        secondary_locality_gets_no_requests_on_partial_primary_failure_with_reference_client;
    gentle_failover_case, gentle_failover, gentle_failover_with_reference_client;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_backend_service() -> Result<()> {
    change_backend_service_case(ClientKind::Meshwork).await
}

/// With the reference client, CSDS comes from grpcio-admin on the peer's stats port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_backend_service_with_reference_client() -> Result<()> {
    match ClientKind::reference("change_backend_service") {
        Some(kind) => change_backend_service_case(kind).await,
        None => Ok(()),
    }
}
