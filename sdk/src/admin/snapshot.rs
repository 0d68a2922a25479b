//! GetSnapshot: every channel of the mesh → its route table → clusters → endpoints, as
//! `meshwork.admin.v1.Snapshot`.
//!
//! Reads the view each channel's manager publishes (`channel::inspect`) and the resolver
//! snapshot inside it; nothing here takes a lock the request path uses. Per endpoint it shows the
//! address, locality, priority, weight, where its health comes from and what it is, the live
//! in-flight count, the peak-EWMA latency estimate, and the request rate, error rate and latency
//! p50/p99 of the endpoint's last completed one-second window (`balancer::stats`; the first
//! window is reported while it runs), and until when outlier detection ejects it. The breaker
//! shows its process-wide in-flight count and refusals since it was created.

use std::time::Duration;

use meshwork_proto::admin::v1 as pb;
use meshwork_proto::google::protobuf::Duration as PbDuration;

use crate::Mesh;
use crate::balancer::{Connectivity, EndpointState};
use crate::channel::inspect::{ClusterView, ClusterViewKind, RoutingView, TargetView};
use crate::fault::WallClock;
use crate::resolver::{ClusterEndpoints, Snapshot};
use crate::xds::resource::cluster::LbPolicy;
use crate::xds::resource::endpoint::HealthStatus;
use crate::xds::resource::listener::RouteSource;
use crate::xds::resource::route::matcher::PathMatcher;
use crate::xds::resource::route::{Route, RouteAction};

/// The snapshot `request` asks for.
pub(crate) fn build(mesh: &Mesh, request: &pb::GetSnapshotRequest) -> pb::Snapshot {
    let (_, clock) = mesh.started();
    let targets = mesh
        .channels()
        .iter()
        .map(|core| core.inspect())
        .filter(|v| request.targets.is_empty() || request.targets.iter().any(|t| **t == *v.target))
        .map(|v| target(&v, request.omit_endpoints, &clock))
        .collect();
    pb::Snapshot {
        taken_at: Some(WallClock::now().timestamp(tokio::time::Instant::now())),
        targets,
    }
}

fn target(view: &TargetView, omit_endpoints: bool, clock: &WallClock) -> pb::Target {
    let (state, error) = match &view.routing {
        RoutingView::Pending => (pb::TargetState::Resolving, String::new()),
        RoutingView::Static | RoutingView::Ready => (pb::TargetState::Ready, String::new()),
        RoutingView::Failed(message) => (pb::TargetState::Failed, message.to_string()),
    };
    let snapshot = view.snapshot.as_deref();
    pb::Target {
        name: view.target.to_string(),
        state: state as i32,
        error,
        route_table: snapshot.map(route_table),
        clusters: view
            .clusters
            .iter()
            .map(|c| cluster(c, snapshot, omit_endpoints, clock))
            .collect(),
    }
}

fn route_table(snapshot: &Snapshot) -> pb::RouteTableSummary {
    let route_config_name = match &snapshot.listener.route_source {
        RouteSource::Rds { name } => name.clone(),
        RouteSource::Inline(_) => String::new(),
    };
    let vh = snapshot.virtual_host();
    pb::RouteTableSummary {
        listener_name: snapshot.listener.name.clone(),
        route_config_name,
        virtual_host: vh.map(|v| v.name.clone()).unwrap_or_default(),
        routes: vh
            .map(|v| v.routes.iter().map(route).collect())
            .unwrap_or_default(),
    }
}

