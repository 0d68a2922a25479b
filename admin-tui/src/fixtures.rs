//! Recorded admin data built in code (what a small mesh's admin endpoints answer), for the
//! update and snapshot tests: a front-end with two targets, a NACKed route config, an ejected
//! endpoint, a fault rule and a handful of events; a quiet back-end; and an endpoint that
//! refuses the token.

use std::time::Duration;

use envoy_types::pb::google::protobuf::{Duration as PbDuration, Timestamp};
use meshwork_proto::admin::v1::{
    BreakerOverflow, CircuitBreaker, Cluster, ConfigDump, ConfigDumpEntry, ConnectionState,
    Ejection, Endpoint, Event, FaultRule, FaultRuleChange, FaultRuleChanged, FaultRuleSpec,
    FaultScope, HealthSource, HealthState, Info, ListFaultsResponse, Locality,
    OutlierDetectionSummary, ResourceStatus, RouteSummary, RouteTableSummary, Snapshot, Target,
    TargetState, UpdateFailure, WeightedClusterRef, XdsNack, XdsServer, XdsUpdate, event::Kind,
    fault_scope::Scope,
};

use crate::app::{Action, App, DataEvent, update};

/// 2026-11-25 07:30:00 UTC.
pub const T0: i64 = 1_795_591_800;

pub fn ts(offset_secs: i64) -> Timestamp {
    Timestamp {
        seconds: T0 + offset_secs,
        nanos: 0,
    }
}

pub fn info(name: &str) -> Info {
    Info {
        service_name: name.to_owned(),
        node_id: format!("{name}-node-1"),
        version: "0.1.0".to_owned(),
        uptime: Some(PbDuration {
            seconds: 3600,
            nanos: 0,
        }),
        started_at: Some(ts(-3600)),
        services: Vec::new(),
        xds_servers: vec![XdsServer {
            server_uri: "127.0.0.1:18000".to_owned(),
            state: ConnectionState::Connected as i32,
            state_since: Some(ts(-3500)),
            last_error: String::new(),
            in_use: true,
        }],
    }
}

pub fn endpoint(addr: &str, zone: &str, rps: f64, err: f64, p50: f64, p99: f64) -> Endpoint {
    Endpoint {
        address: addr.to_owned(),
        locality: Some(Locality {
            region: "local".into(),
            zone: zone.into(),
            sub_zone: String::new(),
        }),
        priority: 0,
        weight: 1,
        health_source: HealthSource::Eds as i32,
        health_state: HealthState::Healthy as i32,
        ejected_until: None,
        in_flight: (rps / 10.0) as u32,
        requests_per_sec: rps,
        error_rate: err,
        latency_p50_ms: p50,
        latency_p99_ms: p99,
        ewma_ms: 0.0,
    }
}

