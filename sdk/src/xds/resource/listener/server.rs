//! The validated *server* Listener of gRFC A36 ("xDS-enabled servers"): a socket listener
//! (`address`, no `api_listener`) whose filter chains say how to treat each accepted connection:
//! plaintext or TLS (A29 `DownstreamTlsContext`, see [`super::server_tls`]), and the
//! HttpConnectionManager that must terminate every chain.
//!
//! Rules from A36: `listener_filters` and `use_original_dst` are NACKed; every `FilterChainMatch`
//! field is accepted, but `destination_port`, `server_names`, `application_protocols` and a
//! `transport_protocol` other than `raw_buffer` can never match in gRPC (they need listener
//! filters or original-destination), so such chains are kept out of matching. Two chains with
//! the same match are NACKed, as Envoy does. Each chain's `filters` must be exactly one
//! HttpConnectionManager with a route source and a valid HTTP filter list; its routes are not
//! applied (no server-side routing, RBAC or fault filters yet). Chain selection per connection is
//! in [`select`].

use std::collections::{BTreeSet, HashSet};
use std::net::{IpAddr, SocketAddr};

use meshwork_proto::envoy::config::core::v3::{CidrRange as ProtoCidr, address, socket_address};
use meshwork_proto::envoy::config::listener::v3::{
    FilterChain as ProtoChain, FilterChainMatch, Listener as ProtoListener, filter,
    filter_chain_match::ConnectionSourceType,
};
use meshwork_proto::envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;

use super::filters;
use super::server_tls::{DownstreamTls, downstream_tls};
use crate::xds::resource::common::{At, Invalid, Result, unpack};

pub mod select;

pub use select::ConnectionInfo;

/// A validated server Listener.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerListener {
    /// The resource name.
    pub name: String,
    /// The address the listener is for; the server serves only if it matches its own (A36).
    pub address: SocketAddr,
    /// The filter chains, in resource order.
    pub filter_chains: Vec<FilterChain>,
    /// The chain for connections no other chain matches.
    pub default_filter_chain: Option<FilterChain>,
}

/// One filter chain: when it applies and how the connection is secured.
#[derive(Clone, Debug, PartialEq)]
pub struct FilterChain {
    /// The chain's name (may be empty), for logs.
    pub name: String,
    /// When the chain applies.
    pub matcher: ChainMatch,
    /// TLS for connections on this chain; `None` = plaintext.
    pub tls: Option<DownstreamTls>,
}

/// A `FilterChainMatch` reduced to what gRPC can match on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ChainMatch {
    /// Some field that gRPC can never match is set (see the module docs).
    pub never_matches: bool,
    /// Destination (local) address ranges; empty = any.
    pub prefix_ranges: Vec<CidrRange>,
    /// Where the connection must come from.
    pub source_type: SourceType,
    /// Source (peer) address ranges; empty = any.
    pub source_prefix_ranges: Vec<CidrRange>,
    /// Source ports; empty = any.
    pub source_ports: Vec<u16>,
}

/// `FilterChainMatch.source_type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SourceType {
    /// Any source.
    #[default]
    Any,
    /// The peer is this host (same IP as the local end, or loopback).
    SameIpOrLoopback,
    /// The peer is another host.
    External,
}

/// An address prefix, e.g. `10.0.0.0/8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CidrRange {
    /// The network address.
    pub address: IpAddr,
    /// Significant leading bits (0–32 for IPv4, 0–128 for IPv6).
    pub prefix_len: u8,
}

impl ServerListener {
    /// Validates a Listener without `api_listener`, with the bootstrap's provider instances.
    pub fn decode(l: &ProtoListener, providers: &BTreeSet<String>) -> Result<Self> {
        if !l.listener_filters.is_empty() {
            return Err(Invalid::field(
                "listener_filters",
                "is not supported by xDS-enabled gRPC servers (gRFC A36); remove them",
            ));
        }
        if l.use_original_dst.as_ref().is_some_and(|b| b.value) {
            return Err(Invalid::field(
                "use_original_dst",
                "is not supported by xDS-enabled gRPC servers (gRFC A36); remove it",
            ));
        }
        let address = socket_address(l).at("address")?;
        let mut seen = HashSet::new();
        let mut filter_chains = Vec::with_capacity(l.filter_chains.len());
        for (i, chain) in l.filter_chains.iter().enumerate() {
            let chain = filter_chain(chain, providers).at_index("filter_chains", i)?;
            if !seen.insert(chain.matcher.clone()) {
                return Err(Invalid::field(
                    format!("filter_chains[{i}].filter_chain_match"),
                    "duplicates the match of an earlier filter chain; make each chain's match unique",
                ));
            }
            filter_chains.push(chain);
        }
        let default_filter_chain = l
            .default_filter_chain
            .as_ref()
            .map(|c| filter_chain(c, providers).at("default_filter_chain"))
            .transpose()?;
        if filter_chains.is_empty() && default_filter_chain.is_none() {
            return Err(Invalid::new(
                "has neither filter_chains nor default_filter_chain; a server listener needs at least one chain",
            ));
        }
        Ok(ServerListener {
            name: l.name.clone(),
            address,
            filter_chains,
            default_filter_chain,
        })
    }
}

