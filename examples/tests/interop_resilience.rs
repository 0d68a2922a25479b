//! gRPC's xDS interop resilience cases (grpc/grpc `doc/xds-test-descriptions.md`, psm-interop
//! `tests/circuit_breaking_test.py`, `tests/url_map/{timeout,fault_injection,retry}_test.py`,
//! `tests/outlier_detection_test.py`, `tests/affinity_test.py`) on loopback: real
//! `xds-interop-server` / `xds-interop-client` processes and the in-process dev control plane,
//! asserted through the client's stats and configure services only. Durations are scaled down
//! from the framework's (e.g. `max_requests` 50 instead of 500) to keep the suite short.

#[path = "interop_conformance/harness.rs"]
mod harness;

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Result, bail, ensure};
use harness::{
    Backend, Client, codes_between, control_plane, endpoints_yaml, endpoints_yaml_with_health,
    names, start_backends, start_client,
};
use meshwork_examples::xds_server::Mesh;
use meshwork_proto::grpc_testing::LoadBalancerAccumulatedStatsResponse;
use meshwork_proto::grpc_testing::client_configure_request::RpcType;
use tokio::time::Instant;

const TARGET: &str = "xds:///interop-test:8080";
const CONVERGE: Duration = Duration::from_secs(20);
const OK: i32 = 0;
const DEADLINE_EXCEEDED: i32 = 4;
const UNAVAILABLE: i32 = 14;
const UNAUTHENTICATED: i32 = 16;

/// UnaryCall → cluster `unary` (with `unary_route` keys and `unary_cluster` keys), everything else
/// → cluster `empty`; both clusters over `backends`.
fn split_mesh(
    unary_route: &str,
    unary_cluster: &str,
    empty_cluster: &str,
    backends: &[Backend],
) -> String {
    format!(
        "services:\n- host: interop-test\n  port: 8080\n  routes:\n  - match: {{path: /grpc.testing.TestService/UnaryCall}}\n    cluster: unary\n{unary_route}  - cluster: empty\nclusters:\n- name: unary\n{unary_cluster}{eps}- name: empty\n{empty_cluster}{eps}",
        eps = endpoints_yaml(backends)
    )
}

/// Runs one client with `flags` on `yaml` until the next `num_rpcs` RPCs finished, and returns the
/// status codes per accumulated-stats method of every RPC finished so far.
async fn codes_of(
    yaml: &str,
    flags: &[&str],
    num_rpcs: i32,
) -> Result<HashMap<String, HashMap<i32, i32>>> {
    let cp = control_plane(yaml).await?;
    let client = start_client(&cp, TARGET, flags).await?;
    client.stats(num_rpcs, 15).await?;
    let after = client.accumulated().await?;
    let none = LoadBalancerAccumulatedStatsResponse::default();
    Ok(["UNARY_CALL", "EMPTY_CALL"]
        .into_iter()
        .map(|m| (m.to_owned(), codes_between(&none, &after, m)))
        .filter(|(_, codes)| !codes.is_empty())
        .collect())
}

