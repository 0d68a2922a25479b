//! Per-filter config overrides (`typed_per_filter_config` on virtual hosts, routes and weighted
//! clusters; gRFC A39), keyed by the HCM filter instance name.
//!
//! A value may be wrapped in `envoy.config.route.v3.FilterConfig` (with `is_optional` and
//! `disabled`). Fault overrides (A33) are decoded; other types are kept opaque for the filter that
//! owns them, except optional ones, which are dropped. Whether an override names a filter the
//! listener actually runs is decided by the resolver, which sees both resources.

use std::collections::{BTreeMap, HashMap};

use meshwork_proto::envoy::config::route::v3::FilterConfig;
use meshwork_proto::google::protobuf::Any;
use meshwork_proto::type_url;
use prost::Name;

use crate::xds::resource::common::typed_struct::effective_type_url;
use crate::xds::resource::common::{At, Invalid, Result, unpack};
use crate::xds::resource::listener::FaultConfig;

/// A filter's override for one scope.
#[derive(Clone, Debug, PartialEq)]
pub enum FilterOverride {
    /// A fault filter config replacing the listener's one in this scope.
    Fault(FaultConfig),
    /// The filter is disabled in this scope (`FilterConfig.disabled`).
    Disabled,
    /// A config for a filter Meshwork does not interpret here, kept as sent.
    Opaque {
        /// The config's type URL (the inner one for a `TypedStruct`).
        type_url: String,
        /// The serialized config.
        value: Vec<u8>,
    },
}

/// Overrides by filter instance name.
pub type FilterOverrides = BTreeMap<String, FilterOverride>;

/// Decodes a `typed_per_filter_config` map.
pub fn filter_overrides(map: &HashMap<String, Any>) -> Result<FilterOverrides> {
    let mut out = BTreeMap::new();
    for (name, any) in map {
        let field = format!("typed_per_filter_config[{name}]");
        if let Some(o) = filter_override(any).at(field)? {
            out.insert(name.clone(), o);
        }
    }
    Ok(out)
}

fn filter_override(any: &Any) -> Result<Option<FilterOverride>> {
    let (inner, optional) = if any.type_url == FilterConfig::type_url() {
        let fc: FilterConfig = unpack(any)?;
        if fc.disabled {
            return Ok(Some(FilterOverride::Disabled));
        }
        match fc.config {
            Some(c) => (c, fc.is_optional),
            None if fc.is_optional => return Ok(None),
            None => {
                return Err(Invalid::field(
                    "config",
                    "FilterConfig has no config and is neither disabled nor optional",
                ));
            }
        }
    } else {
        (any.clone(), false)
    };
    Ok(Some(match inner.type_url.as_str() {
        type_url::HTTP_FAULT => FilterOverride::Fault(FaultConfig::from_any(&inner)?),
        type_url::ROUTER => {
            return Err(Invalid::new(
                "the router filter takes no per-route config; remove this override",
            ));
        }
        _ if optional => return Ok(None),
        _ => FilterOverride::Opaque {
            type_url: effective_type_url(&inner)?,
            value: inner.value,
        },
    }))
}
