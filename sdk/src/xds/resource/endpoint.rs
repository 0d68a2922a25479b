//! The validated `ClusterLoadAssignment` (EDS): endpoints grouped by priority and locality, with
//! health, weights, extra addresses (gRFC A61), ring-hash keys (A76) and drop overloads (A27).
//!
//! Rules (A27): priorities are contiguous from 0; a locality with no or zero weight is skipped; a
//! locality appears once per priority; locality weights of a priority sum to at most `u32::MAX`;
//! every address (extra ones included) is an IP literal with a numeric port and is unique across
//! the resource. `overprovisioning_factor` and named endpoints are ignored. Picking is the balancer's.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

use meshwork_proto::envoy::config::core::v3::{
    Address, Locality as ProtoLocality, SocketAddress, address, socket_address::PortSpecifier,
};
use meshwork_proto::envoy::config::endpoint::v3::{
    ClusterLoadAssignment as ProtoCla, LbEndpoint, lb_endpoint::HostIdentifier,
};
use meshwork_proto::google::protobuf::value::Kind;

use super::common::{At, Fraction, Invalid, Result, fraction};

/// The metadata filter and key holding an endpoint's ring-hash key (gRFC A76).
pub const HASH_KEY_FILTER: &str = "envoy.lb";
const HASH_KEY_FIELD: &str = "hash_key";

/// A validated ClusterLoadAssignment.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterLoadAssignment {
    /// The resource name (the cluster's EDS service name).
    pub cluster_name: String,
    /// Priorities, index 0 first (highest); contiguous by construction.
    pub priorities: Vec<Priority>,
    /// Requests dropped before picking, per category.
    pub drop_overloads: Vec<DropOverload>,
}

/// The localities of one priority.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Priority {
    /// Localities with positive weight.
    pub localities: Vec<LocalityEndpoints>,
}

/// Where a group of endpoints runs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Locality {
    /// Region.
    pub region: String,
    /// Zone.
    pub zone: String,
    /// Sub-zone.
    pub sub_zone: String,
}

/// The endpoints of one locality.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalityEndpoints {
    /// Which locality.
    pub locality: Locality,
    /// Its weight within the priority (> 0).
    pub weight: u32,
    /// Its endpoints.
    pub endpoints: Vec<Endpoint>,
}

/// One backend.
#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    /// Primary address.
    pub address: SocketAddr,
    /// More addresses of the same backend, tried in order after the primary (A61).
    pub additional_addresses: Vec<SocketAddr>,
    /// Health as the control plane sees it.
    pub health: HealthStatus,
    /// Weight within its locality (≥ 1, default 1).
    pub weight: u32,
    /// Ring-hash key replacing the address (`metadata["envoy.lb"].hash_key`, A76).
    pub hash_key: Option<String>,
    /// Host name, for authority rewriting (may be empty).
    pub hostname: String,
}

/// `envoy.config.core.v3.HealthStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HealthStatus {
    /// Not known; usable.
    Unknown,
    /// Healthy; usable.
    Healthy,
    /// Unhealthy, or a value this version does not know.
    Unhealthy,
    /// Draining (used only by session affinity, A55).
    Draining,
    /// Health check timed out.
    Timeout,
    /// Degraded.
    Degraded,
}

impl HealthStatus {
    /// Converts the wire value; values this version does not know count as unhealthy.
    pub fn from_proto(v: i32) -> Self {
        match v {
            0 => HealthStatus::Unknown,
            1 => HealthStatus::Healthy,
            3 => HealthStatus::Draining,
            4 => HealthStatus::Timeout,
            5 => HealthStatus::Degraded,
            _ => HealthStatus::Unhealthy,
        }
    }

    /// Whether gRPC routes new traffic to it (HEALTHY or UNKNOWN).
    pub fn is_usable(self) -> bool {
        matches!(self, HealthStatus::Healthy | HealthStatus::Unknown)
    }
}

/// A drop overload category.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropOverload {
    /// Category, reported in LRS.
    pub category: String,
    /// Share of requests dropped.
    pub fraction: Fraction,
}

impl TryFrom<&ProtoCla> for ClusterLoadAssignment {
    type Error = Invalid;

