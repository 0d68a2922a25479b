//! ClusterLoadAssignment for a mesh cluster (gRFC A27 EDS): one LocalityLbEndpoints per locality
//! entry, always with a locality weight (gRPC skips unweighted localities), its priority, and
//! each endpoint's socket address, weight and health status.

use std::net::SocketAddr;

use meshwork_proto::envoy::config::core::v3::{
    Address, HealthStatus, Locality, SocketAddress, address, socket_address,
};
use meshwork_proto::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint::HostIdentifier,
};

use super::u32_value;
use crate::xds_server::mesh::{self, Health, Mesh};

/// The ClusterLoadAssignment for `c`, named like its Cluster.
pub(super) fn load_assignment(mesh: &Mesh, c: &mesh::Cluster) -> ClusterLoadAssignment {
    ClusterLoadAssignment {
        cluster_name: mesh.cluster_xds_name(&c.name),
        endpoints: c.localities.iter().map(locality).collect(),
        ..Default::default()
    }
}

/// The one-endpoint assignment a LOGICAL_DNS Cluster carries inline: the name to resolve.
pub(super) fn dns_assignment(cluster: &str, host: &str, port: u16) -> ClusterLoadAssignment {
    ClusterLoadAssignment {
        cluster_name: cluster.to_owned(),
        endpoints: vec![LocalityLbEndpoints {
            lb_endpoints: vec![LbEndpoint {
                host_identifier: Some(HostIdentifier::Endpoint(Endpoint {
                    address: Some(socket_address(host.to_owned(), port)),
                    ..Default::default()
                })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn socket_address(address: String, port: u16) -> Address {
    Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            protocol: socket_address::Protocol::Tcp as i32,
            address,
            port_specifier: Some(socket_address::PortSpecifier::PortValue(u32::from(port))),
            ..Default::default()
        })),
    }
}

fn locality(l: &mesh::Locality) -> LocalityLbEndpoints {
    LocalityLbEndpoints {
        locality: Some(Locality {
            region: l.locality.region.clone(),
            zone: l.locality.zone.clone(),
            sub_zone: l.locality.sub_zone.clone(),
        }),
        lb_endpoints: l.endpoints.iter().filter_map(endpoint).collect(),
        load_balancing_weight: Some(u32_value(l.weight.unwrap_or(1))),
        priority: l.priority,
        ..Default::default()
    }
}

/// `None` only for an unparsable address, which validation already rejected.
fn endpoint(e: &mesh::Endpoint) -> Option<LbEndpoint> {
    let addr: SocketAddr = e.address.parse().ok()?;
    Some(LbEndpoint {
        health_status: health(e.health) as i32,
        load_balancing_weight: Some(u32_value(e.weight.unwrap_or(1))),
        host_identifier: Some(HostIdentifier::Endpoint(Endpoint {
            address: Some(socket_address(addr.ip().to_string(), addr.port())),
            ..Default::default()
        })),
        ..Default::default()
    })
}

fn health(h: Health) -> HealthStatus {
    match h {
        Health::Unknown => HealthStatus::Unknown,
        Health::Healthy => HealthStatus::Healthy,
        Health::Unhealthy => HealthStatus::Unhealthy,
        Health::Draining => HealthStatus::Draining,
        Health::Timeout => HealthStatus::Timeout,
        Health::Degraded => HealthStatus::Degraded,
    }
}