/// The front-end's snapshot; `scale` multiplies its traffic (for histories).
pub fn snapshot(scale: f64, at: i64) -> Snapshot {
    let mut ejected = endpoint("10.0.0.13:50051", "zone-b", 0.0, 0.6, 4.0, 180.0);
    ejected.health_state = HealthState::Ejected as i32;
    ejected.health_source = HealthSource::OutlierDetection as i32;
    ejected.ejected_until = Some(ts(at + 25));
    let mut checking = endpoint("10.0.0.12:50051", "zone-a", 14.0 * scale, 0.0, 21.0, 35.0);
    checking.health_source = HealthSource::ActiveCheck as i32;
    Snapshot {
        taken_at: Some(ts(at)),
        targets: vec![
            Target {
                name: "xds:///greeter:50051".to_owned(),
                state: TargetState::Ready as i32,
                error: String::new(),
                route_table: Some(RouteTableSummary {
                    listener_name: "greeter:50051".into(),
                    route_config_name: "greeter-routes".into(),
                    virtual_host: "greeter".into(),
                    routes: vec![
                        RouteSummary {
                            name: "canary".into(),
                            r#match: "prefix / + header x-canary=yes".into(),
                            clusters: vec![WeightedClusterRef {
                                name: "greeter-canary".into(),
                                weight: 1,
                            }],
                            timeout: None,
                            retry_policy: String::new(),
                            fault: String::new(),
                        },
                        RouteSummary {
                            name: "default".into(),
                            r#match: "prefix /".into(),
                            clusters: vec![
                                WeightedClusterRef {
                                    name: "greeter".into(),
                                    weight: 90,
                                },
                                WeightedClusterRef {
                                    name: "greeter-canary".into(),
                                    weight: 10,
                                },
                            ],
                            timeout: Some(PbDuration {
                                seconds: 2,
                                nanos: 0,
                            }),
                            retry_policy: "3 attempts on UNAVAILABLE".into(),
                            fault: String::new(),
                        },
                    ],
                }),
                clusters: vec![
                    Cluster {
                        name: "greeter".into(),
                        eds_service_name: String::new(),
                        lb_policy: "round_robin".into(),
                        breaker: Some(CircuitBreaker {
                            max_requests: 1024,
                            in_flight: 12,
                            overflows: 0,
                        }),
                        outlier_detection: Some(OutlierDetectionSummary {
                            interval: Some(PbDuration {
                                seconds: 1,
                                nanos: 0,
                            }),
                            base_ejection_time: Some(PbDuration {
                                seconds: 30,
                                nanos: 0,
                            }),
                            max_ejection_time: Some(PbDuration {
                                seconds: 300,
                                nanos: 0,
                            }),
                            max_ejection_percent: 50,
                            success_rate_enabled: true,
                            failure_percentage_enabled: false,
                            ejected: 1,
                        }),
                        endpoints: vec![
                            endpoint("10.0.0.11:50051", "zone-a", 21.5 * scale, 0.0, 1.2, 3.4),
                            checking,
                            ejected,
                        ],
                    },
                    Cluster {
                        name: "greeter-canary".into(),
                        eds_service_name: String::new(),
                        lb_policy: "least_request".into(),
                        breaker: Some(CircuitBreaker {
                            max_requests: 8,
                            in_flight: 8,
                            overflows: 42,
                        }),
                        outlier_detection: None,
                        endpoints: vec![endpoint(
                            "10.0.0.21:50051",
                            "zone-b",
                            5.0 * scale,
                            0.02,
                            2.0,
                            9.5,
                        )],
                    },
                ],
            },
            Target {
                name: "xds:///billing:443".to_owned(),
                state: TargetState::Failed as i32,
                error: "listener billing:443 does not exist".to_owned(),
                route_table: None,
                clusters: Vec::new(),
            },
        ],
    }
}

pub fn quiet_snapshot(at: i64) -> Snapshot {
    Snapshot {
        taken_at: Some(ts(at)),
        targets: vec![Target {
            name: "static:///10.0.0.31:7000".to_owned(),
            state: TargetState::Ready as i32,
            error: String::new(),
            route_table: None,
            clusters: vec![Cluster {
                name: "static".into(),
                eds_service_name: String::new(),
                lb_policy: "pick_first".into(),
                breaker: Some(CircuitBreaker {
                    max_requests: 1024,
                    in_flight: 0,
                    overflows: 0,
                }),
                outlier_detection: None,
                endpoints: vec![endpoint("10.0.0.31:7000", "zone-a", 2.0, 0.0, 0.8, 1.9)],
            }],
        }],
    }
}

pub fn config_dump() -> ConfigDump {
    let entry = |ty: &str, name: &str, version: &str, status: ResourceStatus| ConfigDumpEntry {
        type_url: format!("type.googleapis.com/{ty}"),
        name: name.to_owned(),
        version_info: version.to_owned(),
        resource: Vec::new(),
        last_updated: Some(ts(-60)),
        status: status as i32,
        error: None,
    };
    let mut nacked = entry(
        "envoy.config.route.v3.RouteConfiguration",
        "greeter-routes",
        "3",
        ResourceStatus::Nacked,
    );
    nacked.error = Some(UpdateFailure {
        details: "route 0: regex `[` does not compile".into(),
        version_info: "4".into(),
        last_update_attempt: Some(ts(-5)),
    });
    ConfigDump {
        entries: vec![
            entry(
                "envoy.config.listener.v3.Listener",
                "greeter:50051",
                "3",
                ResourceStatus::Acked,
            ),
            entry(
                "envoy.config.listener.v3.Listener",
                "billing:443",
                "",
                ResourceStatus::DoesNotExist,
            ),
            nacked,
            entry(
                "envoy.config.cluster.v3.Cluster",
                "greeter",
                "3",
                ResourceStatus::Acked,
            ),
            entry(
                "envoy.config.cluster.v3.Cluster",
                "greeter-canary",
                "3",
                ResourceStatus::Acked,
            ),
            entry(
                "envoy.config.endpoint.v3.ClusterLoadAssignment",
                "greeter",
                "7",
                ResourceStatus::Acked,
            ),
        ],
    }
}