    fn try_from(c: &ProtoCla) -> Result<Self> {
        let mut priorities: Vec<Priority> = Vec::new();
        let mut seen_localities: HashSet<(u32, Locality)> = HashSet::new();
        let mut weight_sums: Vec<u64> = Vec::new();
        let mut present: Vec<bool> = Vec::new();
        let mut addresses: HashSet<SocketAddr> =
            HashSet::with_capacity(c.endpoints.iter().map(|l| l.lb_endpoints.len()).sum());
        for (i, l) in c.endpoints.iter().enumerate() {
            let at = |r: Result<_>| r.at_index("endpoints", i);
            let p = l.priority as usize;
            if priorities.len() <= p {
                if p >= c.endpoints.len() {
                    // A gap is certain: there are fewer localities than this priority needs.
                    return at(Err(Invalid::field(
                        "priority",
                        format!(
                            "is {p} but only {} localities exist; priorities must be contiguous from 0",
                            c.endpoints.len()
                        ),
                    )));
                }
                priorities.resize_with(p + 1, Priority::default);
                weight_sums.resize(p + 1, 0);
                present.resize(p + 1, false);
            }
            present[p] = true;
            let weight = l.load_balancing_weight.map(|w| w.value).unwrap_or(0);
            if weight == 0 {
                continue;
            }
            let locality = l.locality.as_ref().map(locality).unwrap_or_default();
            if !seen_localities.insert((l.priority, locality.clone())) {
                return at(Err(Invalid::field(
                    "locality",
                    format!(
                        "{locality:?} appears twice in priority {p}; each locality may appear once per priority"
                    ),
                )));
            }
            weight_sums[p] += u64::from(weight);
            if weight_sums[p] > u64::from(u32::MAX) {
                return at(Err(Invalid::field(
                    "load_balancing_weight",
                    format!(
                        "locality weights of priority {p} sum to more than {}",
                        u32::MAX
                    ),
                )));
            }
            let endpoints = l
                .lb_endpoints
                .iter()
                .enumerate()
                .map(|(j, e)| endpoint(e, &mut addresses).at_index("lb_endpoints", j))
                .collect::<Result<Vec<_>>>()
                .at_index("endpoints", i)?;
            priorities[p].localities.push(LocalityEndpoints {
                locality,
                weight,
                endpoints,
            });
        }
        if let Some(missing) = present.iter().position(|&p| !p) {
            return Err(Invalid::field(
                "endpoints",
                format!(
                    "priority {missing} is missing while priority {} exists; priorities must be contiguous from 0",
                    priorities.len() - 1
                ),
            ));
        }
        let drop_overloads = match &c.policy {
            Some(policy) => policy
                .drop_overloads
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let fraction = d
                        .drop_percentage
                        .as_ref()
                        .map(fraction)
                        .transpose()
                        .at("drop_percentage")?;
                    Ok(DropOverload {
                        category: d.category.clone(),
                        fraction: fraction.unwrap_or_default(),
                    })
                    .at_index("drop_overloads", i)
                })
                .collect::<Result<_>>()
                .at("policy")?,
            None => Vec::new(),
        };
        Ok(ClusterLoadAssignment {
            cluster_name: c.cluster_name.clone(),
            priorities,
            drop_overloads,
        })
    }
}

fn locality(l: &ProtoLocality) -> Locality {
    Locality {
        region: l.region.clone(),
        zone: l.zone.clone(),
        sub_zone: l.sub_zone.clone(),
    }
}

fn endpoint(e: &LbEndpoint, seen: &mut HashSet<SocketAddr>) -> Result<Endpoint> {
    let ep = match &e.host_identifier {
        Some(HostIdentifier::Endpoint(ep)) => ep,
        Some(HostIdentifier::EndpointName(_)) => {
            return Err(Invalid::field(
                "endpoint_name",
                "named endpoints are not supported; inline the endpoint",
            ));
        }
        None => return Err(Invalid::field("endpoint", "is required")),
    };
    let mut unique = |a: SocketAddr, field: &str| {
        if seen.insert(a) {
            Ok(a)
        } else {
            Err(Invalid::field(
                field,
                format!(
                    "address {a} appears more than once in the resource; addresses must be unique"
                ),
            ))
        }
    };
    let address = unique(
        socket_addr(ep.address.as_ref()).at("endpoint.address")?,
        "endpoint.address",
    )?;
    let mut additional_addresses = Vec::with_capacity(ep.additional_addresses.len());
    for (i, extra) in ep.additional_addresses.iter().enumerate() {
        let field = format!("endpoint.additional_addresses[{i}].address");
        let a = socket_addr(extra.address.as_ref()).at(field.clone())?;
        additional_addresses.push(unique(a, &field)?);
    }
    let weight = match e.load_balancing_weight {
        None => 1,
        Some(w) if w.value >= 1 => w.value,
        Some(_) => {
            return Err(Invalid::field(
                "load_balancing_weight",
                "is 0; endpoint weights must be >= 1 (leave unset for 1)",
            ));
        }
    };
    let hash_key = e
        .metadata
        .as_ref()
        .and_then(|m| m.filter_metadata.get(HASH_KEY_FILTER))
        .and_then(|s| s.fields.get(HASH_KEY_FIELD))
        .and_then(|v| match &v.kind {
            Some(Kind::StringValue(s)) => Some(s.clone()),
            _ => None,
        });
    Ok(Endpoint {
        address,
        additional_addresses,
        health: HealthStatus::from_proto(e.health_status),
        weight,
        hash_key,
        hostname: ep.hostname.clone(),
    })
}

fn socket_addr(a: Option<&Address>) -> Result<SocketAddr> {
    let sa = match a.and_then(|a| a.address.as_ref()) {
        Some(address::Address::SocketAddress(sa)) => sa,
        Some(_) => {
            return Err(Invalid::new(
                "only socket_address is supported (no pipes or internal addresses)",
            ));
        }
        None => return Err(Invalid::new("is required")),
    };
    let ip: IpAddr = sa.address.parse().map_err(|_| {
        Invalid::field(
            "socket_address.address",
            format!("`{}` is not an IPv4 or IPv6 address", sa.address),
        )
    })?;
    Ok(SocketAddr::new(ip, socket_port(sa).at("socket_address")?))
}

/// The numeric port of a socket address (named ports are not supported).
pub fn socket_port(sa: &SocketAddress) -> Result<u16> {
    match sa.port_specifier {
        Some(PortSpecifier::PortValue(p)) => u16::try_from(p).map_err(|_| {
            Invalid::field(
                "port_value",
                format!("{p} is not a port; expected 0..=65535"),
            )
        }),
        Some(PortSpecifier::NamedPort(_)) => Err(Invalid::field(
            "named_port",
            "is not supported; use port_value",
        )),
        None => Err(Invalid::field("port_value", "is required")),
    }
}

#[cfg(test)]
mod tests;