fn only(codes: &HashMap<String, HashMap<i32, i32>>, method: &str, code: i32) -> Result<()> {
    let got = codes.get(method).cloned().unwrap_or_default();
    ensure!(
        got.len() == 1 && got.contains_key(&code),
        "{method}: want only code {code}, got {got:?} (all: {codes:?})"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circuit_breaking() -> Result<()> {
    let backends = start_backends(1).await?;
    let mesh = |unary_max: u32| {
        split_mesh(
            "",
            &format!("  max_requests: {unary_max}\n"),
            "  max_requests: 100\n",
            &backends,
        )
    };
    let cp = control_plane(&mesh(50)).await?;
    let client = start_client(
        &cp,
        TARGET,
        &[
            "--rpc",
            "EmptyCall,UnaryCall",
            "--metadata",
            "EmptyCall:rpc-behavior:keep-open,UnaryCall:rpc-behavior:keep-open",
            "--rpc_timeout_sec",
            "20",
        ],
    )
    .await?;
    in_flight_reaches(&client, &[("UNARY_CALL", 50), ("EMPTY_CALL", 100)]).await?;
    cp.set_mesh(&Mesh::from_yaml(&mesh(80))?)?;
    in_flight_reaches(&client, &[("UNARY_CALL", 80), ("EMPTY_CALL", 100)]).await
}

/// `_checkRpcsInFlight`: started − succeeded − failed (the deprecated maps) reaches each `n`,
/// and a second later is still within [n × 0.95, n × 1.01].
#[allow(deprecated)]
async fn in_flight_reaches(client: &Client, want: &[(&str, i32)]) -> Result<()> {
    let in_flight = |a: &LoadBalancerAccumulatedStatsResponse, m: &str| {
        let get = |map: &HashMap<String, i32>| map.get(m).copied().unwrap_or(0);
        get(&a.num_rpcs_started_by_method)
            - get(&a.num_rpcs_succeeded_by_method)
            - get(&a.num_rpcs_failed_by_method)
    };
    let deadline = Instant::now() + CONVERGE;
    loop {
        let a = client.accumulated().await?;
        if want.iter().all(|(m, n)| in_flight(&a, m) == *n) {
            break;
        }
        if Instant::now() >= deadline {
            let got: Vec<_> = want.iter().map(|(m, _)| (m, in_flight(&a, m))).collect();
            bail!("in-flight RPCs did not reach {want:?} within {CONVERGE:?}; last {got:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let a = client.accumulated().await?;
    for (m, n) in want {
        let got = f64::from(in_flight(&a, m));
        let n = f64::from(*n);
        ensure!(
            got >= n * 0.95 && got <= n * 1.01,
            "{m}: in-flight drifted to {got}, want {n}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout() -> Result<()> {
    let backends = start_backends(1).await?;
    let yaml = split_mesh(
        "    timeout: {max_stream_duration: 3s, grpc_timeout_header_max: 3s}\n",
        "",
        "",
        &backends,
    );
    let both = ["--rpc", "EmptyCall,UnaryCall", "--qps", "20"];
    let app_timeout = [
        &both[..],
        &[
            "--metadata",
            "UnaryCall:rpc-behavior:sleep-2",
            "--rpc_timeout_sec",
            "1",
        ],
    ]
    .concat();
    let sleep_4 = [
        &both[..],
        &[
            "--metadata",
            "EmptyCall:rpc-behavior:sleep-4,UnaryCall:rpc-behavior:sleep-4",
        ],
    ]
    .concat();
    let (app, plain, capped) = tokio::try_join!(
        codes_of(&yaml, &app_timeout, 20),
        codes_of(&yaml, &both, 20),
        codes_of(&yaml, &sleep_4, 20),
    )?;
    only(&app, "UNARY_CALL", DEADLINE_EXCEEDED)?;
    only(&plain, "UNARY_CALL", OK)?;
    only(&plain, "EMPTY_CALL", OK)?;
    only(&capped, "UNARY_CALL", DEADLINE_EXCEEDED)?;
    only(&capped, "EMPTY_CALL", OK)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_injection() -> Result<()> {
    let backends = start_backends(1).await?;
    let fault = |f: &str| split_mesh(&format!("    fault: {f}\n"), "", "", &backends);
    let both = ["--rpc", "EmptyCall,UnaryCall"];
    let short = [&both[..], &["--rpc_timeout_sec", "1", "--qps", "20"]].concat();
    let zero = fault("{abort: {http_status: 401, percent: 0}, delay: {fixed: 20s, percent: 0}}");
    let abort = fault("{abort: {http_status: 401, percent: 100}}");
    let delay = fault("{delay: {fixed: 20s, percent: 100}}");
    let half = fault("{abort: {http_status: 401, percent: 50}}");
    let (zero, abort, delay, half) = tokio::try_join!(
        codes_of(&zero, &both, 50),
        codes_of(&abort, &both, 50),
        codes_of(&delay, &short, 20),
        codes_of(&half, &both, 200),
    )?;
    only(&zero, "UNARY_CALL", OK)?;
    only(&abort, "UNARY_CALL", UNAUTHENTICATED)?;
    only(&abort, "EMPTY_CALL", OK)?;
    only(&delay, "UNARY_CALL", DEADLINE_EXCEEDED)?;
    let unary = half.get("UNARY_CALL").cloned().unwrap_or_default();
    let total: i32 = unary.values().sum();
    let aborted =
        f64::from(unary.get(&UNAUTHENTICATED).copied().unwrap_or(0)) / f64::from(total.max(1));
    ensure!(
        (aborted - 0.5).abs() <= 0.2,
        "50 % abort: ratio {aborted} of {unary:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry() -> Result<()> {
    let backends = start_backends(1).await?;
    let yaml = |retries: u32| {
        format!(
            "services:\n- host: interop-test\n  port: 8080\n  routes:\n  - cluster: c1\n    retry: {{retry_on: [unavailable], num_retries: {retries}, backoff: {{base_interval: 10ms}}}}\nclusters:\n- name: c1\n{}",
            endpoints_yaml(&backends)
        )
    };
    let mut results = Vec::new();
    for retries in [3, 4] {
        let cp = control_plane(&yaml(retries)).await?;
        let client = start_client(&cp, TARGET, &["--qps", "20"]).await?;
        client.wait_for_peers(&names(&backends), CONVERGE).await?;
        // The value holds a comma, which `--metadata` cannot carry: set it with Configure.
        let behavior = [(
            RpcType::UnaryCall,
            "rpc-behavior",
            "succeed-on-retry-attempt-4,error-code-14",
        )];
        client
            .configure(&[RpcType::UnaryCall], &behavior, 0)
            .await?;
        // RPCs sent before Configure may still be in flight: let them finish first.
        client.stats(10, 5).await?;
        let before = client.accumulated().await?;
        client.stats(10, 10).await?;
        let after = client.accumulated().await?;
        results.push((retries, codes_between(&before, &after, "UNARY_CALL")));
    }
    for ((retries, codes), want) in results.into_iter().zip([UNAVAILABLE, OK]) {
        ensure!(
            codes.keys().eq([&want]),
            "num_retries {retries}: want only {want}, got {codes:?}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outlier_detection() -> Result<()> {
    let backends = start_backends(5).await?;
    let yaml = format!(
        "services:\n- host: interop-test\n  port: 8080\n  cluster: c1\nclusters:\n- name: c1\n  outlier_detection: {{interval: 1s, base_ejection_time: 2s, success_rate_request_volume: 20}}\n{}",
        endpoints_yaml(&backends)
    );
    let cp = control_plane(&yaml).await?;
    let client = start_client(&cp, TARGET, &[]).await?;
    let all = names(&backends);
    client.wait_for_peers(&all, CONVERGE).await?;
    let bad = format!("hostname={} error-code-2", backends[0].name);
    client
        .configure(
            &[RpcType::UnaryCall],
            &[(RpcType::UnaryCall, "rpc-behavior", &bad)],
            0,
        )
        .await?;
    client.wait_for_peers(&all[1..], CONVERGE).await?;
    client.configure(&[RpcType::UnaryCall], &[], 0).await?;
    client.wait_for_peers(&all, CONVERGE).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn affinity() -> Result<()> {
    let backends = start_backends(3).await?;
    let yaml = |unhealthy: &[&str]| {
        format!(
            "services:\n- host: interop-test\n  port: 8080\n  routes:\n  - cluster: c1\n    hash_policy: [{{header: xds_md}}]\nclusters:\n- name: c1\n  lb_policy: ring_hash\n{}",
            endpoints_yaml_with_health(&backends, unhealthy)
        )
    };
    let cp = control_plane(&yaml(&[])).await?;
    let client = start_client(
        &cp,
        TARGET,
        &["--metadata", "UnaryCall:xds_md:affinity-key"],
    )
    .await?;
    let pinned = one_peer(&client).await?;
    // Stickiness: the same key keeps landing on the same backend.
    let again = client.stats(100, 10).await?;
    ensure!(
        again.num_failures == 0 && again.rpcs_by_peer.keys().eq([&pinned]),
        "one key should stay on {pinned}: {again:?}"
    );
    // Drain the pinned server the way the framework does (SetNotServing); the control plane's
    // health check sees it and publishes the endpoint as UNHEALTHY.
    let Some(server) = backends.iter().find(|b| b.name == pinned) else {
        bail!("RPCs went to {pinned}, which is none of the backends");
    };
    server.set_serving(false).await?;
    ensure!(
        !server.serving().await?,
        "SetNotServing did not flip grpc.health.v1 of {pinned}"
    );
    cp.set_mesh(&Mesh::from_yaml(&yaml(&[pinned.as_str()]))?)?;
    let deadline = Instant::now() + CONVERGE;
    let moved = loop {
        let r = client.stats(100, 10).await?;
        if r.num_failures == 0 && r.rpcs_by_peer.len() == 1 && !r.rpcs_by_peer.contains_key(&pinned)
        {
            break r;
        }
        ensure!(
            Instant::now() < deadline,
            "RPCs should move to one other backend; last {r:?}"
        );
    };
    server.set_serving(true).await?;
    ensure!(
        server.serving().await?,
        "SetServing did not flip grpc.health.v1 of {pinned}"
    );
    ensure!(moved.rpcs_by_peer.values().sum::<i32>() == 100, "{moved:?}");
    Ok(())
}

/// Waits until every one of 100 RPCs goes to the same backend, and names it.
async fn one_peer(client: &Client) -> Result<String> {
    let deadline = Instant::now() + CONVERGE;
    loop {
        let r = client.stats(100, 5).await?;
        if r.num_failures == 0 && r.rpcs_by_peer.len() == 1 {
            return Ok(r.rpcs_by_peer.into_keys().next().unwrap_or_default());
        }
        ensure!(
            Instant::now() < deadline,
            "same header should pin one peer; last {r:?}"
        );
    }
}