pub fn fault_spec() -> FaultRuleSpec {
    FaultRuleSpec {
        scope: Some(FaultScope {
            scope: Some(Scope::ClientCluster("greeter-canary".into())),
        }),
        delay_ms: 250,
        abort_code: Some(14),
        percentage: 25.0,
        ttl_ms: Some(300_000),
    }
}

pub fn faults() -> ListFaultsResponse {
    ListFaultsResponse {
        rules: vec![FaultRule {
            id: 7,
            spec: Some(fault_spec()),
            created_at: Some(ts(-30)),
            expires_at: Some(ts(270)),
            matched: 120,
            injected: 31,
        }],
        max_rules: 16,
        active_faults: 2,
        max_active_faults: None,
        max_ttl_ms: 24 * 3600 * 1000,
    }
}

pub fn events() -> Vec<Event> {
    let ev = |at, kind| Event {
        at: Some(ts(at)),
        kind: Some(kind),
    };
    vec![
        ev(
            -50,
            Kind::XdsUpdate(XdsUpdate {
                type_url: "type.googleapis.com/envoy.config.cluster.v3.Cluster".into(),
                name: "greeter".into(),
                version: "3".into(),
                removed: false,
            }),
        ),
        ev(
            -5,
            Kind::XdsNack(XdsNack {
                type_url: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration".into(),
                name: "greeter-routes".into(),
                version: "4".into(),
                message: "route 0: regex `[` does not compile".into(),
            }),
        ),
        ev(
            -3,
            Kind::Ejection(Ejection {
                cluster: "greeter".into(),
                endpoint: "10.0.0.13:50051".into(),
                until: Some(ts(25)),
                reason: "success rate 41% < threshold 62%".into(),
            }),
        ),
        ev(
            -2,
            Kind::BreakerOverflow(BreakerOverflow {
                cluster: "greeter-canary".into(),
                max_requests: 8,
                refused: 42,
            }),
        ),
        ev(
            -1,
            Kind::FaultRuleChanged(FaultRuleChanged {
                change: FaultRuleChange::Set as i32,
                rule: faults().rules.into_iter().next(),
            }),
        ),
    ]
}

fn data(app: &mut App, endpoint: usize, event: DataEvent) {
    update(app, Action::Data { endpoint, event });
}

/// Three admin endpoints: a busy front-end, a quiet back-end, one refusing the token.
pub fn app(size: (u16, u16)) -> App {
    let mut app = App::new(["10.0.0.5:9901", "10.0.0.6:9901", "10.0.0.7:9901"]);
    app.size = size;
    data(
        &mut app,
        0,
        DataEvent::Connected(Box::new(info("frontend"))),
    );
    for i in 0..40 {
        let scale = 1.0 + ((i % 10) as f64) / 10.0;
        data(
            &mut app,
            0,
            DataEvent::Snapshot(Box::new(snapshot(scale, i - 40))),
        );
    }
    data(&mut app, 0, DataEvent::Snapshot(Box::new(snapshot(1.0, 0))));
    data(&mut app, 0, DataEvent::Faults(faults()));
    data(&mut app, 0, DataEvent::ConfigDump(config_dump()));
    for e in events() {
        data(&mut app, 0, DataEvent::Event(Box::new(e)));
    }
    data(&mut app, 1, DataEvent::Connected(Box::new(info("billing"))));
    data(
        &mut app,
        1,
        DataEvent::Snapshot(Box::new(quiet_snapshot(0))),
    );
    data(&mut app, 2, DataEvent::Connecting { attempt: 1 });
    data(
        &mut app,
        2,
        DataEvent::Failed {
            error: "wrong token for 10.0.0.7:9901: set MESHTOP_TOKEN or --token-file".into(),
            retry_in: Duration::from_secs(1),
        },
    );
    app
}
