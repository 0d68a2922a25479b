//! Mesh → xDS v3 resources, shaped exactly as a gRPC xDS client expects them (gRFC A27 and the
//! per-feature gRFCs).
//!
//! For each service: a Listener named `host:port` whose `api_listener` is an HttpConnectionManager
//! that fetches its RouteConfiguration over ADS (`rds.config_source.ads`) and lists its HTTP
//! filters (the fault filter when any route injects faults, then the router, last as gRFC A39
//! requires). For each cluster: an EDS Cluster whose endpoints come over ADS, and its
//! ClusterLoadAssignment. For each server listener: a server Listener (gRFC A36) with its
//! address and one default filter chain ([`server`]). Every resource is wrapped in
//! `google.protobuf.Any`.
//!
//! This module is pure: no versions, no I/O (see [`super::state`] for snapshots). It refuses a
//! mesh that fails [`validate`](super::mesh::validate), so it never emits what a client NACKs.

mod cluster;
mod endpoint;
mod listener;
mod route;
mod server;
mod tls;

use std::collections::BTreeMap;

use meshwork_proto::envoy::config::core::v3::{
    AggregatedConfigSource, ApiVersion, ConfigSource, config_source::ConfigSourceSpecifier,
};
use meshwork_proto::envoy::r#type::v3::{FractionalPercent, fractional_percent::DenominatorType};
use meshwork_proto::google::protobuf::{Any, UInt32Value};
use meshwork_proto::type_url;

use super::mesh::{Mesh, validate};

/// Name of the fault HTTP filter, also the `typed_per_filter_config` key of route faults.
pub const FAULT_FILTER_NAME: &str = "envoy.filters.http.fault";
/// Name of the router HTTP filter.
pub const ROUTER_FILTER_NAME: &str = "envoy.filters.http.router";

/// Resources by type URL, then by name.
pub type ResourceMap = BTreeMap<String, BTreeMap<String, Any>>;

/// Translates a mesh into xDS resources (LDS, RDS, CDS and EDS, keyed by type URL).
pub fn translate(mesh: &Mesh) -> Result<ResourceMap, Vec<validate::Issue>> {
    let issues = validate::validate(mesh);
    if !issues.is_empty() {
        return Err(issues);
    }
    let mut out = ResourceMap::new();
    for t in [
        type_url::LISTENER,
        type_url::ROUTE_CONFIGURATION,
        type_url::CLUSTER,
        type_url::CLUSTER_LOAD_ASSIGNMENT,
    ] {
        out.insert(t.to_owned(), BTreeMap::new());
    }
    for service in &mesh.services {
        let listener = listener::listener(mesh, service);
        insert(
            &mut out,
            type_url::LISTENER,
            listener.name.clone(),
            to_any(&listener),
        );
        let routes = route::route_configuration(mesh, service);
        insert(
            &mut out,
            type_url::ROUTE_CONFIGURATION,
            routes.name.clone(),
            to_any(&routes),
        );
    }
    for s in &mesh.server_listeners {
        let listener = server::server_listener(s);
        insert(
            &mut out,
            type_url::LISTENER,
            listener.name.clone(),
            to_any(&listener),
        );
    }
    for c in &mesh.clusters {
        let cluster = cluster::cluster(mesh, c);
        insert(
            &mut out,
            type_url::CLUSTER,
            cluster.name.clone(),
            to_any(&cluster),
        );
        if c.dns.is_some() {
            continue;
        }
        let cla = endpoint::load_assignment(mesh, c);
        insert(
            &mut out,
            type_url::CLUSTER_LOAD_ASSIGNMENT,
            cla.cluster_name.clone(),
            to_any(&cla),
        );
    }
    Ok(out)
}

/// `host:port` of a `dns` cluster, split; `None` when it is not that shape.
pub fn dns_target(dns: &str) -> Option<(&str, u16)> {
    let (host, port) = dns.rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|p| *p > 0)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then_some((host, port))
}

fn insert(out: &mut ResourceMap, type_url: &str, name: String, any: Any) {
    out.entry(type_url.to_owned())
        .or_default()
        .insert(name, any);
}

/// Wraps a message in `Any` with its canonical type URL.
pub fn to_any<M: prost::Name>(message: &M) -> Any {
    Any {
        type_url: M::type_url(),
        value: message.encode_to_vec(),
    }
}

/// `ConfigSource { ads: {} }`, the only config source gRPC accepts.
fn ads() -> ConfigSource {
    ConfigSource {
        resource_api_version: ApiVersion::V3 as i32,
        config_source_specifier: Some(ConfigSourceSpecifier::Ads(AggregatedConfigSource {})),
        ..Default::default()
    }
}

/// A percentage 0–100 as a FractionalPercent over a million (keeps four decimals).
fn fraction(percent: f64) -> FractionalPercent {
    let numerator = (percent.clamp(0.0, 100.0) * 10_000.0).round();
    FractionalPercent {
        // In range by the clamp above: at most 1_000_000.
        numerator: numerator as u32,
        denominator: DenominatorType::Million as i32,
    }
}

fn u32_value(value: u32) -> UInt32Value {
    UInt32Value { value }
}

#[cfg(test)]
mod tests;
