//! EDS decode benchmark: how long decoding and validating a `ClusterLoadAssignment` takes, how long
//! the whole ingest path takes (a `DiscoveryResponse` through the ADS core: decode, validate, cache,
//! ACK and the watcher notification), and how much heap the decoded value keeps, at 1k, 10k and
//! 100k endpoints.
//!
//! Not a test: it prints a table. Run with `cargo bench -p meshwork --bench eds_decode`.
//! Goals: ≤ 10 ms at 10k endpoints and ≤ 1 KiB retained per endpoint, growing near-linearly.
//! Heap is counted by `stats_alloc`'s instrumented system allocator (no unsafe code here).

use std::alloc::System;
use std::hint::black_box;
use std::time::{Duration, Instant};

use meshwork::bootstrap::{Bootstrap, Node, XdsServer};
use meshwork::xds::core::{AdsCore, CoreConfig};
use meshwork::xds::resource::{DecodeContext, ResourceKind, decode};
use meshwork_proto::envoy::config::core::v3::{
    Address, HealthStatus, Locality, SocketAddress, address, socket_address::PortSpecifier,
};
use meshwork_proto::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint::HostIdentifier,
};
use meshwork_proto::envoy::service::discovery::v3::DiscoveryResponse;
use meshwork_proto::envoy_types::util::pack_any;
use meshwork_proto::google::protobuf::{Any, UInt32Value};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const ENDPOINTS_PER_LOCALITY: usize = 500;

fn assignment(endpoints: usize) -> Any {
    let localities = endpoints.div_ceil(ENDPOINTS_PER_LOCALITY);
    let endpoints = (0..localities)
        .map(|l| LocalityLbEndpoints {
            locality: Some(Locality {
                region: "us-east1".into(),
                zone: format!("zone-{l}"),
                sub_zone: String::new(),
            }),
            load_balancing_weight: Some(UInt32Value { value: 10 }),
            lb_endpoints: (l * ENDPOINTS_PER_LOCALITY
                ..((l + 1) * ENDPOINTS_PER_LOCALITY).min(endpoints))
                .map(lb_endpoint)
                .collect(),
            ..Default::default()
        })
        .collect();
    pack_any(ClusterLoadAssignment {
        cluster_name: CLUSTER.into(),
        endpoints,
        ..Default::default()
    })
}

fn lb_endpoint(i: usize) -> LbEndpoint {
    let ip = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    LbEndpoint {
        host_identifier: Some(HostIdentifier::Endpoint(Endpoint {
            address: Some(Address {
                address: Some(address::Address::SocketAddress(SocketAddress {
                    address: ip,
                    port_specifier: Some(PortSpecifier::PortValue(8080)),
                    ..Default::default()
                })),
            }),
            ..Default::default()
        })),
        health_status: HealthStatus::Healthy as i32,
        ..Default::default()
    }
}

struct Row {
    endpoints: usize,
    median: Duration,
    publish: Duration,
    retained: isize,
}

const CLUSTER: &str = "outbound|7070||echo";

/// Median time for one EDS response to go through the ADS core of a subscribed, connected client:
/// decode, validate, cache, queue the ACK and produce the watcher notification.
fn measure_publish(any: &Any, runs: usize) -> anyhow::Result<Duration> {
    let bootstrap = Bootstrap::new(XdsServer::insecure("127.0.0.1:1"), Node::new("bench"));
    let config = CoreConfig::new(&bootstrap, &bootstrap.xds_servers[0]);
    let mut times = Vec::with_capacity(runs);
    for run in 0..runs {
        let now = tokio::time::Instant::now();
        let mut core = AdsCore::new(config.clone());
        core.subscribe(ResourceKind::ClusterLoadAssignment, CLUSTER, now);
        core.on_stream_connected(now);
        drop(core.take_requests());
        let response = DiscoveryResponse {
            version_info: format!("v{run}"),
            resources: vec![any.clone()],
            type_url: ResourceKind::ClusterLoadAssignment.type_url().to_string(),
            nonce: format!("n{run}"),
            ..Default::default()
        };
        let start = Instant::now();
        let notifications = core.on_response(black_box(response), now);
        let acks = core.take_requests();
        times.push(start.elapsed());
        anyhow::ensure!(
            notifications.len() == 1 && acks.len() == 1,
            "expected one notification and one ACK, got {} and {}",
            notifications.len(),
            acks.len()
        );
    }
    times.sort();
    Ok(times[times.len() / 2])
}

fn measure(endpoints: usize, runs: usize) -> anyhow::Result<Row> {
    let any = assignment(endpoints);
    let ctx = DecodeContext::default();
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let decoded = decode(ResourceKind::ClusterLoadAssignment, black_box(&any), &ctx)?;
        times.push(start.elapsed());
        drop(black_box(decoded));
    }
    times.sort();
    let publish = measure_publish(&any, runs)?;
    let region = Region::new(GLOBAL);
    let decoded = decode(ResourceKind::ClusterLoadAssignment, &any, &ctx)?;
    let stats = region.change();
    // Reallocations are already folded into these two counters.
    let retained = stats.bytes_allocated as isize - stats.bytes_deallocated as isize;
    drop(black_box(decoded));
    Ok(Row {
        endpoints,
        median: times[times.len() / 2],
        publish,
        retained,
    })
}

fn main() -> anyhow::Result<()> {
    // `cargo test --all-targets` runs this binary without `--bench`: a quick smoke run then.
    if !std::env::args().any(|a| a == "--bench") {
        let row = measure(1_000, 1)?;
        anyhow::ensure!(row.retained > 0, "the decoded assignment retained no heap");
        return Ok(());
    }
    let rows = [
        measure(1_000, 21)?,
        measure(10_000, 11)?,
        measure(100_000, 5)?,
    ];
    let per_endpoint = |r: &Row| r.median.as_secs_f64() * 1e6 / r.endpoints as f64;
    let base = per_endpoint(&rows[0]);
    println!(
        "EDS decode + validate, and decode + validate + publish through the ADS core \
         (median of runs; heap retained by the decoded value)"
    );
    println!(
        "{:>10} {:>12} {:>14} {:>14} {:>16} {:>12}",
        "endpoints", "decode", "µs/endpoint", "+publish", "heap B/endpoint", "vs 1k"
    );
    for r in &rows {
        println!(
            "{:>10} {:>12} {:>14.3} {:>14} {:>16.1} {:>11.2}x",
            r.endpoints,
            format!("{:.2?}", r.median),
            per_endpoint(r),
            format!("{:.2?}", r.publish),
            r.retained as f64 / r.endpoints as f64,
            per_endpoint(r) / base,
        );
    }
    println!("goals: <= 10 ms at 10k endpoints, <= 1024 B/endpoint retained, ratio near 1x");
    Ok(())
}
