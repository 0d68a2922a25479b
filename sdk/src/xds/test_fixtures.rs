//! Test-only fixtures: valid xDS resources as gRPC expects them (gRFC A27), responses that carry
//! them, and a bootstrap pointing at a given control plane. Shared by the ADS client's tests and,
//! later, the resolver's.
//!
//! The resources are the smallest *valid* ones: an API listener whose HttpConnectionManager uses
//! RDS over ADS with the router filter; a route configuration with one catch-all virtual host
//! routing to a cluster; an EDS cluster over ADS; a load assignment with one weighted locality and
//! one endpoint.

use std::collections::BTreeMap;

use meshwork_proto::envoy::config::cluster::v3 as cluster_pb;
use meshwork_proto::envoy::config::core::v3 as core_pb;
use meshwork_proto::envoy::config::endpoint::v3 as endpoint_pb;
use meshwork_proto::envoy::config::listener::v3 as listener_pb;
use meshwork_proto::envoy::config::route::v3 as route_pb;
use meshwork_proto::envoy::extensions::filters::http::router::v3::Router;
use meshwork_proto::envoy::extensions::filters::network::http_connection_manager::v3 as hcm_pb;
use meshwork_proto::envoy::service::discovery::v3::DiscoveryResponse;
use meshwork_proto::envoy_types::util::pack_any;
use meshwork_proto::google::protobuf::{Any, UInt32Value};

use crate::bootstrap::{Bootstrap, ChannelCreds, Node, XdsServer};
use crate::xds::resource::ResourceKind;

/// A config source pointing at the ADS stream.
pub(crate) fn ads_config_source() -> core_pb::ConfigSource {
    core_pb::ConfigSource {
        config_source_specifier: Some(core_pb::config_source::ConfigSourceSpecifier::Ads(
            core_pb::AggregatedConfigSource {},
        )),
        resource_api_version: core_pb::ApiVersion::V3 as i32,
        ..Default::default()
    }
}

/// An API listener `name` whose HCM fetches route configuration `route_config_name` over ADS.
pub(crate) fn listener(name: &str, route_config_name: &str) -> Any {
    let hcm = hcm_pb::HttpConnectionManager {
        route_specifier: Some(hcm_pb::http_connection_manager::RouteSpecifier::Rds(
            hcm_pb::Rds {
                config_source: Some(ads_config_source()),
                route_config_name: route_config_name.to_string(),
            },
        )),
        http_filters: vec![hcm_pb::HttpFilter {
            name: "router".to_string(),
            config_type: Some(hcm_pb::http_filter::ConfigType::TypedConfig(pack_any(
                Router::default(),
            ))),
            ..Default::default()
        }],
        ..Default::default()
    };
    pack_any(listener_pb::Listener {
        name: name.to_string(),
        api_listener: Some(listener_pb::ApiListener {
            api_listener: Some(pack_any(hcm)),
        }),
        ..Default::default()
    })
}

/// A listener without an `api_listener`: invalid for a gRPC client.
pub(crate) fn invalid_listener(name: &str) -> Any {
    pack_any(listener_pb::Listener {
        name: name.to_string(),
        ..Default::default()
    })
}

/// A route configuration `name` with one catch-all virtual host routing everything to `cluster`.
pub(crate) fn route_configuration(name: &str, cluster: &str) -> Any {
    let route = route_pb::Route {
        r#match: Some(route_pb::RouteMatch {
            path_specifier: Some(route_pb::route_match::PathSpecifier::Prefix(String::new())),
            ..Default::default()
        }),
        action: Some(route_pb::route::Action::Route(route_pb::RouteAction {
            cluster_specifier: Some(route_pb::route_action::ClusterSpecifier::Cluster(
                cluster.to_string(),
            )),
            ..Default::default()
        })),
        ..Default::default()
    };
    pack_any(route_pb::RouteConfiguration {
        name: name.to_string(),
        virtual_hosts: vec![route_pb::VirtualHost {
            name: "all".to_string(),
            domains: vec!["*".to_string()],
            routes: vec![route],
            ..Default::default()
        }],
        ..Default::default()
    })
}

/// An EDS cluster `name` whose endpoints come over ADS.
pub(crate) fn cluster(name: &str) -> Any {
    pack_any(cluster_pb::Cluster {
        name: name.to_string(),
        cluster_discovery_type: Some(cluster_pb::cluster::ClusterDiscoveryType::Type(
            cluster_pb::cluster::DiscoveryType::Eds as i32,
        )),
        eds_cluster_config: Some(cluster_pb::cluster::EdsClusterConfig {
            eds_config: Some(ads_config_source()),
            service_name: String::new(),
        }),
        ..Default::default()
    })
}

/// A load assignment for `cluster_name`: one locality (weight 1) with one endpoint `127.0.0.1:port`.
pub(crate) fn cluster_load_assignment(cluster_name: &str, port: u32) -> Any {
    let endpoint = endpoint_pb::LbEndpoint {
        host_identifier: Some(endpoint_pb::lb_endpoint::HostIdentifier::Endpoint(
            endpoint_pb::Endpoint {
                address: Some(core_pb::Address {
                    address: Some(core_pb::address::Address::SocketAddress(
                        core_pb::SocketAddress {
                            address: "127.0.0.1".to_string(),
                            port_specifier: Some(
                                core_pb::socket_address::PortSpecifier::PortValue(port),
                            ),
                            ..Default::default()
                        },
                    )),
                }),
                ..Default::default()
            },
        )),
        ..Default::default()
    };
    pack_any(endpoint_pb::ClusterLoadAssignment {
        cluster_name: cluster_name.to_string(),
        endpoints: vec![endpoint_pb::LocalityLbEndpoints {
            locality: Some(core_pb::Locality {
                region: "r1".to_string(),
                zone: "z1".to_string(),
                sub_zone: String::new(),
            }),
            lb_endpoints: vec![endpoint],
            load_balancing_weight: Some(UInt32Value { value: 1 }),
            ..Default::default()
        }],
        ..Default::default()
    })
}

/// A SotW response of `kind`.
pub(crate) fn response(
    kind: ResourceKind,
    version: &str,
    nonce: &str,
    resources: Vec<Any>,
) -> DiscoveryResponse {
    DiscoveryResponse {
        version_info: version.to_string(),
        resources,
        type_url: kind.type_url().to_string(),
        nonce: nonce.to_string(),
        ..Default::default()
    }
}

/// A bootstrap with one insecure control plane at `server_uri` and the given server features.
pub(crate) fn bootstrap(server_uri: &str, features: &[&str]) -> Bootstrap {
    Bootstrap {
        xds_servers: vec![XdsServer {
            server_uri: server_uri.to_string(),
            channel_creds: ChannelCreds::Insecure,
            server_features: features.iter().map(|f| f.to_string()).collect(),
        }],
        node: Node {
            id: "meshwork-test-node".to_string(),
            cluster: "test".to_string(),
            locality: None,
            metadata: serde_json::Map::new(),
        },
        certificate_providers: BTreeMap::new(),
        authorities: BTreeMap::new(),
        client_default_listener_resource_name_template: "%s".to_string(),
        server_listener_resource_name_template: None,
    }
}