fn socket_address(l: &ProtoListener) -> Result<SocketAddr> {
    let Some(address::Address::SocketAddress(sa)) =
        l.address.as_ref().and_then(|a| a.address.as_ref())
    else {
        return Err(Invalid::new(
            "is not a socket address; a server listener needs address.socket_address with the server's IP and port",
        ));
    };
    let ip: IpAddr = sa.address.parse().map_err(|_| {
        Invalid::field(
            "socket_address.address",
            format!(
                "`{}` is not an IP address; expected e.g. 0.0.0.0 or 10.0.0.5",
                sa.address
            ),
        )
    })?;
    let port = match sa.port_specifier {
        Some(socket_address::PortSpecifier::PortValue(p)) => u16::try_from(p).ok(),
        _ => None,
    }
    .ok_or_else(|| {
        Invalid::field(
            "socket_address.port_value",
            "is missing or out of range; set the port the server listens on",
        )
    })?;
    Ok(SocketAddr::new(ip, port))
}

fn filter_chain(chain: &ProtoChain, providers: &BTreeSet<String>) -> Result<FilterChain> {
    let matcher = match &chain.filter_chain_match {
        Some(m) => chain_match(m).at("filter_chain_match")?,
        None => ChainMatch::default(),
    };
    http_connection_manager(chain).at("filters")?;
    let tls = match &chain.transport_socket {
        Some(ts) => downstream_tls(ts, providers).at("transport_socket")?,
        None => None,
    };
    Ok(FilterChain {
        name: chain.name.clone(),
        matcher,
        tls,
    })
}

fn chain_match(m: &FilterChainMatch) -> Result<ChainMatch> {
    let never_matches = m.destination_port.is_some()
        || !m.server_names.is_empty()
        || !m.application_protocols.is_empty()
        || !(m.transport_protocol.is_empty() || m.transport_protocol == "raw_buffer");
    let source_type = match ConnectionSourceType::try_from(m.source_type) {
        Ok(ConnectionSourceType::Any) => SourceType::Any,
        Ok(ConnectionSourceType::SameIpOrLoopback) => SourceType::SameIpOrLoopback,
        Ok(ConnectionSourceType::External) => SourceType::External,
        Err(_) => {
            return Err(Invalid::field(
                "source_type",
                format!(
                    "{} is not a ConnectionSourceType; use ANY, SAME_IP_OR_LOOPBACK or EXTERNAL",
                    m.source_type
                ),
            ));
        }
    };
    let ranges = |list: &[ProtoCidr], field: &str| -> Result<Vec<CidrRange>> {
        list.iter()
            .enumerate()
            .map(|(i, r)| cidr(r).at_index(field, i))
            .collect()
    };
    let source_ports = m
        .source_ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            u16::try_from(*p).map_err(|_| {
                Invalid::field(format!("source_ports[{i}]"), format!("{p} is not a port"))
            })
        })
        .collect::<Result<Vec<u16>>>()?;
    Ok(ChainMatch {
        never_matches,
        prefix_ranges: ranges(&m.prefix_ranges, "prefix_ranges")?,
        source_type,
        source_prefix_ranges: ranges(&m.source_prefix_ranges, "source_prefix_ranges")?,
        source_ports,
    })
}

fn cidr(r: &ProtoCidr) -> Result<CidrRange> {
    let address: IpAddr = r.address_prefix.parse().map_err(|_| {
        Invalid::field(
            "address_prefix",
            format!("`{}` is not an IP address", r.address_prefix),
        )
    })?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    let len = r.prefix_len.as_ref().map_or(max, |l| l.value);
    if len > max {
        return Err(Invalid::field(
            "prefix_len",
            format!("{len} is longer than the address ({max} bits)"),
        ));
    }
    Ok(CidrRange {
        address,
        // At most 128 by the check above.
        prefix_len: len as u8,
    })
}

/// The chain's network filters must be exactly one HttpConnectionManager (A36).
fn http_connection_manager(chain: &ProtoChain) -> Result<()> {
    let [only] = chain.filters.as_slice() else {
        return Err(Invalid::new(format!(
            "has {} network filters; a gRPC server's filter chain needs exactly one, the HttpConnectionManager",
            chain.filters.len()
        )));
    };
    let Some(filter::ConfigType::TypedConfig(any)) = &only.config_type else {
        return Err(Invalid::field(
            "[0].typed_config",
            "is missing; it must hold an HttpConnectionManager",
        ));
    };
    let hcm: HttpConnectionManager = unpack(any).at("[0].typed_config")?;
    if hcm.route_specifier.is_none() {
        return Err(Invalid::field(
            "[0].typed_config",
            "HttpConnectionManager has neither rds nor route_config; set one",
        ));
    }
    filters::http_filters(&hcm.http_filters).at("[0].typed_config")?;
    Ok(())
}

#[cfg(test)]
mod tests;
