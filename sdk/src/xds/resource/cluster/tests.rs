use std::collections::BTreeSet;
use std::time::Duration;

use meshwork_proto::envoy::config::cluster::v3::{
    CircuitBreakers, Cluster as PCluster, LoadBalancingPolicy, OutlierDetection as POutlier,
    circuit_breakers::Thresholds, cluster::{self, ClusterDiscoveryType, CustomClusterType, DiscoveryType, EdsClusterConfig, LbConfig},
    load_balancing_policy::Policy,
};
use meshwork_proto::envoy::config::core::v3::{
    Address, AggregatedConfigSource, ConfigSource, HealthStatusSet, SelfConfigSource, SocketAddress, TransportSocket,
    TypedExtensionConfig, address, config_source::ConfigSourceSpecifier, socket_address::PortSpecifier, transport_socket,
};
use meshwork_proto::envoy::config::endpoint::v3::{ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint};
use meshwork_proto::envoy::extensions::clusters::aggregate::v3::ClusterConfig;
use meshwork_proto::envoy::extensions::load_balancing_policies::{
    least_request::v3::LeastRequest, ring_hash::v3::RingHash, round_robin::v3::RoundRobin, wrr_locality::v3::WrrLocality,
};
use meshwork_proto::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, UpstreamTlsContext,
    common_tls_context::{CertificateProviderInstance, CombinedCertificateValidationContext, ValidationContextType},
};
use meshwork_proto::envoy::r#type::matcher::v3::{StringMatcher as PString, string_matcher::MatchPattern};
use meshwork_proto::envoy_types::util::pack_any;
use meshwork_proto::google::protobuf::{Any, Duration as PDuration, Struct, UInt32Value, UInt64Value, Value, value::Kind};
use prost::Message;

use super::outlier::{FailurePercentageEjection, SuccessRateEjection};
use super::*;
use crate::xds::resource::common::typed_struct::{TypedStruct, XDS_TYPED_STRUCT};
use crate::xds::resource::common::{StringMatcher, StringPattern};
use crate::xds::resource::endpoint::HealthStatus;

fn ads() -> Option<ConfigSource> {
    Some(ConfigSource { config_source_specifier: Some(ConfigSourceSpecifier::Ads(AggregatedConfigSource {})), ..Default::default() })
}

fn eds_cluster() -> PCluster {
    PCluster {
        name: "outbound|7070||echo".into(),
        cluster_discovery_type: Some(ClusterDiscoveryType::Type(DiscoveryType::Eds as i32)),
        eds_cluster_config: Some(EdsClusterConfig { eds_config: ads(), service_name: String::new() }),
        connect_timeout: Some(PDuration { seconds: 1, nanos: 0 }), // ignored by gRPC
        ..Default::default()
    }
}

fn ctx() -> DecodeContext {
    DecodeContext { certificate_providers: BTreeSet::from(["default".to_string()]), ..Default::default() }
}

fn decode(c: &PCluster) -> std::result::Result<Cluster, String> {
    Cluster::decode(c, &ctx()).map_err(|e| e.to_string())
}

fn policies(list: Vec<Any>) -> LoadBalancingPolicy {
    LoadBalancingPolicy {
        policies: list
            .into_iter()
            .map(|a| Policy { typed_extension_config: Some(TypedExtensionConfig { name: "p".into(), typed_config: Some(a) }) })
            .collect(),
    }
}

#[test]
fn plain_eds_cluster_gets_defaults() {
    let c = decode(&eds_cluster()).unwrap();
    assert_eq!(
        c,
        Cluster {
            name: "outbound|7070||echo".into(),
            discovery: ClusterDiscovery::Eds { service_name: "outbound|7070||echo".into() },
            lb_policy: LbPolicy::WrrLocality(Box::new(LbPolicy::RoundRobin)),
            max_requests: 1024,
            outlier_detection: None,
            tls: None,
            lrs_enabled: false,
            override_host_status: None,
        }
    );
}

#[test]
fn circuit_breaker_lrs_and_override_host_status() {
    let mut p = eds_cluster();
    p.circuit_breakers = Some(CircuitBreakers {
        thresholds: vec![
            Thresholds { priority: 1, max_requests: Some(UInt32Value { value: 5 }), ..Default::default() },
            Thresholds { priority: 0, max_requests: Some(UInt32Value { value: 77 }), ..Default::default() },
        ],
        ..Default::default()
    });
    p.lrs_server = Some(ConfigSource { config_source_specifier: Some(ConfigSourceSpecifier::Self_(SelfConfigSource::default())), ..Default::default() });
    p.common_lb_config = Some(cluster::CommonLbConfig {
        override_host_status: Some(HealthStatusSet { statuses: vec![1, 3] }),
        ..Default::default()
    });
    let c = decode(&p).unwrap();
    assert_eq!(c.max_requests, 77);
    assert!(c.lrs_enabled);
    assert_eq!(c.override_host_status, Some(vec![HealthStatus::Healthy, HealthStatus::Draining]));
    p.lrs_server = ads();
    assert!(decode(&p).unwrap_err().contains("lrs_server"));
}

