//! gRPC's xDS interop resilience cases (grpc/grpc `doc/xds-test-descriptions.md`, psm-interop
//! `tests/circuit_breaking_test.py`, `tests/url_map/{timeout,fault_injection,retry}_test.py`,
//! `tests/outlier_detection_test.py`, `tests/affinity_test.py`) on loopback: real
//! `xds-interop-server` / `xds-interop-client` processes and the in-process dev control plane,
//! asserted through the client's stats and configure services only. Every case runs with both
//! Meshwork's client and gRPC's reference client (`<case>_with_reference_client`).
//!
//! Thresholds are the framework's (circuit breaking 500 / 1000 → 800 at qps 100, outlier
//! detection `interval 2s, successRateRequestVolume 20`, retry over 10 RPCs); only waits that
//! would cost tens of seconds are shortened: outlier detection's `base_ejection_time` is 2 s
//! instead of the 30 s default, and fault injection's delay case uses a 1 s app timeout.

#[macro_use]
#[path = "interop_conformance/harness.rs"]
mod harness;

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use harness::{
    Backend, Client, ClientKind, codes_between, control_plane, endpoints_yaml,
    endpoints_yaml_with_health, names, only_resource, start_backends, start_client_of,
};
use meshwork_examples::xds_server::Mesh;
use meshwork_proto::envoy::config::route::v3::RouteConfiguration;
use meshwork_proto::envoy::extensions::filters::common::fault::v3::fault_delay::FaultDelaySecifier;
use meshwork_proto::envoy::extensions::filters::http::fault::v3::HttpFault;
use meshwork_proto::envoy::extensions::filters::http::fault::v3::fault_abort::ErrorType;
use meshwork_proto::envoy::r#type::v3::fractional_percent::DenominatorType;
use meshwork_proto::grpc_testing::client_configure_request::RpcType;
use prost::Message;
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
    kind: &ClientKind,
    yaml: &str,
    flags: &[&str],
    num_rpcs: i32,
) -> Result<HashMap<String, HashMap<i32, i32>>> {
    let cp = control_plane(yaml).await?;
    let client = start_client_of(kind, &cp, TARGET, flags).await?;
    // Counted between two snapshots taken while RPCs flow, not from the client's start: RPCs
    // whose outcome comes late (an injected delay ending at the deadline) are then in flight at
    // both ends, counted at the first and missing at the last, so the shares stay unbiased.
    client.stats(num_rpcs / 2, 15).await?;
    let before = client.accumulated().await?;
    client.stats(num_rpcs, 15).await?;
    let after = client.accumulated().await?;
    Ok(["UNARY_CALL", "EMPTY_CALL"]
        .into_iter()
        .map(|m| (m.to_owned(), codes_between(&before, &after, m)))
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

/// Per-type qps of the circuit breaking case, and the in-flight shortfall it tolerates once steady
/// (psm-interop: a second's worth of RPCs may have ended before their replacements started).
const BREAKER_QPS: i32 = 100;

/// psm-interop `tests/circuit_breaking_test.py`: UnaryCall → cluster `unary` (backend 0,
/// `max_requests` 500), EmptyCall → cluster `empty` (backend 1, 1000); once both get RPCs, every
/// RPC is held open (`rpc-behavior: keep-open`, timeout 20 s) and the in-flight counts must settle
/// at the limits, then at 800 for UnaryCall after the control plane raises its limit.
async fn circuit_breaking_case(kind: ClientKind) -> Result<()> {
    let backends = start_backends(2).await?;
    let mesh = |unary_max: u32| {
        format!(
            "services:\n- host: interop-test\n  port: 8080\n  routes:\n  - match: {{path: /grpc.testing.TestService/UnaryCall}}\n    cluster: unary\n  - match: {{path: /grpc.testing.TestService/EmptyCall}}\n    cluster: empty\n  - cluster: unary\nclusters:\n- name: unary\n  max_requests: {unary_max}\n{}- name: empty\n  max_requests: 1000\n{}",
            endpoints_yaml(&backends[..1]),
            endpoints_yaml(&backends[1..])
        )
    };
    let cp = control_plane(&mesh(500)).await?;
    let qps = BREAKER_QPS.to_string();
    let flags = ["--rpc", "UnaryCall,EmptyCall", "--qps", &qps];
    let client = start_client_of(&kind, &cp, TARGET, &flags).await?;
    client.wait_for_peers(&names(&backends), CONVERGE).await?;
    let both = [RpcType::UnaryCall, RpcType::EmptyCall];
    let keep_open = both.map(|t| (t, "rpc-behavior", "keep-open"));
    client.configure(&both, &keep_open, 20).await?;
    in_flight_settles(&client, &[("UNARY_CALL", 500), ("EMPTY_CALL", 1000)]).await?;
    cp.set_mesh(&Mesh::from_yaml(&mesh(800))?)?;
    in_flight_settles(&client, &[("UNARY_CALL", 800), ("EMPTY_CALL", 1000)]).await
}

/// `assertClientEventuallyReachesSteadyState`: in-flight RPCs (started − succeeded − failed, from
/// the deprecated accumulated maps) reach [n × 0.95, n × 1.01] for every `(method, n)`, and after
/// a 5 s hold are still at most n × 1.01 and short of n by no more than [`BREAKER_QPS`].
async fn in_flight_settles(client: &Client, want: &[(&str, i32)]) -> Result<()> {
    let within = Duration::from_secs(30);
    let deadline = Instant::now() + within;
    let reached = |got: i32, n: i32| {
        let (got, n) = (f64::from(got), f64::from(n));
        got >= n * 0.95 && got <= n * 1.01
    };
    loop {
        let got = in_flight(client, want).await?;
        if want.iter().zip(&got).all(|((_, n), g)| reached(*g, *n)) {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "in-flight RPCs did not reach {want:?} (± 5 %/1 %) within {within:?}; last {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The hold is the assertion: the breaker keeps the count there while RPCs keep coming.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let got = in_flight(client, want).await?;
    for ((m, n), g) in want.iter().zip(&got) {
        ensure!(
            *g >= n - BREAKER_QPS && f64::from(*g) <= f64::from(*n) * 1.01,
            "{m}: in-flight moved to {g} 5 s after reaching {n} (all: {got:?})"
        );
    }
    Ok(())
}

/// In-flight RPCs of each method of `want`, in order.
#[allow(deprecated)]
async fn in_flight(client: &Client, want: &[(&str, i32)]) -> Result<Vec<i32>> {
    let a = client.accumulated().await?;
    let get = |map: &HashMap<String, i32>, m: &str| map.get(m).copied().unwrap_or(0);
    Ok(want
        .iter()
        .map(|(m, _)| {
            get(&a.num_rpcs_started_by_method, m)
                - get(&a.num_rpcs_succeeded_by_method, m)
                - get(&a.num_rpcs_failed_by_method, m)
        })
        .collect())
}

/// psm-interop `tests/url_map/timeout_test.py`: the UnaryCall route caps streams at 3 s. An app
/// timeout of 1 s (set through `Configure`) beats a 2 s server sleep; without sleeps all succeed;
/// with 4 s sleeps the route's cap fails UnaryCall while EmptyCall (uncapped) succeeds.
async fn timeout_case(kind: ClientKind) -> Result<()> {
    let backends = start_backends(1).await?;
    let yaml = split_mesh(
        "    timeout: {max_stream_duration: 3s, grpc_timeout_header_max: 3s}\n",
        "",
        "",
        &backends,
    );
    let both = ["--rpc", "EmptyCall,UnaryCall", "--qps", "20"];
    let sleep_4 = [
        &both[..],
        &[
            "--metadata",
            "EmptyCall:rpc-behavior:sleep-4,UnaryCall:rpc-behavior:sleep-4",
        ],
    ]
    .concat();
    let sleep_2 = [(RpcType::UnaryCall, "rpc-behavior", "sleep-2")];
    let (app, plain, capped) = tokio::try_join!(
        configured_codes(&kind, &yaml, &both, &sleep_2, 1),
        codes_of(&kind, &yaml, &both, 20),
        codes_of(&kind, &yaml, &sleep_4, 20),
    )?;
    ensure!(
        app.keys().eq([&DEADLINE_EXCEEDED]),
        "app timeout 1 s, sleep-2: want only DEADLINE_EXCEEDED, got {app:?}"
    );
    only(&plain, "UNARY_CALL", OK)?;
    only(&plain, "EMPTY_CALL", OK)?;
    only(&capped, "UNARY_CALL", DEADLINE_EXCEEDED)?;
    only(&capped, "EMPTY_CALL", OK)
}

/// Starts a client with `flags` on `yaml`, then `Configure`s UnaryCall only with `metadata` and
/// `timeout_sec`, and returns the UnaryCall status codes of 20 RPCs sent after that took effect.
async fn configured_codes(
    kind: &ClientKind,
    yaml: &str,
    flags: &[&str],
    metadata: &[(RpcType, &str, &str)],
    timeout_sec: i32,
) -> Result<HashMap<i32, i32>> {
    let cp = control_plane(yaml).await?;
    let client = start_client_of(kind, &cp, TARGET, flags).await?;
    client.stats(5, 15).await?;
    client
        .configure(&[RpcType::UnaryCall], metadata, timeout_sec)
        .await?;
    // RPCs sent before Configure may still be in flight: let them finish first.
    client.stats(5, 15).await?;
    let before = client.accumulated().await?;
    client.stats(20, 15).await?;
    let after = client.accumulated().await?;
    Ok(codes_between(&before, &after, "UNARY_CALL"))
}

/// psm-interop `tests/url_map/fault_injection_test.py` on the UnaryCall route: 0 % faults → OK,
/// 100 % abort 401 → UNAUTHENTICATED (EmptyCall, not matched, OK), 100 % 20 s delay with a 1 s app
/// timeout → DEADLINE_EXCEEDED, 50 % abort → half UNAUTHENTICATED (± 0.2).
async fn fault_injection_case(kind: ClientKind) -> Result<()> {
    let backends = start_backends(1).await?;
    let fault = |f: &str| split_mesh(&format!("    fault: {f}\n"), "", "", &backends);
    let both = ["--rpc", "EmptyCall,UnaryCall"];
    let short = [&both[..], &["--rpc_timeout_sec", "1", "--qps", "20"]].concat();
    let zero = fault("{abort: {http_status: 401, percent: 0}, delay: {fixed: 20s, percent: 0}}");
    let abort = fault("{abort: {http_status: 401, percent: 100}}");
    let delay = fault("{delay: {fixed: 20s, percent: 100}}");
    let half = fault("{abort: {http_status: 401, percent: 50}}");
    let delay_half = fault("{delay: {fixed: 20s, percent: 50}}");
    let (zero_config, zero, abort, delay, half, delay_half) = tokio::try_join!(
        dumped_fault(&kind, &zero),
        codes_of(&kind, &zero, &both, 50),
        codes_of(&kind, &abort, &both, 50),
        codes_of(&kind, &delay, &short, 20),
        codes_of(&kind, &half, &both, 200),
        codes_of(&kind, &delay_half, &short, 60),
    )?;
    // psm checks the dumped route's filter config: 20 s delay, 401 abort, both at 0 / MILLION.
    let delay_config = zero_config.delay.unwrap_or_default();
    let abort_config = zero_config.abort.clone().unwrap_or_default();
    let million = DenominatorType::Million as i32;
    ensure!(
        delay_config
            .percentage
            .map(|p| (p.numerator, p.denominator))
            == Some((0, million))
            && abort_config
                .percentage
                .map(|p| (p.numerator, p.denominator))
                == Some((0, million)),
        "CSDS fault percentages are not 0 / MILLION: {zero_config:?}"
    );
    ensure!(
        matches!(
            delay_config.fault_delay_secifier,
            Some(FaultDelaySecifier::FixedDelay(d)) if d.seconds == 20 && d.nanos == 0
        ),
        "CSDS fixed delay is not 20s: {zero_config:?}"
    );
    ensure!(
        matches!(abort_config.error_type, Some(ErrorType::HttpStatus(401))),
        "CSDS abort is not HTTP 401: {zero_config:?}"
    );
    only(&zero, "UNARY_CALL", OK)?;
    only(&abort, "UNARY_CALL", UNAUTHENTICATED)?;
    only(&abort, "EMPTY_CALL", OK)?;
    only(&delay, "UNARY_CALL", DEADLINE_EXCEEDED)?;
    for (codes, code, what) in [
        (&half, UNAUTHENTICATED, "50 % abort"),
        (&delay_half, DEADLINE_EXCEEDED, "50 % delay"),
    ] {
        let unary = codes.get("UNARY_CALL").cloned().unwrap_or_default();
        let total: i32 = unary.values().sum();
        let ratio = f64::from(unary.get(&code).copied().unwrap_or(0)) / f64::from(total.max(1));
        ensure!(
            (ratio - 0.5).abs() <= 0.2,
            "{what}: ratio {ratio} of {unary:?}"
        );
    }
    Ok(())
}

/// The fault filter config of the UnaryCall route as the client's CSDS dumps it.
async fn dumped_fault(kind: &ClientKind, yaml: &str) -> Result<HttpFault> {
    let cp = control_plane(yaml).await?;
    let client = start_client_of(kind, &cp, TARGET, &[]).await?;
    client.stats(5, 15).await?;
    let dump = client.csds().await?;
    let config = dump
        .config
        .first()
        .context("CSDS returned no client config")?;
    let routes: RouteConfiguration = only_resource(config, "RouteConfiguration")?;
    let route = routes
        .virtual_hosts
        .first()
        .and_then(|vh| vh.routes.first())
        .context("dumped route configuration without routes")?;
    let any = route
        .typed_per_filter_config
        .get("envoy.filters.http.fault")
        .context("the UnaryCall route has no envoy.filters.http.fault config")?;
    HttpFault::decode(any.value.as_slice()).context("decode the route's HTTPFault")
}

/// psm-interop `tests/url_map/retry_test.py`: the server fails with UNAVAILABLE until the 4th
/// retry, so `num_retries` 3 → every RPC UNAVAILABLE and 4 → every RPC OK (10 RPCs each).
async fn retry_case(kind: ClientKind) -> Result<()> {
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
        let client = start_client_of(&kind, &cp, TARGET, &["--qps", "20"]).await?;
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

/// psm-interop `tests/outlier_detection_test.py`: five backends; once one fails every RPC
/// (`hostname=<b0> error-code-2`), success-rate ejection moves all traffic to the other four; when
/// the failures stop, it returns to all five.
async fn outlier_detection_case(kind: ClientKind) -> Result<()> {
    let backends = start_backends(5).await?;
    // `enforcing_success_rate` is spelled out as Traffic Director sends it: C-core turns
    // success-rate ejection on only when the field is present (its CDS parser does not apply
    // Envoy's default of 100).
    let yaml = format!(
        "services:\n- host: interop-test\n  port: 8080\n  cluster: c1\nclusters:\n- name: c1\n  outlier_detection: {{interval: 2s, base_ejection_time: 2s, success_rate_request_volume: 20, enforcing_success_rate: 100}}\n{}",
        endpoints_yaml(&backends)
    );
    let cp = control_plane(&yaml).await?;
    let client = start_client_of(&kind, &cp, TARGET, &[]).await?;
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

/// psm-interop `tests/affinity_test.py`: a ring-hash cluster hashing on header `xds_md`; one key
/// pins one backend; when that backend goes NOT_SERVING (and EDS marks it unhealthy) the key moves
/// to exactly one other backend.
async fn affinity_case(kind: ClientKind) -> Result<()> {
    let backends = start_backends(3).await?;
    let yaml = |unhealthy: &[&str]| {
        format!(
            "services:\n- host: interop-test\n  port: 8080\n  routes:\n  - cluster: c1\n    hash_policy: [{{header: xds_md}}]\nclusters:\n- name: c1\n  lb_policy: ring_hash\n{}",
            endpoints_yaml_with_health(&backends, unhealthy)
        )
    };
    let cp = control_plane(&yaml(&[])).await?;
    let client = start_client_of(
        &kind,
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

with_both_clients! {
    circuit_breaking_case, circuit_breaking, circuit_breaking_with_reference_client;
    fault_injection_case, fault_injection, fault_injection_with_reference_client;
    retry_case, retry, retry_with_reference_client;
    outlier_detection_case, outlier_detection, outlier_detection_with_reference_client;
    affinity_case, affinity, affinity_with_reference_client;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout() -> Result<()> {
    timeout_case(ClientKind::Meshwork).await
}

/// The interop server answers its own expired deadline with DEADLINE_EXCEEDED (as C-core and Go
/// servers do), so C-core's client sees that code whichever side's timer fires first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_with_reference_client() -> Result<()> {
    match ClientKind::reference("timeout") {
        Some(kind) => timeout_case(kind).await,
        None => Ok(()),
    }
}
