//! Route matching cost: nanoseconds per `RouteTable::route()` for tables of 1, 10 and 100 routes
//! mixing prefix, exact-path, header and weighted-cluster routes. Prints one line per case.
//!
//! Run: `cargo bench -p meshwork --bench route_match` (release profile).

use std::hint::black_box;
use std::time::{Duration, Instant};

use meshwork::route::{RequestInfo, RouteTable};
use meshwork::xds::resource::common::{HeaderMatch, HeaderMatcher, StringMatcher, StringPattern};
use meshwork::xds::resource::route::{
    FilterOverrides, ForwardAction, PathMatcher, Route, RouteAction, RouteMatch, VirtualHost,
    WeightedCluster,
};
use tonic::codegen::http::{HeaderMap, HeaderValue};

const ITERS: u32 = 200_000;

/// Route `i` of a table: every third is a prefix, an exact path, or a prefix plus a header test.
fn route(i: usize) -> Route {
    let (path, headers) = match i % 3 {
        0 => (PathMatcher::Prefix(format!("/pkg.Svc{i}/")), Vec::new()),
        1 => (PathMatcher::Path(format!("/pkg.Svc{i}/Method")), Vec::new()),
        _ => (
            PathMatcher::Prefix(format!("/pkg.Svc{i}/")),
            vec![HeaderMatcher {
                name: "x-tenant".into(),
                matcher: HeaderMatch::String(StringMatcher {
                    pattern: StringPattern::Exact("blue".into()),
                    ignore_case: true,
                }),
                invert: false,
            }],
        ),
    };
    let clusters = (0..1 + i % 2)
        .map(|c| WeightedCluster {
            name: format!("cluster-{i}-{c}"),
            weight: 50,
            filter_overrides: FilterOverrides::new(),
        })
        .collect::<Vec<_>>();
    Route {
        name: format!("r{i}"),
        matcher: RouteMatch {
            path,
            case_sensitive: true,
            headers,
            runtime_fraction: None,
        },
        action: RouteAction::Forward(ForwardAction {
            total_weight: clusters.iter().map(|c| c.weight).sum(),
            clusters,
            max_stream_duration: None,
            retry_policy: None,
            hash_policies: Vec::new(),
        }),
        filter_overrides: FilterOverrides::new(),
    }
}

fn table(n: usize) -> RouteTable {
    let vh = VirtualHost {
        name: "bench".into(),
        domains: vec!["*".into()],
        routes: (0..n).map(route).collect(),
        retry_policy: None,
        filter_overrides: FilterOverrides::new(),
    };
    RouteTable::new("bench.svc:50051", &vh)
}

/// A request the route at `i` matches (header routes also need the `x-tenant` header).
fn path_for(i: usize) -> String {
    format!("/pkg.Svc{i}/Method")
}

fn measure(t: &RouteTable, path: &str, headers: &HeaderMap) -> Duration {
    let req = RequestInfo::new(path, headers);
    let mut rng = fastrand::Rng::with_seed(1);
    for _ in 0..ITERS / 10 {
        black_box(t.route(black_box(&req), &mut rng).ok());
    }
    let start = Instant::now();
    for _ in 0..ITERS {
        black_box(t.route(black_box(&req), &mut rng).ok());
    }
    start.elapsed() / ITERS
}

fn main() {
    let mut headers = HeaderMap::new();
    headers.insert("x-tenant", HeaderValue::from_static("Blue"));
    headers.insert("user-agent", HeaderValue::from_static("grpc-rust/bench"));
    println!("route_match: ns per RouteTable::route() ({ITERS} iterations each)");
    for n in [1usize, 10, 100] {
        let t = table(n);
        let first = measure(&t, &path_for(0), &headers);
        let last = measure(&t, &path_for(n - 1), &headers);
        let miss = measure(&t, "/pkg.Nope/Method", &headers);
        println!(
            "  {n:>3} routes: first route {:>6} ns | last route {:>6} ns | no match {:>6} ns",
            first.as_nanos(),
            last.as_nanos(),
            miss.as_nanos()
        );
    }
}
