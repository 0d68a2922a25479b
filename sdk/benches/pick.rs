//! Cost of one pick, per policy, at 10 / 1k / 10k / 100k READY endpoints, on one thread, beside
//! tower's p2c `Balance` over `PeakEwma` services in the same run.
//!
//! Run: `cargo bench -p meshwork --bench pick` (release). Prints ns per pick (best of several
//! rounds), t(10k)/t(10) per policy and ours/tower for p2c. Goals (performance-anchors.md G5):
//! ≤ 100 ns per pick at 10k, t(10k)/t(10) ≤ 1.2, p2c no slower than tower's. Also prints the
//! cost of applying an EDS assignment and of one connectivity change (both rebuild the picker;
//! G6: ≤ 10 ms at 10k).

use std::convert::Infallible;
use std::hint::black_box;
use std::net::SocketAddr;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use meshwork::balancer::{
    BalancerOptions, Clock, ClusterBalancer, Connectivity, LoadReport, PickRequest, PickResult,
    Picker,
};
use meshwork::xds::resource::ClusterLoadAssignment;
use meshwork::xds::resource::cluster::{LbPolicy, PeakEwmaConfig, RingHashConfig, WrrConfig};
use meshwork::xds::resource::endpoint::{
    Endpoint, HealthStatus, Locality, LocalityEndpoints, Priority,
};
use tower::Service;
use tower::balance::p2c::Balance;
use tower::discover::ServiceList;
use tower::load::{CompleteOnResponse, PeakEwma};

/// `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it, and a
/// quick smoke run with tiny sizes is enough there.
fn full_run() -> bool {
    static FULL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FULL.get_or_init(|| std::env::args().any(|a| a == "--bench"))
}

fn sizes() -> &'static [usize] {
    if full_run() {
        &[10, 1_000, 10_000, 100_000]
    } else {
        &[10, 20, 50, 100]
    }
}

fn picks() -> u32 {
    if full_run() { 400_000 } else { 1_000 }
}

fn rounds() -> usize {
    if full_run() { 5 } else { 1 }
}

fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 8080))
}

/// One priority, `localities` localities of equal weight, `n` endpoints spread over them.
fn assignment(n: usize, localities: usize) -> ClusterLoadAssignment {
    let per = n.div_ceil(localities);
    let localities = (0..n)
        .collect::<Vec<_>>()
        .chunks(per)
        .enumerate()
        .map(|(l, chunk)| LocalityEndpoints {
            locality: Locality {
                zone: format!("z{l}"),
                ..Default::default()
            },
            weight: 1,
            endpoints: chunk
                .iter()
                .map(|&i| Endpoint {
                    address: addr(i),
                    additional_addresses: Vec::new(),
                    health: HealthStatus::Healthy,
                    weight: 1,
                    hash_key: None,
                    hostname: String::new(),
                })
                .collect(),
        })
        .collect();
    ClusterLoadAssignment {
        cluster_name: "bench".into(),
        priorities: vec![Priority { localities }],
        drop_overloads: Vec::new(),
    }
}

fn ready_balancer(policy: LbPolicy, n: usize, localities: usize) -> ClusterBalancer {
    let clock = Clock::manual();
    let options = BalancerOptions {
        seed: 1,
        clock: clock.clone(),
        ..BalancerOptions::default()
    };
    let mut lb = ClusterBalancer::from_assignment(policy, &assignment(n, localities), options);
    let ids: Vec<_> = lb.endpoints().iter().map(|e| e.handle.id()).collect();
    lb.update_connectivities(ids.into_iter().map(|id| (id, Connectivity::Ready)));
    // History as after some traffic: latencies 1–8 ms recorded at different times, and backend
    // load reports giving weights 200–600.
    for (i, e) in lb.endpoints().iter().enumerate() {
        let rtt = Duration::from_millis(1 + (i % 8) as u64);
        clock.advance(Duration::from_micros(1));
        e.handle
            .load()
            .start()
            .finish(rtt, &clock, Duration::from_secs(10));
        let report = LoadReport {
            qps: 100.0 + 50.0 * (i % 5) as f64,
            eps: 0.0,
            utilization: 0.5,
        };
        e.handle.backend_weight().record(report, clock.now_nanos());
    }
    clock.advance(Duration::from_secs(1));
    lb.on_timer(); // weighted round robin re-reads the weights
    lb
}

/// Best-of-rounds nanoseconds per call of `f`.
fn measure(mut f: impl FnMut(u64)) -> f64 {
    for i in 0..u64::from(picks()) / 4 {
        f(i);
    }
    (0..rounds())
        .map(|_| {
            let start = Instant::now();
            for i in 0..u64::from(picks()) {
                f(i);
            }
            start.elapsed().as_nanos() as f64 / f64::from(picks())
        })
        .fold(f64::INFINITY, f64::min)
}

fn bench_ours(picker: &dyn Picker, hashed: bool) -> f64 {
    measure(|i| {
        // A cheap distinct hash per request (splitmix-style multiply).
        let request = PickRequest {
            hash: hashed.then(|| i.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        };
        match picker.pick(&request) {
            PickResult::Pick(e) => {
                black_box(&e);
            }
            other => panic!("expected a pick, got {other:?}"),
        }
    })
}

fn bench_tower(n: usize) -> f64 {
    let services = (0..n).map(|_| {
        let svc = tower::service_fn(|_: ()| async { Ok::<_, Infallible>(()) });
        PeakEwma::new(
            svc,
            Duration::from_millis(30),
            10e9,
            CompleteOnResponse::default(),
        )
    });
    let mut balance = Balance::new(ServiceList::new(services.collect::<Vec<_>>()));
    let mut cx = Context::from_waker(Waker::noop());
    measure(|_| {
        match balance.poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => {}
            other => panic!("tower balance not ready: {other:?}"),
        }
        drop(black_box(balance.call(())));
    })
}

