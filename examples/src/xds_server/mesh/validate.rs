//! Semantic checks of a parsed mesh file: every reference resolves and every value is one a gRPC
//! xDS client accepts (so the control plane never serves a resource the client would NACK).
//!
//! Each [`Issue`] names the field by path (`services[0].routes[1].cluster`) and, once the caller
//! has the source text, the line ([`locate`] finds the first line mentioning the offending value).
//! The rules follow gRFCs A27 (priorities, locality weights), A28 (route matchers), A31, A32, A33,
//! A42, A44, A48 and A50; `resilience-semantics.md` summarises them.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;

use super::model::*;

mod route;
mod tls;

/// One problem in a mesh file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Field path, e.g. `clusters[0].localities[1].endpoints[0].address`.
    pub field: String,
    /// What was expected, what was found and what to do.
    pub message: String,
    /// Text used to find the line in the source.
    pub needle: String,
    /// 1-based line in the source, when found.
    pub line: Option<usize>,
}

/// The gRPC status names a route's `retry_on` may list (gRFC A44).
pub const RETRY_ON_CODES: [&str; 5] = [
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
];

/// Largest ring size a client accepts (gRFC A42).
const MAX_RING_SIZE: u64 = 8 * 1024 * 1024;

/// Checks a mesh; an empty result means it is valid.
pub fn validate(mesh: &Mesh) -> Vec<Issue> {
    let mut v = Validator::default();
    let clusters: HashSet<&str> = mesh.clusters.iter().map(|c| c.name.as_str()).collect();
    let mut listeners = HashSet::new();
    for (i, service) in mesh.services.iter().enumerate() {
        let at = format!("services[{i}]");
        v.service(&at, service, &clusters);
        if !listeners.insert(service.listener_name()) {
            v.push(
                format!("{at}.host"),
                &service.host,
                format!(
                    "service `{}` is declared twice; merge the two entries",
                    service.listener_name()
                ),
            );
        }
    }
    let mut names = HashSet::new();
    for (i, cluster) in mesh.clusters.iter().enumerate() {
        let at = format!("clusters[{i}]");
        if !names.insert(cluster.name.as_str()) {
            v.push(
                format!("{at}.name"),
                &cluster.name,
                format!("cluster `{}` is declared twice", cluster.name),
            );
        }
        if mesh.naming == Naming::Istio && cluster.port.is_none() {
            v.push(format!("{at}.port"), &cluster.name, "`naming: istio` needs a `port` on every cluster (its name is `outbound|port||name`)".into());
        }
        v.cluster(&at, cluster);
    }
    let mut servers = HashSet::new();
    for (i, server) in mesh.server_listeners.iter().enumerate() {
        let at = format!("server_listeners[{i}]");
        v.server_listener(&at, server);
        if !servers.insert(server.resource_name()) {
            v.push(
                format!("{at}.address"),
                &server.address,
                format!(
                    "server listener `{}` is declared twice; merge the two entries",
                    server.resource_name()
                ),
            );
        }
    }
    v.issues
}

