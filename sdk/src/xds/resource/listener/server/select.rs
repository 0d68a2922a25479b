//! Picks the filter chain for one accepted connection (gRFC A36 "FilterChainMatch", Envoy's
//! filter chain matching order): destination prefix (most specific wins), then source type
//! (a specific type beats ANY), then source prefix (most specific), then source port (a listed
//! port beats none). Each step keeps only the best candidates of the previous one, so a chain
//! eliminated later does not bring back a less specific one. No candidate left → the default
//! chain, if any. Pure: no I/O.

use std::net::{IpAddr, SocketAddr};

use super::{ChainMatch, CidrRange, FilterChain, ServerListener, SourceType};

/// The addresses of an accepted connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The server's end (destination).
    pub local: SocketAddr,
    /// The client's end (source).
    pub peer: SocketAddr,
}

impl ServerListener {
    /// The chain for `conn`, or `None` when no chain matches and there is no default (the
    /// connection must then be closed).
    pub fn select(&self, conn: ConnectionInfo) -> Option<&FilterChain> {
        let local = canonical(conn.local.ip());
        let peer = canonical(conn.peer.ip());
        let candidates: Vec<&FilterChain> = self
            .filter_chains
            .iter()
            .filter(|c| !c.matcher.never_matches)
            .collect();
        let candidates = best(candidates, |m| prefix_score(&m.prefix_ranges, local));
        let candidates = best(candidates, |m| {
            source_type_score(m.source_type, local, peer)
        });
        let candidates = best(candidates, |m| prefix_score(&m.source_prefix_ranges, peer));
        let candidates = best(candidates, |m| {
            port_score(&m.source_ports, conn.peer.port())
        });
        match candidates.as_slice() {
            [first, ..] => Some(first),
            [] => self.default_filter_chain.as_ref(),
        }
    }
}

/// Keeps the candidates with the highest score; `None` = does not match.
fn best(
    candidates: Vec<&FilterChain>,
    score: impl Fn(&ChainMatch) -> Option<i32>,
) -> Vec<&FilterChain> {
    let scored: Vec<(i32, &FilterChain)> = candidates
        .into_iter()
        .filter_map(|c| score(&c.matcher).map(|s| (s, c)))
        .collect();
    let Some(top) = scored.iter().map(|(s, _)| *s).max() else {
        return Vec::new();
    };
    scored
        .into_iter()
        .filter(|(s, _)| *s == top)
        .map(|(_, c)| c)
        .collect()
}

/// Empty list: matches with score -1; else the longest matching prefix length.
fn prefix_score(ranges: &[CidrRange], ip: IpAddr) -> Option<i32> {
    if ranges.is_empty() {
        return Some(-1);
    }
    ranges
        .iter()
        .filter(|r| r.contains(ip))
        .map(|r| i32::from(r.prefix_len))
        .max()
}

fn source_type_score(wanted: SourceType, local: IpAddr, peer: IpAddr) -> Option<i32> {
    let same = peer.is_loopback() || peer == local;
    match wanted {
        SourceType::Any => Some(0),
        SourceType::SameIpOrLoopback => same.then_some(1),
        SourceType::External => (!same).then_some(1),
    }
}

fn port_score(ports: &[u16], port: u16) -> Option<i32> {
    if ports.is_empty() {
        Some(0)
    } else {
        ports.contains(&port).then_some(1)
    }
}

/// IPv4-mapped IPv6 addresses as IPv4, so `::ffff:10.0.0.1` matches `10.0.0.0/8`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl CidrRange {
    /// Whether `ip` is inside this range (families must agree).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u128::from(u32::from(net)), 32, self.prefix_len)
                    == masked(u128::from(u32::from(ip)), 32, self.prefix_len)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), 128, self.prefix_len)
                    == masked(u128::from(ip), 128, self.prefix_len)
            }
            _ => false,
        }
    }
}

/// The top `len` of `bits` bits of `value`.
fn masked(value: u128, bits: u32, len: u8) -> u128 {
    let len = u32::from(len).min(bits);
    if len == 0 {
        return 0;
    }
    value >> (bits - len)
}