/// Milliseconds to apply a fresh assignment, and to rebuild after one connectivity change.
fn bench_rebuild(policy: &LbPolicy, n: usize, localities: usize) -> (f64, f64) {
    let eds = assignment(n, localities);
    let options = BalancerOptions {
        seed: 1,
        clock: Clock::tokio(),
        ..BalancerOptions::default()
    };
    let start = Instant::now();
    let mut lb = ClusterBalancer::from_assignment(policy.clone(), &eds, options);
    let apply = start.elapsed().as_secs_f64() * 1e3;
    let ids: Vec<_> = lb.endpoints().iter().map(|e| e.handle.id()).collect();
    lb.update_connectivities(ids.iter().map(|&id| (id, Connectivity::Ready)));
    let start = Instant::now();
    lb.update_connectivity(ids[n / 2], Connectivity::TransientFailure);
    (apply, start.elapsed().as_secs_f64() * 1e3)
}

fn main() {
    let p2c = LbPolicy::PeakEwma(PeakEwmaConfig {
        default_rtt: Duration::from_millis(30),
        decay: Duration::from_secs(10),
    });
    let ring = LbPolicy::RingHash(RingHashConfig {
        minimum_ring_size: 1024,
        maximum_ring_size: 4096,
    });
    let wrr = |p: LbPolicy| LbPolicy::WrrLocality(Box::new(p));
    let wrr_config = WrrConfig {
        enable_oob_load_report: false,
        oob_reporting_period: Duration::from_secs(10),
        blackout_period: Duration::ZERO,
        weight_expiration_period: Duration::from_secs(180),
        weight_update_period: Duration::from_secs(1),
        error_utilization_penalty: 1.0,
    };
    let cases: Vec<(&str, LbPolicy, usize, bool)> = vec![
        ("round_robin", LbPolicy::RoundRobin, 1, false),
        (
            "least_request(2)",
            LbPolicy::LeastRequest { choice_count: 2 },
            1,
            false,
        ),
        ("ring_hash (hash)", ring.clone(), 1, true),
        ("ring_hash (random)", ring, 1, false),
        (
            "pick_first",
            LbPolicy::PickFirst {
                shuffle_address_list: false,
            },
            1,
            false,
        ),
        ("p2c peak-EWMA", p2c.clone(), 1, false),
        (
            "weighted_round_robin (A58)",
            LbPolicy::WeightedRoundRobin(wrr_config),
            1,
            false,
        ),
        (
            "wrr_locality(rr), 10 loc",
            wrr(LbPolicy::RoundRobin),
            10,
            false,
        ),
        ("wrr_locality(p2c), 10 loc", wrr(p2c), 10, false),
    ];
    println!(
        "ns per pick, one thread, best of {} x {} picks",
        rounds(),
        picks()
    );
    print!("{:<28}", "policy");
    for &n in sizes() {
        print!("{n:>10}");
    }
    println!("{:>14}", "t(10k)/t(10)");
    let mut ours_p2c = Vec::new();
    for (name, policy, localities, hashed) in cases {
        print!("{name:<28}");
        let mut times = Vec::new();
        for &n in sizes() {
            let lb = ready_balancer(policy.clone(), n, localities);
            let t = bench_ours(&*lb.picker(), hashed);
            print!("{t:>10.1}");
            times.push(t);
        }
        println!("{:>14.2}", times[2] / times[0]);
        if name.starts_with("p2c") {
            ours_p2c = times;
        }
    }
    print!("{:<28}", "tower p2c Balance+PeakEwma");
    let mut tower_times = Vec::new();
    for &n in sizes() {
        let t = bench_tower(n);
        print!("{t:>10.1}");
        tower_times.push(t);
    }
    println!("{:>14.2}", tower_times[2] / tower_times[0]);
    print!("{:<28}", "ours/tower p2c");
    for (o, t) in ours_p2c.iter().zip(&tower_times) {
        print!("{:>10.2}", o / t);
    }
    println!();

    println!();
    println!("\nms to apply an EDS assignment / to rebuild after one connectivity change");
    let ring = LbPolicy::RingHash(RingHashConfig {
        minimum_ring_size: 1024,
        maximum_ring_size: 4096,
    });
    let rebuilds = [
        (
            "wrr_locality(rr), 10 loc",
            LbPolicy::WrrLocality(Box::new(LbPolicy::RoundRobin)),
            10,
        ),
        ("ring_hash", ring, 1),
    ];
    for (name, policy, localities) in rebuilds {
        print!("{name:<28}");
        let rebuild_sizes: &[usize] = if full_run() {
            &[1_000, 10_000, 100_000]
        } else {
            &[100]
        };
        for &n in rebuild_sizes {
            let (apply, change) = bench_rebuild(&policy, n, localities);
            print!("  {n}: {apply:.2} / {change:.2}");
        }
        println!();
    }
}
