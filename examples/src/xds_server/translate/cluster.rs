//! Cluster for a mesh cluster: EDS over ADS (or LOGICAL_DNS for a `dns:` cluster), its LB policy (gRFC A42/A48/A52/A62), circuit
//! breaker `max_requests` (A32), outlier detection (A50) and upstream TLS (A29, see `tls`).
//!
//! round_robin, least_request and ring_hash use the `lb_policy` enum (understood by every gRPC
//! client); pick_first and Meshwork's peak_ewma need `load_balancing_policy`. peak_ewma is a
//! TypedStruct (`type.googleapis.com/meshwork.lb.PeakEwma`) followed by round_robin, so clients
//! that do not know it fall back instead of rejecting the cluster (A52 picks the first policy it
//! supports).

use std::collections::HashMap;

use meshwork_proto::envoy::config::cluster::v3::{
    CircuitBreakers, Cluster, LoadBalancingPolicy, OutlierDetection,
    circuit_breakers::Thresholds,
    cluster::{self, ClusterDiscoveryType, DiscoveryType, EdsClusterConfig, LbPolicy},
    load_balancing_policy::Policy,
};
use meshwork_proto::envoy::config::core::v3::{RoutingPriority, TypedExtensionConfig};
use meshwork_proto::envoy::extensions::load_balancing_policies::{
    pick_first::v3::PickFirst, round_robin::v3::RoundRobin,
};
use meshwork_proto::google::protobuf::{Any, Struct, UInt64Value, Value, value::Kind};

use super::{ads, to_any, u32_value};
use crate::xds_server::mesh::{self, Mesh};
use meshwork_proto::typed_struct::TypedStruct;

/// Type URL of Meshwork's peak-EWMA policy config inside its TypedStruct (the SDK's definition).
pub use meshwork::xds::resource::cluster::lb_policy::PEAK_EWMA_TYPE_URL;

/// The Cluster resource for `c`.
pub(super) fn cluster(mesh: &Mesh, c: &mesh::Cluster) -> Cluster {
    let name = mesh.cluster_xds_name(&c.name);
    let mut out = Cluster {
        name: name.clone(),
        cluster_discovery_type: Some(ClusterDiscoveryType::Type(DiscoveryType::Eds as i32)),
        eds_cluster_config: Some(EdsClusterConfig {
            eds_config: Some(ads()),
            service_name: name,
        }),
        circuit_breakers: c.max_requests.map(|max| CircuitBreakers {
            thresholds: vec![Thresholds {
                priority: RoutingPriority::Default as i32,
                max_requests: Some(u32_value(max)),
                ..Default::default()
            }],
            ..Default::default()
        }),
        outlier_detection: c.outlier_detection.as_ref().map(outlier_detection),
        transport_socket: c.tls.as_ref().map(super::tls::transport_socket),
        ..Default::default()
    };
    if let Some((host, port)) = c.dns.as_deref().and_then(super::dns_target) {
        out.cluster_discovery_type =
            Some(ClusterDiscoveryType::Type(DiscoveryType::LogicalDns as i32));
        out.eds_cluster_config = None;
        out.load_assignment = Some(super::endpoint::dns_assignment(&out.name, host, port));
    }
    match c.lb_policy {
        mesh::LbPolicy::RoundRobin => out.lb_policy = LbPolicy::RoundRobin as i32,
        mesh::LbPolicy::LeastRequest => {
            out.lb_policy = LbPolicy::LeastRequest as i32;
            out.lb_config = Some(cluster::LbConfig::LeastRequestLbConfig(
                cluster::LeastRequestLbConfig {
                    choice_count: c.least_request.and_then(|l| l.choice_count).map(u32_value),
                    ..Default::default()
                },
            ));
        }
        mesh::LbPolicy::RingHash => {
            out.lb_policy = LbPolicy::RingHash as i32;
            let ring = c.ring_hash.unwrap_or_default();
            out.lb_config = Some(cluster::LbConfig::RingHashLbConfig(
                cluster::RingHashLbConfig {
                    minimum_ring_size: ring.minimum_ring_size.map(|value| UInt64Value { value }),
                    maximum_ring_size: ring.maximum_ring_size.map(|value| UInt64Value { value }),
                    ..Default::default()
                },
            ));
        }
        mesh::LbPolicy::PickFirst => {
            out.load_balancing_policy = Some(policies(vec![(
                "envoy.load_balancing_policies.pick_first",
                to_any(&PickFirst::default()),
            )]));
        }
        mesh::LbPolicy::PeakEwma => {
            out.load_balancing_policy = Some(policies(vec![
                (
                    "meshwork.lb.peak_ewma",
                    to_any(&peak_ewma(c.peak_ewma.as_ref())),
                ),
                (
                    "envoy.load_balancing_policies.round_robin",
                    to_any(&RoundRobin::default()),
                ),
            ]));
        }
    }
    out
}

fn policies(list: Vec<(&str, Any)>) -> LoadBalancingPolicy {
    LoadBalancingPolicy {
        policies: list
            .into_iter()
            .map(|(name, config)| Policy {
                typed_extension_config: Some(TypedExtensionConfig {
                    name: name.to_owned(),
                    typed_config: Some(config),
                }),
            })
            .collect(),
    }
}

/// The peak-EWMA TypedStruct: `{decay, default_rtt}` as protobuf-JSON durations.
fn peak_ewma(config: Option<&mesh::PeakEwma>) -> TypedStruct {
    let mut fields = HashMap::new();
    if let Some(c) = config {
        for (key, value) in [("decay", c.decay), ("default_rtt", c.default_rtt)] {
            if let Some(d) = value {
                fields.insert(
                    key.to_owned(),
                    Value {
                        kind: Some(Kind::StringValue(d.to_json_string())),
                    },
                );
            }
        }
    }
    TypedStruct {
        type_url: PEAK_EWMA_TYPE_URL.to_owned(),
        value: Some(Struct { fields }),
    }
}

fn outlier_detection(od: &mesh::OutlierDetection) -> OutlierDetection {
    OutlierDetection {
        interval: od.interval.map(|d| d.to_proto()),
        base_ejection_time: od.base_ejection_time.map(|d| d.to_proto()),
        max_ejection_time: od.max_ejection_time.map(|d| d.to_proto()),
        max_ejection_percent: od.max_ejection_percent.map(u32_value),
        success_rate_stdev_factor: od.success_rate_stdev_factor.map(u32_value),
        enforcing_success_rate: od.enforcing_success_rate.map(u32_value),
        success_rate_minimum_hosts: od.success_rate_minimum_hosts.map(u32_value),
        success_rate_request_volume: od.success_rate_request_volume.map(u32_value),
        failure_percentage_threshold: od.failure_percentage_threshold.map(u32_value),
        enforcing_failure_percentage: od.enforcing_failure_percentage.map(u32_value),
        failure_percentage_minimum_hosts: od.failure_percentage_minimum_hosts.map(u32_value),
        failure_percentage_request_volume: od.failure_percentage_request_volume.map(u32_value),
        ..Default::default()
    }
}
