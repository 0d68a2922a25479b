//! xDS resources decoded and validated into Meshwork's domain types (`TryFrom<proto>`).
//!
//! "Parse, don't validate": each kind has a domain type whose invariants hold by construction, so
//! later layers never re-check xDS. gRPC semantics apply (grpc/grpc `doc/grpc_xds_features.md`):
//! fields gRPC honours are read, unknown or unsupported optional fields are ignored, and a supported
//! field carrying an unsupported value is an error naming the field path, the problem and the fix.
//! This module keeps no state: caching, versions and ACK/NACK belong to the ADS core.
//!
//! CONTRACT (shared with the ADS core and the resolver; keep these signatures):
//! - [`ResourceKind`]: the four resource types, their type URLs, and their SotW deletion semantics;
//! - [`Resource`]: a validated resource of any kind, cheap to clone (`Arc` inside), comparable;
//! - [`decode`]: `Any` → `(name, Resource)` or a [`DecodeError`] that carries the resource name when it
//!   could be read, so one bad resource does not hide the good ones of a response (gRFC A46).

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use meshwork_proto::envoy::config as proto;
use meshwork_proto::envoy::service::discovery::v3::Resource as DiscoveryResource;
use meshwork_proto::google::protobuf::Any;
use meshwork_proto::type_url;
use prost::Message;

pub mod cluster;
pub mod common;
pub mod endpoint;
pub mod listener;
pub mod route;

pub use cluster::Cluster;
pub use endpoint::ClusterLoadAssignment;
pub use listener::{Listener, ServerListener};
pub use route::RouteConfiguration;

/// The xDS resource types a gRPC client follows, in the order it discovers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    /// LDS: `envoy.config.listener.v3.Listener`.
    Listener,
    /// RDS: `envoy.config.route.v3.RouteConfiguration`.
    RouteConfiguration,
    /// CDS: `envoy.config.cluster.v3.Cluster`.
    Cluster,
    /// EDS: `envoy.config.endpoint.v3.ClusterLoadAssignment`.
    ClusterLoadAssignment,
}

impl ResourceKind {
    /// Every kind, in discovery order.
    pub const ALL: [ResourceKind; 4] = [
        ResourceKind::Listener,
        ResourceKind::RouteConfiguration,
        ResourceKind::Cluster,
        ResourceKind::ClusterLoadAssignment,
    ];

    /// The type URL used on the wire.
    pub fn type_url(self) -> &'static str {
        match self {
            ResourceKind::Listener => type_url::LISTENER,
            ResourceKind::RouteConfiguration => type_url::ROUTE_CONFIGURATION,
            ResourceKind::Cluster => type_url::CLUSTER,
            ResourceKind::ClusterLoadAssignment => type_url::CLUSTER_LOAD_ASSIGNMENT,
        }
    }

    /// The kind for a type URL, if it is one of the four.
    pub fn from_type_url(url: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.type_url() == url)
    }

    /// In state-of-the-world, a response lists every LDS and CDS resource, so one missing from a
    /// response was deleted. RDS and EDS resources are only removed when no parent references them.
    pub fn all_resources_required_in_sotw(self) -> bool {
        matches!(self, ResourceKind::Listener | ResourceKind::Cluster)
    }

    /// The short name operators know (`LDS`, `RDS`, `CDS`, `EDS`).
    pub fn short_name(self) -> &'static str {
        match self {
            ResourceKind::Listener => "LDS",
            ResourceKind::RouteConfiguration => "RDS",
            ResourceKind::Cluster => "CDS",
            ResourceKind::ClusterLoadAssignment => "EDS",
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short_name())
    }
}

/// A validated resource of any kind. Cloning is cheap.
#[derive(Clone, Debug, PartialEq)]
pub enum Resource {
    /// A client (API) Listener (LDS).
    Listener(Arc<Listener>),
    /// A server (socket) Listener of gRFC A36 (LDS; no `api_listener`).
    ServerListener(Arc<ServerListener>),
    /// A RouteConfiguration (RDS).
    RouteConfiguration(Arc<RouteConfiguration>),
    /// A Cluster (CDS).
    Cluster(Arc<Cluster>),
    /// A ClusterLoadAssignment (EDS).
    ClusterLoadAssignment(Arc<ClusterLoadAssignment>),
}

