//! Listener + HttpConnectionManager for a service (gRFC A27 LDS, A39 HTTP filters).
//!
//! Emits an API listener (no address, no filter chains): gRPC clients read only
//! `api_listener.api_listener` (an HCM). The HCM names its RouteConfiguration (RDS over ADS)
//! rather than inlining it, as istiod and Traffic Director do.

use meshwork_proto::envoy::config::listener::v3::{ApiListener, Listener};
use meshwork_proto::envoy::extensions::filters::http::fault::v3::HttpFault;
use meshwork_proto::envoy::extensions::filters::http::router::v3::Router;
use meshwork_proto::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, Rds, http_connection_manager::RouteSpecifier,
    http_filter::ConfigType,
};

use super::{FAULT_FILTER_NAME, ROUTER_FILTER_NAME, ads, to_any};
use crate::xds_server::mesh::{Mesh, Service};

/// The Listener named `host:port` for `service`.
pub(super) fn listener(mesh: &Mesh, service: &Service) -> Listener {
    let hcm = HttpConnectionManager {
        stat_prefix: service.listener_name(),
        route_specifier: Some(RouteSpecifier::Rds(Rds {
            config_source: Some(ads()),
            route_config_name: mesh.route_config_name(service),
        })),
        http_filters: http_filters(service),
        ..Default::default()
    };
    Listener {
        name: service.listener_name(),
        api_listener: Some(ApiListener {
            api_listener: Some(to_any(&hcm)),
        }),
        ..Default::default()
    }
}

/// Fault filter (empty config; routes carry the real one) when a route injects faults, then the
/// router, which must come last.
fn http_filters(service: &Service) -> Vec<HttpFilter> {
    let mut filters = Vec::new();
    if service.routes.iter().any(|r| r.fault.is_some()) {
        filters.push(HttpFilter {
            name: FAULT_FILTER_NAME.to_owned(),
            config_type: Some(ConfigType::TypedConfig(to_any(&HttpFault::default()))),
            ..Default::default()
        });
    }
    filters.push(HttpFilter {
        name: ROUTER_FILTER_NAME.to_owned(),
        config_type: Some(ConfigType::TypedConfig(to_any(&Router::default()))),
        ..Default::default()
    });
    filters
}
