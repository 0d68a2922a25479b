//! The validated client `Listener` (LDS): an API listener holding an `HttpConnectionManager`
//! (gRFC A27), its route source (RDS name over ADS, or an inline RouteConfiguration), its HTTP
//! filter chain (A39, fault A33) and the default stream duration cap (A31).
//!
//! A Listener without `api_listener` is a server (socket) listener of gRFC A36, validated in
//! [`server`] into a [`ServerListener`]. Everything else in the HCM is ignored, as gRPC does.

use std::sync::Arc;
use std::time::Duration;

use meshwork_proto::envoy::config::listener::v3::Listener as ProtoListener;
use meshwork_proto::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager::RouteSpecifier,
};

use super::RouteConfiguration;
use super::common::{At, Invalid, Result, opt_duration, require_ads_or_self, unpack};

pub mod fault;
pub mod filters;
pub mod server;
pub mod server_tls;

pub use fault::{
    AbortSource, DelaySource, FaultAbort, FaultConfig, FaultDelay, http_status_to_code,
};
pub use filters::{HttpFilter, HttpFilterConfig};
pub use server::ServerListener;
pub use server_tls::DownstreamTls;

/// A validated client Listener.
#[derive(Clone, Debug, PartialEq)]
pub struct Listener {
    /// The resource name (the target's `host:port`, or an `xdstp://` name).
    pub name: String,
    /// Where the routes come from.
    pub route_source: RouteSource,
    /// The HTTP filters to run, in order; the last one is the router.
    pub http_filters: Vec<HttpFilter>,
    /// Default cap on each RPC's duration (`common_http_protocol_options.max_stream_duration`);
    /// `None` or zero = no cap. A route's own value overrides it (A31).
    pub max_stream_duration: Option<Duration>,
}

/// Where a listener's RouteConfiguration comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum RouteSource {
    /// Subscribe to this RouteConfiguration over the same ADS stream.
    Rds {
        /// The RouteConfiguration resource name.
        name: String,
    },
    /// The RouteConfiguration is inline in the listener.
    Inline(Arc<RouteConfiguration>),
}

impl TryFrom<&ProtoListener> for Listener {
    type Error = Invalid;

    fn try_from(l: &ProtoListener) -> Result<Self> {
        let api = l
            .api_listener
            .as_ref()
            .and_then(|a| a.api_listener.as_ref())
            .ok_or_else(|| {
                Invalid::field(
                    "api_listener",
                    "not set; a client listener must be an API listener holding an HttpConnectionManager (server-side listeners are not supported)",
                )
            })?;
        let hcm: HttpConnectionManager = unpack(api).at("api_listener.api_listener")?;
        let (route_source, http_filters, max_stream_duration) =
            http_connection_manager(&hcm).at("api_listener.api_listener")?;
        Ok(Listener {
            name: l.name.clone(),
            route_source,
            http_filters,
            max_stream_duration,
        })
    }
}

fn http_connection_manager(
    hcm: &HttpConnectionManager,
) -> Result<(RouteSource, Vec<HttpFilter>, Option<Duration>)> {
    let route_source = match &hcm.route_specifier {
        Some(RouteSpecifier::Rds(rds)) => {
            require_ads_or_self(rds.config_source.as_ref()).at("rds.config_source")?;
            if rds.route_config_name.is_empty() {
                return Err(Invalid::field(
                    "rds.route_config_name",
                    "is empty; name the RouteConfiguration to fetch",
                ));
            }
            RouteSource::Rds {
                name: rds.route_config_name.clone(),
            }
        }
        Some(RouteSpecifier::RouteConfig(rc)) => RouteSource::Inline(Arc::new(
            RouteConfiguration::try_from(rc).at("route_config")?,
        )),
        Some(RouteSpecifier::ScopedRoutes(_)) => {
            return Err(Invalid::field(
                "scoped_routes",
                "scoped routes are not supported; use rds or an inline route_config",
            ));
        }
        None => {
            return Err(Invalid::new(
                "HttpConnectionManager has neither rds nor route_config; set one",
            ));
        }
    };
    let filters = filters::http_filters(&hcm.http_filters)?;
    let max_stream_duration = match &hcm.common_http_protocol_options {
        Some(o) => opt_duration(o.max_stream_duration.as_ref(), "max_stream_duration")
            .at("common_http_protocol_options")?,
        None => None,
    };
    Ok((route_source, filters, max_stream_duration))
}

#[cfg(test)]
mod tests;
