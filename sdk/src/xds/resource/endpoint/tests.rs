use meshwork_proto::envoy::config::core::v3::{
    Address, Locality as PLocality, Metadata, SocketAddress, address, socket_address::PortSpecifier,
};
use meshwork_proto::envoy::config::endpoint::v3::{
    ClusterLoadAssignment as PCla, Endpoint as PEndpoint, LbEndpoint, LocalityLbEndpoints, cluster_load_assignment,
    endpoint::AdditionalAddress, lb_endpoint::HostIdentifier,
};
use meshwork_proto::envoy::r#type::v3::FractionalPercent;
use meshwork_proto::google::protobuf::{Struct, UInt32Value, Value, value::Kind};

use super::*;

fn addr(ip: &str, port: u32) -> Option<Address> {
    Some(Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: ip.into(),
            port_specifier: Some(PortSpecifier::PortValue(port)),
            ..Default::default()
        })),
    })
}

fn ep(ip: &str, port: u32) -> LbEndpoint {
    LbEndpoint {
        host_identifier: Some(HostIdentifier::Endpoint(PEndpoint { address: addr(ip, port), ..Default::default() })),
        ..Default::default()
    }
}

fn loc(zone: &str, priority: u32, weight: Option<u32>, eps: Vec<LbEndpoint>) -> LocalityLbEndpoints {
    LocalityLbEndpoints {
        locality: Some(PLocality { region: "r".into(), zone: zone.into(), sub_zone: String::new() }),
        priority,
        load_balancing_weight: weight.map(|value| UInt32Value { value }),
        lb_endpoints: eps,
        ..Default::default()
    }
}

fn cla(localities: Vec<LocalityLbEndpoints>) -> PCla {
    PCla { cluster_name: "echo".into(), endpoints: localities, ..Default::default() }
}

fn err(p: &PCla) -> String {
    ClusterLoadAssignment::try_from(p).unwrap_err().to_string()
}

#[test]
fn valid_assignment_decodes_every_endpoint_field() {
    let mut rich = ep("::1", 443);
    rich.health_status = 3;
    rich.load_balancing_weight = Some(UInt32Value { value: 7 });
    rich.metadata = Some(Metadata {
        filter_metadata: [(
            "envoy.lb".to_string(),
            Struct { fields: [("hash_key".to_string(), Value { kind: Some(Kind::StringValue("k1".into())) })].into() },
        )]
        .into(),
        ..Default::default()
    });
    if let Some(HostIdentifier::Endpoint(e)) = rich.host_identifier.as_mut() {
        e.additional_addresses = vec![AdditionalAddress { address: addr("10.0.0.9", 443) }];
        e.hostname = "a.example".into();
    }
    let mut p = cla(vec![
        loc("z1", 0, Some(10), vec![ep("10.0.0.1", 80), rich]),
        loc("z2", 1, Some(5), vec![ep("10.0.0.2", 80)]),
        loc("skipped", 0, None, vec![ep("10.0.0.3", 80)]),
    ]);
    p.policy = Some(cluster_load_assignment::Policy {
        drop_overloads: vec![cluster_load_assignment::policy::DropOverload {
            category: "throttle".into(),
            drop_percentage: Some(FractionalPercent { numerator: 5, denominator: 1 }),
        }],
        overprovisioning_factor: Some(UInt32Value { value: 140 }), // ignored
        ..Default::default()
    });
    let got = ClusterLoadAssignment::try_from(&p).unwrap();
    let locality = |z: &str| Locality { region: "r".into(), zone: z.into(), sub_zone: String::new() };
    let plain = |a: &str| Endpoint {
        address: a.parse().unwrap(),
        additional_addresses: vec![],
        health: HealthStatus::Unknown,
        weight: 1,
        hash_key: None,
        hostname: String::new(),
    };
    assert_eq!(
        got,
        ClusterLoadAssignment {
            cluster_name: "echo".into(),
            priorities: vec![
                Priority {
                    localities: vec![LocalityEndpoints {
                        locality: locality("z1"),
                        weight: 10,
                        endpoints: vec![
                            plain("10.0.0.1:80"),
                            Endpoint {
                                address: "[::1]:443".parse().unwrap(),
                                additional_addresses: vec!["10.0.0.9:443".parse().unwrap()],
                                health: HealthStatus::Draining,
                                weight: 7,
                                hash_key: Some("k1".into()),
                                hostname: "a.example".into(),
                            },
                        ],
                    }],
                },
                Priority { localities: vec![LocalityEndpoints { locality: locality("z2"), weight: 5, endpoints: vec![plain("10.0.0.2:80")] }] },
            ],
            drop_overloads: vec![DropOverload { category: "throttle".into(), fraction: Fraction::from_per_million(500) }],
        }
    );
}

#[test]
fn priorities_must_be_contiguous() {
    let e = err(&cla(vec![loc("a", 0, Some(1), vec![]), loc("b", 2, Some(1), vec![])]));
    assert!(e.contains("endpoints[1].priority") && e.contains("contiguous"), "{e}");
    let e = err(&cla(vec![loc("a", 1, Some(1), vec![]), loc("b", 1, Some(1), vec![]), loc("c", 2, Some(1), vec![])]));
    assert!(e.contains("priority 0 is missing"), "{e}");
}

#[test]
fn duplicates_and_weights_are_rejected() {
    let e = err(&cla(vec![loc("a", 0, Some(1), vec![]), loc("a", 0, Some(1), vec![])]));
    assert!(e.contains("endpoints[1].locality") && e.contains("appears twice"), "{e}");
    let e = err(&cla(vec![loc("a", 0, Some(1), vec![ep("10.0.0.1", 80)]), loc("b", 0, Some(1), vec![ep("10.0.0.1", 80)])]));
    assert!(e.contains("endpoints[1].lb_endpoints[0].endpoint.address") && e.contains("10.0.0.1:80 appears more than once"), "{e}");
    let e = err(&cla(vec![loc("a", 0, Some(u32::MAX), vec![]), loc("b", 0, Some(1), vec![])]));
    assert!(e.contains("sum to more than"), "{e}");
    let mut zero = ep("10.0.0.1", 80);
    zero.load_balancing_weight = Some(UInt32Value { value: 0 });
    assert!(err(&cla(vec![loc("a", 0, Some(1), vec![zero])])).contains("load_balancing_weight: is 0"));
}

#[test]
fn addresses_must_be_ip_literals_with_numeric_ports() {
    let e = err(&cla(vec![loc("a", 0, Some(1), vec![ep("backend.local", 80)])]));
    assert!(e.contains("socket_address.address") && e.contains("not an IPv4 or IPv6"), "{e}");
    let e = err(&cla(vec![loc("a", 0, Some(1), vec![ep("10.0.0.1", 70000)])]));
    assert!(e.contains("port_value: 70000 is not a port"), "{e}");
}