/// Finds the first line (1-based) of `text` that contains `needle`.
pub fn locate(text: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

#[derive(Default)]
struct Validator {
    issues: Vec<Issue>,
}

impl Validator {
    fn push(&mut self, field: String, needle: &str, message: String) {
        self.issues.push(Issue {
            field,
            message,
            needle: needle.to_owned(),
            line: None,
        });
    }

    fn service(&mut self, at: &str, s: &Service, clusters: &HashSet<&str>) {
        if s.host.is_empty() || s.host.contains([':', '/', ' ']) {
            self.push(
                format!("{at}.host"),
                &s.host,
                format!(
                    "expected a host name without port, `:` or `/`, found `{}`",
                    s.host
                ),
            );
        }
        match (&s.cluster, s.routes.is_empty()) {
            (Some(c), true) => self.cluster_ref(&format!("{at}.cluster"), c, clusters),
            (None, false) => {
                for (j, route) in s.routes.iter().enumerate() {
                    self.route(&format!("{at}.routes[{j}]"), route, clusters);
                }
            }
            (Some(c), false) => self.push(
                format!("{at}.cluster"),
                c,
                "give either `cluster` (one catch-all route) or `routes`, not both".into(),
            ),
            (None, true) => self.push(
                format!("{at}.routes"),
                &s.host,
                format!(
                    "service `{}` has no route; add `cluster: <name>` or a `routes` list",
                    s.listener_name()
                ),
            ),
        }
    }

    fn cluster_ref(&mut self, field: &str, name: &str, clusters: &HashSet<&str>) {
        if !clusters.contains(name) {
            let mut known: Vec<_> = clusters.iter().copied().collect();
            known.sort_unstable();
            self.push(field.to_owned(), name, format!("cluster `{name}` is not declared under `clusters` (declared: {}); fix the name or add the cluster", known.join(", ")));
        }
    }

    fn cluster(&mut self, at: &str, c: &Cluster) {
        if c.name.is_empty() {
            self.push(
                format!("{at}.name"),
                "name",
                "cluster name must not be empty".into(),
            );
        }
        if let Some(dns) = &c.dns {
            if !c.localities.is_empty() {
                self.push(
                    format!("{at}.dns"),
                    "dns",
                    "a `dns` cluster has no `localities`: remove one of the two".into(),
                );
            }
            if crate::xds_server::translate::dns_target(dns).is_none() {
                self.push(
                    format!("{at}.dns"),
                    "dns",
                    format!("`dns` must be host:port with a port 1-65535, found `{dns}`"),
                );
            }
        }
        let blocks = [
            ("ring_hash", c.ring_hash.is_some(), LbPolicy::RingHash),
            (
                "least_request",
                c.least_request.is_some(),
                LbPolicy::LeastRequest,
            ),
            ("peak_ewma", c.peak_ewma.is_some(), LbPolicy::PeakEwma),
        ];
        for (block, present, policy) in blocks {
            if present && c.lb_policy != policy {
                self.push(
                    format!("{at}.{block}"),
                    block,
                    format!("`{block}` settings need `lb_policy: {block}`"),
                );
            }
        }
        if let Some(n) = c
            .least_request
            .and_then(|l| l.choice_count)
            .filter(|n| !(2..=10).contains(n))
        {
            self.push(
                format!("{at}.least_request.choice_count"),
                "choice_count",
                format!("choice_count must be 2-10, found {n}"),
            );
        }
        if let Some(r) = c.ring_hash {
            let min = r.minimum_ring_size.unwrap_or(1024);
            let max = r.maximum_ring_size.unwrap_or(MAX_RING_SIZE);
            if min == 0 || min > max || max > MAX_RING_SIZE {
                self.push(
                    format!("{at}.ring_hash"),
                    "ring_hash",
                    format!(
                        "ring sizes need 1 <= minimum ({min}) <= maximum ({max}) <= {MAX_RING_SIZE}"
                    ),
                );
            }
        }
        if let Some(od) = &c.outlier_detection {
            let percents = [
                ("max_ejection_percent", od.max_ejection_percent),
                ("enforcing_success_rate", od.enforcing_success_rate),
                (
                    "failure_percentage_threshold",
                    od.failure_percentage_threshold,
                ),
                (
                    "enforcing_failure_percentage",
                    od.enforcing_failure_percentage,
                ),
            ];
            for (field, value) in percents {
                if let Some(p) = value.filter(|p| *p > 100) {
                    self.push(
                        format!("{at}.outlier_detection.{field}"),
                        field,
                        format!("expected a percentage 0-100, found {p}"),
                    );
                }
            }
        }
        self.health_check(at, c);
        if let Some(t) = &c.tls {
            self.tls(at, t);
        }
        self.localities(at, c);
    }

    fn health_check(&mut self, at: &str, c: &Cluster) {
        if let Some(hc) = c.health_check {
            for (field, value) in [("interval", hc.interval), ("timeout", hc.timeout)] {
                if value.is_some_and(|d| d.0.is_zero()) {
                    self.push(
                        format!("{at}.health_check.{field}"),
                        field,
                        format!("health_check.{field} must be positive"),
                    );
                }
            }
        }
        if c.overprovisioning_factor == Some(0) {
            self.push(
                format!("{at}.overprovisioning_factor"),
                "overprovisioning_factor",
                "overprovisioning_factor must be positive (percent; Envoy's default is 140)".into(),
            );
        }
        let probed = c.localities.iter().flat_map(|l| &l.endpoints);
        for ep in probed.filter(|ep| ep.health_check_port == Some(0)) {
            self.push(
                format!("{at}.health_check_port"),
                &ep.address,
                format!("health_check_port of {} must be a port 1-65535", ep.address),
            );
        }
    }

    fn localities(&mut self, at: &str, c: &Cluster) {
        let mut addresses = HashSet::new();
        let mut per_priority: HashMap<u32, HashSet<&LocalityName>> = HashMap::new();
        for (j, loc) in c.localities.iter().enumerate() {
            let lat = format!("{at}.localities[{j}]");
            if !per_priority
                .entry(loc.priority)
                .or_default()
                .insert(&loc.locality)
            {
                self.push(
                    format!("{lat}.locality"),
                    &loc.locality.zone,
                    format!(
                        "locality {:?} appears twice at priority {}; merge its endpoints",
                        loc.locality, loc.priority
                    ),
                );
            }
            if loc.weight == Some(0) {
                self.push(
                    format!("{lat}.weight"),
                    "weight",
                    "locality weight must be positive (gRPC skips unweighted localities)".into(),
                );
            }
            if loc.endpoints.is_empty() {
                self.push(
                    format!("{lat}.endpoints"),
                    "endpoints",
                    "a locality needs at least one endpoint".into(),
                );
            }
            for (k, ep) in loc.endpoints.iter().enumerate() {
                let eat = format!("{lat}.endpoints[{k}]");
                match ep.address.parse::<SocketAddr>() {
                    Ok(addr) if !addresses.insert(addr) => self.push(
                        format!("{eat}.address"),
                        &ep.address,
                        format!("endpoint {addr} appears twice in cluster `{}`", c.name),
                    ),
                    Ok(_) => {}
                    Err(_) => self.push(
                        format!("{eat}.address"),
                        &ep.address,
                        format!(
                            "expected `ip:port` (e.g. 127.0.0.1:50051), found `{}`",
                            ep.address
                        ),
                    ),
                }
                if ep.weight == Some(0) {
                    self.push(
                        format!("{eat}.weight"),
                        &ep.address,
                        "endpoint weight must be positive".into(),
                    );
                }
            }
        }
        let priorities: BTreeSet<u32> = per_priority.keys().copied().collect();
        if let Some((i, p)) = priorities
            .iter()
            .enumerate()
            .find(|(i, p)| u32::try_from(*i).ok() != Some(**p))
        {
            self.push(format!("{at}.localities"), "priority", format!("priorities must be contiguous from 0; cluster `{}` has {:?}, so priority {i} is missing before {p}", c.name, priorities));
        }
    }
}