impl Resource {
    /// The kind of this resource.
    pub fn kind(&self) -> ResourceKind {
        match self {
            Resource::Listener(_) | Resource::ServerListener(_) => ResourceKind::Listener,
            Resource::RouteConfiguration(_) => ResourceKind::RouteConfiguration,
            Resource::Cluster(_) => ResourceKind::Cluster,
            Resource::ClusterLoadAssignment(_) => ResourceKind::ClusterLoadAssignment,
        }
    }
}

/// What validation needs to know about this client (from the bootstrap).
#[derive(Clone, Debug, Default)]
pub struct DecodeContext {
    /// Names of the certificate-provider instances in the bootstrap; a resource that refers to any
    /// other instance is rejected (gRFC A29).
    pub certificate_providers: BTreeSet<String>,
    /// The control plane is trusted (`trusted_xds_server` server feature, gRFC A81).
    pub trusted_xds_server: bool,
}

/// A resource that could not be accepted, with the reason a person can act on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} resource {}: {message}", name.as_deref().map(|n| format!("`{n}`")).unwrap_or_else(|| "(name unreadable)".to_string()))]
pub struct DecodeError {
    /// The kind being decoded.
    pub kind: ResourceKind,
    /// The resource name, when it could be read (needed for per-resource errors, gRFC A46).
    pub name: Option<String>,
    /// What was wrong and what to do about it.
    pub message: String,
}

/// Decode and validate one resource of `kind` from its wire form.
///
/// Unwraps `envoy.service.discovery.v3.Resource` wrappers. A type URL that does not match `kind` is
/// an error. The error carries the resource name whenever the bytes could be decoded.
pub fn decode(
    kind: ResourceKind,
    any: &Any,
    ctx: &DecodeContext,
) -> Result<(String, Resource), DecodeError> {
    let err = |name: Option<&str>, message: String| DecodeError {
        kind,
        name: name.map(str::to_string),
        message,
    };
    let unwrapped;
    let any = if any.type_url == type_url::RESOURCE_WRAPPER {
        let wrapper = DiscoveryResource::decode(any.value.as_slice())
            .map_err(|e| err(None, format!("cannot decode the Resource wrapper: {e}")))?;
        let name = (!wrapper.name.is_empty()).then_some(wrapper.name.as_str());
        unwrapped = wrapper
            .resource
            .ok_or_else(|| err(name, "the Resource wrapper holds no resource".to_string()))?;
        &unwrapped
    } else {
        any
    };
    if any.type_url != kind.type_url() {
        return Err(err(
            None,
            format!(
                "type URL `{}` in a {kind} response; expected `{}`",
                any.type_url,
                kind.type_url()
            ),
        ));
    }
    let bytes = any.value.as_slice();
    let bad_bytes = |e: prost::DecodeError| err(None, format!("cannot decode the protobuf: {e}"));
    let invalid = |name: &str, e: common::Invalid| err(Some(name), e.to_string());
    Ok(match kind {
        ResourceKind::Listener => {
            let p = proto::listener::v3::Listener::decode(bytes).map_err(bad_bytes)?;
            if p.api_listener.is_none() && p.address.is_some() {
                let v = ServerListener::decode(&p, &ctx.certificate_providers)
                    .map_err(|e| invalid(&p.name, e))?;
                return Ok((p.name, Resource::ServerListener(Arc::new(v))));
            }
            let v = Listener::try_from(&p).map_err(|e| invalid(&p.name, e))?;
            (p.name, Resource::Listener(Arc::new(v)))
        }
        ResourceKind::RouteConfiguration => {
            let p = proto::route::v3::RouteConfiguration::decode(bytes).map_err(bad_bytes)?;
            let v = RouteConfiguration::try_from(&p).map_err(|e| invalid(&p.name, e))?;
            (p.name, Resource::RouteConfiguration(Arc::new(v)))
        }
        ResourceKind::Cluster => {
            let p = proto::cluster::v3::Cluster::decode(bytes).map_err(bad_bytes)?;
            let v = Cluster::decode(&p, ctx).map_err(|e| invalid(&p.name, e))?;
            (p.name, Resource::Cluster(Arc::new(v)))
        }
        ResourceKind::ClusterLoadAssignment => {
            let p = proto::endpoint::v3::ClusterLoadAssignment::decode(bytes).map_err(bad_bytes)?;
            let v = ClusterLoadAssignment::try_from(&p).map_err(|e| invalid(&p.cluster_name, e))?;
            (p.cluster_name, Resource::ClusterLoadAssignment(Arc::new(v)))
        }
    })
}

#[cfg(test)]
mod tests;