#[test]
fn discovery_types() {
    let mut p = eds_cluster();
    p.eds_cluster_config.as_mut().unwrap().eds_config = None;
    assert!(decode(&p).unwrap_err().starts_with("eds_cluster_config.eds_config: config source is missing"));

    let agg = PCluster {
        name: "agg".into(),
        cluster_discovery_type: Some(ClusterDiscoveryType::ClusterType(CustomClusterType {
            name: AGGREGATE_CLUSTER_TYPE.into(),
            typed_config: Some(pack_any(ClusterConfig { clusters: vec!["primary".into(), "fallback".into()] })),
        })),
        ..Default::default()
    };
    assert_eq!(decode(&agg).unwrap().discovery, ClusterDiscovery::Aggregate { clusters: vec!["primary".into(), "fallback".into()] });

    let sa = SocketAddress { address: "dns.example".into(), port_specifier: Some(PortSpecifier::PortValue(8080)), ..Default::default() };
    let endpoint = LbEndpoint {
        host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
            address: Some(Address { address: Some(address::Address::SocketAddress(sa)) }),
            ..Default::default()
        })),
        ..Default::default()
    };
    let mut dns = PCluster {
        name: "dns".into(),
        cluster_discovery_type: Some(ClusterDiscoveryType::Type(DiscoveryType::LogicalDns as i32)),
        load_assignment: Some(ClusterLoadAssignment {
            endpoints: vec![LocalityLbEndpoints { lb_endpoints: vec![endpoint.clone()], ..Default::default() }],
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(decode(&dns).unwrap().discovery, ClusterDiscovery::LogicalDns { host: "dns.example".into(), port: 8080 });
    dns.load_assignment.as_mut().unwrap().endpoints[0].lb_endpoints.push(endpoint);
    assert!(decode(&dns).unwrap_err().contains("exactly one"));

    let mut stat = eds_cluster();
    stat.cluster_discovery_type = Some(ClusterDiscoveryType::Type(DiscoveryType::Static as i32));
    assert!(decode(&stat).unwrap_err().starts_with("type: discovery type 0 is not supported"));
}

#[test]
fn lb_policy_enum_and_configs() {
    let mut p = eds_cluster();
    p.lb_policy = cluster::LbPolicy::RingHash as i32;
    assert_eq!(
        decode(&p).unwrap().lb_policy,
        LbPolicy::RingHash(RingHashConfig { minimum_ring_size: 1024, maximum_ring_size: 8 * 1024 * 1024 })
    );
    p.lb_config = Some(LbConfig::RingHashLbConfig(cluster::RingHashLbConfig {
        minimum_ring_size: Some(UInt64Value { value: 100 }),
        maximum_ring_size: Some(UInt64Value { value: 10 }),
        hash_function: 0,
    }));
    assert!(decode(&p).unwrap_err().contains("ring_hash_lb_config.minimum_ring_size"));
    p.lb_config = Some(LbConfig::RingHashLbConfig(cluster::RingHashLbConfig { hash_function: 1, ..Default::default() }));
    assert!(decode(&p).unwrap_err().contains("only XX_HASH"));

    p.lb_policy = cluster::LbPolicy::LeastRequest as i32;
    p.lb_config = None;
    assert_eq!(decode(&p).unwrap().lb_policy, LbPolicy::WrrLocality(Box::new(LbPolicy::LeastRequest { choice_count: 2 })));
    p.lb_config = Some(LbConfig::LeastRequestLbConfig(cluster::LeastRequestLbConfig { choice_count: Some(UInt32Value { value: 1 }), ..Default::default() }));
    assert!(decode(&p).unwrap_err().contains("choice_count: is 1; it must be >= 2"));
    p.lb_policy = cluster::LbPolicy::Maglev as i32;
    assert!(decode(&p).unwrap_err().starts_with("lb_policy:"));
}

#[test]
fn load_balancing_policy_takes_first_supported_entry() {
    let mut p = eds_cluster();
    p.lb_policy = cluster::LbPolicy::Maglev as i32; // ignored when load_balancing_policy is set
    let unknown = Any { type_url: "type.googleapis.com/acme.Lb".into(), value: vec![] };
    let peak = TypedStruct {
        type_url: lb_policy::PEAK_EWMA_TYPE_URL.into(),
        value: Some(Struct {
            fields: [("decay".to_string(), Value { kind: Some(Kind::StringValue("2.5s".into())) })].into(),
        }),
    };
    let peak = Any { type_url: XDS_TYPED_STRUCT.into(), value: peak.encode_to_vec() };
    p.load_balancing_policy = Some(policies(vec![unknown.clone(), peak.clone(), pack_any(RoundRobin::default())]));
    assert_eq!(
        decode(&p).unwrap().lb_policy,
        LbPolicy::PeakEwma(PeakEwmaConfig { default_rtt: Duration::from_millis(30), decay: Duration::from_millis(2500) })
    );
    let wrr = WrrLocality {
        endpoint_picking_policy: Some(policies(vec![unknown.clone(), pack_any(LeastRequest { choice_count: Some(UInt32Value { value: 3 }), ..Default::default() })])),
    };
    p.load_balancing_policy = Some(policies(vec![pack_any(wrr)]));
    assert_eq!(decode(&p).unwrap().lb_policy, LbPolicy::WrrLocality(Box::new(LbPolicy::LeastRequest { choice_count: 3 })));
    p.load_balancing_policy = Some(policies(vec![pack_any(RingHash { maximum_ring_size: Some(UInt64Value { value: 9_000_000 }), ..Default::default() })]));
    let e = decode(&p).unwrap_err();
    assert!(e.contains("load_balancing_policy.policies[0].maximum_ring_size") && e.contains("8388608"), "{e}");
    p.load_balancing_policy = Some(policies(vec![unknown]));
    let e = decode(&p).unwrap_err();
    assert!(e.contains("no supported policy") && e.contains("acme.Lb"), "{e}");
}

#[test]
fn outlier_detection_defaults_and_validation() {
    let mut p = eds_cluster();
    p.outlier_detection = Some(POutlier { enforcing_failure_percentage: Some(UInt32Value { value: 50 }), ..Default::default() });
    let od = decode(&p).unwrap().outlier_detection.unwrap();
    assert_eq!(
        od,
        OutlierDetection {
            interval: Duration::from_secs(10),
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_percent: 10,
            success_rate: Some(SuccessRateEjection { stdev_factor: 1900, enforcement_percentage: 100, minimum_hosts: 5, request_volume: 100 }),
            failure_percentage: Some(FailurePercentageEjection { threshold: 85, enforcement_percentage: 50, minimum_hosts: 5, request_volume: 50 }),
            consecutive_5xx: None,
        }
    );
    p.outlier_detection = Some(POutlier { enforcing_success_rate: Some(UInt32Value { value: 0 }), ..Default::default() });
    assert!(!decode(&p).unwrap().outlier_detection.unwrap().is_enabled());
    p.outlier_detection = Some(POutlier { max_ejection_percent: Some(UInt32Value { value: 101 }), ..Default::default() });
    assert!(decode(&p).unwrap_err().starts_with("outlier_detection.max_ejection_percent: is 101"));
    p.outlier_detection = Some(POutlier { interval: Some(PDuration { seconds: -1, nanos: 0 }), ..Default::default() });
    assert!(decode(&p).unwrap_err().starts_with("outlier_detection.interval: negative duration"));
}

#[allow(deprecated)]
fn istio_tls(root_instance: &str) -> TransportSocket {
    let tls = UpstreamTlsContext {
        common_tls_context: Some(CommonTlsContext {
            tls_certificate_certificate_provider_instance: Some(CertificateProviderInstance { instance_name: "default".into(), certificate_name: "default".into() }),
            validation_context_type: Some(ValidationContextType::CombinedValidationContext(CombinedCertificateValidationContext {
                default_validation_context: Some(CertificateValidationContext {
                    match_subject_alt_names: vec![PString { match_pattern: Some(MatchPattern::Exact("spiffe://cluster.local/ns/echo/sa/default".into())), ignore_case: false }],
                    ..Default::default()
                }),
                validation_context_certificate_provider_instance: Some(CertificateProviderInstance { instance_name: root_instance.into(), certificate_name: "ROOTCA".into() }),
                ..Default::default()
            })),
            ..Default::default()
        }),
        sni: "outbound_.7070_._.echo".into(),
        ..Default::default()
    };
    TransportSocket { name: "envoy.transport_sockets.tls".into(), config_type: Some(transport_socket::ConfigType::TypedConfig(pack_any(tls))) }
}

#[test]
fn istio_mutual_tls_is_accepted_and_provider_names_checked() {
    let mut p = eds_cluster();
    p.transport_socket = Some(istio_tls("default"));
    let tls = decode(&p).unwrap().tls.unwrap();
    let provider = |c: &str| CertificateProvider { instance_name: "default".into(), certificate_name: c.into() };
    assert_eq!(
        tls,
        UpstreamTls {
            root: provider("ROOTCA"),
            identity: Some(provider("default")),
            subject_alt_names: vec![StringMatcher { pattern: StringPattern::Exact("spiffe://cluster.local/ns/echo/sa/default".into()), ignore_case: false }],
            sni: "outbound_.7070_._.echo".into(),
        }
    );
    p.transport_socket = Some(istio_tls("missing"));
    let e = decode(&p).unwrap_err();
    assert!(e.starts_with("transport_socket.typed_config.common_tls_context.combined_validation_context") && e.contains("`missing` is not in the bootstrap"), "{e}");
}