fn route(r: &Route) -> pb::RouteSummary {
    let mut words = match &r.matcher.path {
        PathMatcher::Prefix(p) if p.is_empty() => "every path".to_string(),
        PathMatcher::Prefix(p) => format!("prefix {p}"),
        PathMatcher::Path(p) => format!("path {p}"),
        PathMatcher::Regex(re) => format!("regex {}", re.source()),
    };
    for h in &r.matcher.headers {
        words.push_str(&format!(" + header {}", h.name));
    }
    if let Some(fraction) = r.matcher.runtime_fraction {
        words.push_str(&format!(
            " + {}% of requests",
            f64::from(fraction.per_million()) / 10_000.0
        ));
    }
    let mut summary = pb::RouteSummary {
        name: r.name.clone(),
        r#match: words,
        ..pb::RouteSummary::default()
    };
    if let RouteAction::Forward(f) = &r.action {
        summary.clusters = f
            .clusters
            .iter()
            .map(|c| pb::WeightedClusterRef {
                name: c.name.clone(),
                weight: c.weight,
            })
            .collect();
        summary.timeout = f.max_stream_duration.filter(|d| !d.is_zero()).map(duration);
        summary.retry_policy = f
            .retry_policy
            .as_ref()
            .map(|p| format!("{} attempts on {:?}", p.max_attempts(), p.retry_on))
            .unwrap_or_default();
    }
    if !r.filter_overrides.is_empty() {
        summary.fault = format!(
            "overrides: {}",
            r.filter_overrides
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    summary
}

fn cluster(
    view: &ClusterView,
    snapshot: Option<&Snapshot>,
    omit_endpoints: bool,
    clock: &WallClock,
) -> pb::Cluster {
    let config = snapshot
        .and_then(|s| s.cluster(&view.name))
        .and_then(Result::ok);
    let mut out = pb::Cluster {
        name: view.name.clone(),
        ..pb::Cluster::default()
    };
    if let Some(config) = config {
        if let ClusterEndpoints::Eds { service_name, .. } = &config.endpoints
            && *service_name != view.name
        {
            out.eds_service_name = service_name.clone();
        }
        out.lb_policy = policy_name(&config.cluster.lb_policy);
        out.outlier_detection =
            config
                .cluster
                .outlier_detection
                .as_ref()
                .map(|od| pb::OutlierDetectionSummary {
                    interval: Some(duration(od.interval)),
                    base_ejection_time: Some(duration(od.base_ejection_time)),
                    max_ejection_time: Some(duration(od.max_ejection_time)),
                    max_ejection_percent: od.max_ejection_percent,
                    success_rate_enabled: od.success_rate.is_some(),
                    failure_percentage_enabled: od.failure_percentage.is_some(),
                    ejected: 0,
                });
    } else if snapshot.is_none() {
        out.lb_policy = "static".to_string();
    }
    match &view.kind {
        ClusterViewKind::Leaf {
            endpoints,
            ejected_until,
            breaker,
            max_requests,
        } => {
            out.breaker = Some(pb::CircuitBreaker {
                max_requests: *max_requests,
                in_flight: breaker.in_flight(),
                overflows: breaker.overflows(),
            });
            if let Some(od) = out.outlier_detection.as_mut() {
                od.ejected = u32::try_from(ejected_until.len()).unwrap_or(u32::MAX);
            }
            if !omit_endpoints {
                let from_eds = snapshot.is_some();
                out.endpoints = endpoints
                    .iter()
                    .map(|e| {
                        let mut shown = endpoint(e, from_eds);
                        shown.ejected_until = ejected_until
                            .get(&e.handle.id())
                            .map(|until| clock.timestamp(*until));
                        if !e.usable && shown.ejected_until.is_none() {
                            // Unusable but not ejected: its active health check says so.
                            shown.health_source = pb::HealthSource::ActiveCheck as i32;
                            shown.health_state = pb::HealthState::Unhealthy as i32;
                        }
                        shown
                    })
                    .collect();
            }
        }
        ClusterViewKind::Aggregate(leaves) => {
            out.lb_policy = format!("aggregate of {}", leaves.join(", "));
        }
        ClusterViewKind::Failed => {}
    }
    out
}

fn endpoint(e: &EndpointState, from_eds: bool) -> pb::Endpoint {
    let base = if from_eds {
        pb::HealthSource::Eds
    } else {
        pb::HealthSource::Static
    };
    let (source, state) = if !e.usable {
        (pb::HealthSource::OutlierDetection, pb::HealthState::Ejected)
    } else {
        match (e.spec.health, e.connectivity) {
            (HealthStatus::Draining, _) => (pb::HealthSource::Eds, pb::HealthState::Draining),
            (HealthStatus::Healthy | HealthStatus::Unknown, Connectivity::Ready) => {
                (base, pb::HealthState::Healthy)
            }
            (HealthStatus::Healthy | HealthStatus::Unknown, Connectivity::Connecting) => {
                (pb::HealthSource::Connectivity, pb::HealthState::Connecting)
            }
            (HealthStatus::Healthy | HealthStatus::Unknown, Connectivity::TransientFailure) => {
                (pb::HealthSource::Connectivity, pb::HealthState::Unhealthy)
            }
            (HealthStatus::Healthy | HealthStatus::Unknown, Connectivity::Idle) => {
                (base, pb::HealthState::Unknown)
            }
            _ => (pb::HealthSource::Eds, pb::HealthState::Unhealthy),
        }
    };
    let load = e.handle.load();
    let rates = load.stats().rates(tokio::time::Instant::now());
    // The estimate as of its last sample: each channel's clock has its own epoch, so "now"
    // cannot be expressed here; at time 0 no decay is applied.
    let ewma_ms = match load.latency().last_update() {
        Some(_) => {
            load.latency()
                .estimate(0, Duration::from_secs(1), Duration::ZERO)
                / 1e6
        }
        None => 0.0,
    };
    pb::Endpoint {
        address: e.handle.address().to_string(),
        locality: Some(pb::Locality {
            region: e.spec.locality.region.clone(),
            zone: e.spec.locality.zone.clone(),
            sub_zone: e.spec.locality.sub_zone.clone(),
        }),
        priority: e.spec.priority,
        weight: e.spec.weight.saturating_mul(e.spec.locality_weight),
        health_source: source as i32,
        health_state: state as i32,
        in_flight: load.in_flight(),
        requests_per_sec: rates.requests_per_sec,
        error_rate: rates.error_rate,
        latency_p50_ms: rates.p50.as_secs_f64() * 1e3,
        latency_p99_ms: rates.p99.as_secs_f64() * 1e3,
        ewma_ms,
        ..pb::Endpoint::default()
    }
}

fn policy_name(policy: &LbPolicy) -> String {
    match policy {
        LbPolicy::RoundRobin => "round_robin".into(),
        LbPolicy::RingHash(_) => "ring_hash".into(),
        LbPolicy::LeastRequest { .. } => "least_request".into(),
        LbPolicy::PickFirst { .. } => "pick_first".into(),
        LbPolicy::WrrLocality(child) => format!("wrr_locality({})", policy_name(child)),
        LbPolicy::WeightedRoundRobin(_) => "weighted_round_robin".into(),
        LbPolicy::PeakEwma(_) => "p2c_peak_ewma".into(),
    }
}

/// A protobuf Duration.
pub(crate) fn duration(d: Duration) -> PbDuration {
    PbDuration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}
