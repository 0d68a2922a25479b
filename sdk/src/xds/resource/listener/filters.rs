//! The HTTP filter chain of a client listener (gRFC A39).
//!
//! Filters are identified by the type URL of their `typed_config` (never by name). Meshwork knows
//! the router and the fault filter (A33); an unknown filter is an error unless `is_optional`, in
//! which case it is skipped. The router must be present and last. Filter names must be unique.
//! Does not run filters; it only produces the validated list.

use std::collections::HashSet;

use meshwork_proto::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpFilter as ProtoHttpFilter, http_filter::ConfigType,
};
use meshwork_proto::type_url;

use super::fault::FaultConfig;
use crate::xds::resource::common::typed_struct::effective_type_url;
use crate::xds::resource::common::{At, Invalid, Result, type_name};

/// One HTTP filter the client runs, in chain order.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpFilter {
    /// The instance name (the key of `typed_per_filter_config` overrides).
    pub name: String,
    /// What the filter does.
    pub config: HttpFilterConfig,
}

/// The filters Meshwork implements.
#[derive(Clone, Debug, PartialEq)]
pub enum HttpFilterConfig {
    /// `envoy.extensions.filters.http.fault.v3.HTTPFault`.
    Fault(FaultConfig),
    /// `envoy.extensions.filters.http.router.v3.Router` (terminal; its fields are ignored).
    Router,
}

/// Decodes the `http_filters` list: unknown optional filters are dropped, the router must be last.
pub fn http_filters(list: &[ProtoHttpFilter]) -> Result<Vec<HttpFilter>> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(list.len());
    for (i, f) in list.iter().enumerate() {
        if !seen.insert(f.name.as_str()) {
            return Err(Invalid::field(
                "name",
                format!(
                    "duplicate filter name `{}`; filter names must be unique",
                    f.name
                ),
            ))
            .at_index("http_filters", i);
        }
        if let Some(filter) = http_filter(f).at_index("http_filters", i)? {
            if out
                .last()
                .is_some_and(|l: &HttpFilter| l.config == HttpFilterConfig::Router)
            {
                return Err(Invalid::new(format!(
                    "filter `{}` comes after the router; the router must be the last filter",
                    f.name
                )))
                .at_index("http_filters", i);
            }
            out.push(filter);
        }
    }
    if !out
        .last()
        .is_some_and(|l| l.config == HttpFilterConfig::Router)
    {
        return Err(Invalid::field(
            "http_filters",
            format!(
                "no router filter at the end of the chain; add a filter with typed_config `{}` last",
                type_url::ROUTER
            ),
        ));
    }
    Ok(out)
}

/// One filter: `Ok(None)` when it is optional and unknown (skipped).
fn http_filter(f: &ProtoHttpFilter) -> Result<Option<HttpFilter>> {
    let any = match &f.config_type {
        Some(ConfigType::TypedConfig(any)) => any,
        Some(ConfigType::ConfigDiscovery(_)) if f.is_optional => return Ok(None),
        Some(ConfigType::ConfigDiscovery(_)) => {
            return Err(Invalid::field(
                "config_discovery",
                format!(
                    "filter `{}` uses config_discovery (ECDS), which is not supported; use typed_config or mark it is_optional",
                    f.name
                ),
            ));
        }
        None if f.is_optional => return Ok(None),
        None => {
            return Err(Invalid::new(format!(
                "filter `{}` has no typed_config; filters are identified by its type URL",
                f.name
            )));
        }
    };
    let config = match any.type_url.as_str() {
        type_url::ROUTER => HttpFilterConfig::Router,
        type_url::HTTP_FAULT => {
            HttpFilterConfig::Fault(FaultConfig::from_any(any).at("typed_config")?)
        }
        _ if f.is_optional => return Ok(None),
        _ => {
            let ty = effective_type_url(any).at("typed_config")?;
            return Err(Invalid::field(
                "typed_config",
                format!(
                    "filter `{}` has unsupported type `{}`; supported: fault, router. Mark it is_optional to let clients skip it",
                    f.name,
                    type_name(&ty)
                ),
            ));
        }
    };
    Ok(Some(HttpFilter {
        name: f.name.clone(),
        config,
    }))
}
