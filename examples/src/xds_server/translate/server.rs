//! A mesh file's `server_listeners` as server Listeners (gRFC A36): `address` is the server's
//! socket address, and one `default_filter_chain` holds the HttpConnectionManager gRPC servers
//! require (inline RouteConfiguration: every path to a non-forwarding action, then the router)
//! and, with `tls:`, a `DownstreamTlsContext` naming the server's certificate-provider instances
//! (A29).

use meshwork_proto::envoy::config::core::v3::{
    Address, SocketAddress, TransportSocket, address, socket_address,
    transport_socket::ConfigType as SocketConfig,
};
use meshwork_proto::envoy::config::listener::v3::{Filter, FilterChain, Listener, filter};
use meshwork_proto::envoy::config::route::v3::{
    NonForwardingAction, Route, RouteConfiguration, RouteMatch, VirtualHost, route, route_match,
};
use meshwork_proto::envoy::extensions::filters::http::router::v3::Router;
use meshwork_proto::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, http_connection_manager::RouteSpecifier, http_filter,
};
use meshwork_proto::envoy::extensions::transport_sockets::tls::v3::{
    CertificateProviderPluginInstance, CertificateValidationContext, CommonTlsContext,
    DownstreamTlsContext, common_tls_context::ValidationContextType,
};
use meshwork_proto::google::protobuf::BoolValue;

use super::tls::TLS_TRANSPORT_SOCKET;
use super::{ROUTER_FILTER_NAME, to_any};
use crate::xds_server::mesh::{ServerListener, ServerTls};

/// The network filter name of the HttpConnectionManager.
const HCM_FILTER_NAME: &str = "envoy.filters.network.http_connection_manager";

/// The Listener for `server` (its address was validated).
pub(super) fn server_listener(server: &ServerListener) -> Listener {
    let (ip, port) = match server.address.parse::<std::net::SocketAddr>() {
        Ok(addr) => (addr.ip().to_string(), u32::from(addr.port())),
        Err(_) => (server.address.clone(), 0),
    };
    let chain = FilterChain {
        name: "default".to_owned(),
        filters: vec![Filter {
            name: HCM_FILTER_NAME.to_owned(),
            config_type: Some(filter::ConfigType::TypedConfig(to_any(&hcm(server)))),
        }],
        transport_socket: server.tls.as_ref().map(transport_socket),
        ..Default::default()
    };
    Listener {
        name: server.resource_name(),
        address: Some(Address {
            address: Some(address::Address::SocketAddress(SocketAddress {
                address: ip,
                port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
                ..Default::default()
            })),
        }),
        default_filter_chain: Some(chain),
        ..Default::default()
    }
}

fn hcm(server: &ServerListener) -> HttpConnectionManager {
    let routes = RouteConfiguration {
        name: format!("inbound|{}", server.address),
        virtual_hosts: vec![VirtualHost {
            name: "inbound".to_owned(),
            domains: vec!["*".to_owned()],
            routes: vec![Route {
                r#match: Some(RouteMatch {
                    path_specifier: Some(route_match::PathSpecifier::Prefix(String::new())),
                    ..Default::default()
                }),
                action: Some(route::Action::NonForwardingAction(NonForwardingAction {})),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    HttpConnectionManager {
        stat_prefix: "inbound".to_owned(),
        route_specifier: Some(RouteSpecifier::RouteConfig(routes)),
        http_filters: vec![HttpFilter {
            name: ROUTER_FILTER_NAME.to_owned(),
            config_type: Some(http_filter::ConfigType::TypedConfig(to_any(
                &Router::default(),
            ))),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn transport_socket(tls: &ServerTls) -> TransportSocket {
    let instance = |name: &str| CertificateProviderPluginInstance {
        instance_name: name.to_owned(),
        certificate_name: String::new(),
    };
    let context = DownstreamTlsContext {
        common_tls_context: Some(CommonTlsContext {
            tls_certificate_provider_instance: Some(instance(&tls.identity_instance)),
            validation_context_type: tls.ca_instance.as_deref().map(|ca| {
                ValidationContextType::ValidationContext(CertificateValidationContext {
                    ca_certificate_provider_instance: Some(instance(ca)),
                    ..Default::default()
                })
            }),
            ..Default::default()
        }),
        require_client_certificate: Some(BoolValue {
            value: tls.require_client_certificate,
        }),
        ..Default::default()
    };
    TransportSocket {
        name: TLS_TRANSPORT_SOCKET.to_owned(),
        config_type: Some(SocketConfig::TypedConfig(to_any(&context))),
    }
}
