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

    fn route(&mut self, at: &str, r: &Route, clusters: &HashSet<&str>) {
        self.matcher(&format!("{at}.match"), &r.matcher);
        match (&r.cluster, r.weighted_clusters.is_empty()) {
            (Some(c), true) => self.cluster_ref(&format!("{at}.cluster"), c, clusters),
            (None, false) => {
                let mut seen = HashSet::new();
                let mut sum = 0u64;
                for (k, w) in r.weighted_clusters.iter().enumerate() {
                    self.cluster_ref(
                        &format!("{at}.weighted_clusters[{k}].name"),
                        &w.name,
                        clusters,
                    );
                    if !seen.insert(&w.name) {
                        self.push(
                            format!("{at}.weighted_clusters[{k}].name"),
                            &w.name,
                            format!("cluster `{}` appears twice in one split", w.name),
                        );
                    }
                    sum += u64::from(w.weight);
                }
                if sum == 0 || sum > u64::from(u32::MAX) {
                    self.push(
                        format!("{at}.weighted_clusters"),
                        "weighted_clusters",
                        format!(
                            "weights must sum to between 1 and {}, found {sum}",
                            u32::MAX
                        ),
                    );
                }
            }
            _ => self.push(
                format!("{at}.cluster"),
                "cluster",
                "a route needs exactly one of `cluster` or `weighted_clusters`".into(),
            ),
        }
        if let Some(retry) = &r.retry {
            self.retry(&format!("{at}.retry"), retry);
        }
        if let Some(fault) = &r.fault {
            self.fault(&format!("{at}.fault"), fault);
        }
        for (k, h) in r.hash_policy.iter().enumerate() {
            if h.header.is_some() == h.channel_id {
                self.push(
                    format!("{at}.hash_policy[{k}]"),
                    "hash_policy",
                    "a hash policy needs exactly one of `header: <name>` or `channel_id: true`"
                        .into(),
                );
            }
        }
    }

    fn matcher(&mut self, at: &str, m: &RouteMatch) {
        let kinds = [m.prefix.is_some(), m.path.is_some(), m.safe_regex.is_some()];
        if kinds.iter().filter(|k| **k).count() > 1 {
            self.push(
                at.to_owned(),
                "match",
                "give at most one of `prefix`, `path`, `safe_regex`".into(),
            );
        }
        for (field, value) in [("prefix", &m.prefix), ("path", &m.path)] {
            if let Some(p) = value
                .as_deref()
                .filter(|p| !p.is_empty() && !p.starts_with('/'))
            {
                self.push(
                    format!("{at}.{field}"),
                    p,
                    format!("gRPC paths start with `/` (e.g. `/pkg.Service/Method`), found `{p}`"),
                );
            }
        }
        if let Some(re) = &m.safe_regex {
            self.regex(&format!("{at}.safe_regex"), re);
        }
        if let Some(f) = m.runtime_fraction {
            self.percent(&format!("{at}.runtime_fraction"), f);
        }
        for (k, h) in m.headers.iter().enumerate() {
            let hat = format!("{at}.headers[{k}]");
            let set = [
                h.exact.is_some(),
                h.prefix.is_some(),
                h.suffix.is_some(),
                h.regex.is_some(),
                h.range.is_some(),
                h.present.is_some(),
            ];
            if set.iter().filter(|s| **s).count() != 1 {
                self.push(hat.clone(), &h.name, format!("header `{}` needs exactly one of exact, prefix, suffix, regex, range, present", h.name));
            }
            if h.name.is_empty() || h.name.starts_with(':') || h.name.ends_with("-bin") {
                self.push(format!("{hat}.name"), &h.name, format!("header name `{}` cannot be matched by gRPC (empty, pseudo-header or `-bin`)", h.name));
            }
            if let Some(re) = &h.regex {
                self.regex(&format!("{hat}.regex"), re);
            }
            if let Some(r) = h.range.filter(|r| r.start >= r.end) {
                self.push(
                    format!("{hat}.range"),
                    &h.name,
                    format!(
                        "range is [start, end) and needs start < end, found [{}, {})",
                        r.start, r.end
                    ),
                );
            }
        }
    }

    fn regex(&mut self, field: &str, re: &str) {
        if let Err(e) = regex::Regex::new(re) {
            self.push(
                field.to_owned(),
                re,
                format!("invalid regular expression `{re}`: {e}"),
            );
        }
    }

    fn percent(&mut self, field: &str, p: f64) {
        if !(0.0..=100.0).contains(&p) {
            self.push(
                field.to_owned(),
                &p.to_string(),
                format!("expected a percentage between 0 and 100, found {p}"),
            );
        }
    }

    fn retry(&mut self, at: &str, r: &Retry) {
        if r.retry_on.is_empty() {
            self.push(
                format!("{at}.retry_on"),
                "retry_on",
                format!(
                    "list at least one status to retry on: {}",
                    RETRY_ON_CODES.join(", ")
                ),
            );
        }
        for code in &r.retry_on {
            if !RETRY_ON_CODES.contains(&code.as_str()) {
                self.push(
                    format!("{at}.retry_on"),
                    code,
                    format!(
                        "gRPC retries only on {}; found `{code}`",
                        RETRY_ON_CODES.join(", ")
                    ),
                );
            }
        }
        if r.num_retries == Some(0) {
            self.push(
                format!("{at}.num_retries"),
                "num_retries",
                "num_retries must be at least 1 (remove the retry block to disable retries)".into(),
            );
        }
        if let Some(b) = &r.backoff {
            if b.base_interval.0.is_zero() {
                self.push(
                    format!("{at}.backoff.base_interval"),
                    "base_interval",
                    "base_interval must be positive".into(),
                );
            }
            if b.max_interval.is_some_and(|m| m < b.base_interval) {
                self.push(
                    format!("{at}.backoff.max_interval"),
                    "max_interval",
                    "max_interval must not be below base_interval".into(),
                );
            }
        }
    }

    fn fault(&mut self, at: &str, f: &Fault) {
        if f.delay.is_none() && f.abort.is_none() {
            self.push(
                at.to_owned(),
                "fault",
                "a fault needs a `delay`, an `abort` or both".into(),
            );
        }
        if let Some(d) = &f.delay {
            self.percent(&format!("{at}.delay.percent"), d.percent);
        }
        if let Some(a) = &f.abort {
            self.percent(&format!("{at}.abort.percent"), a.percent);
            match (a.http_status, a.grpc_status) {
                (Some(h), None) if !(200..600).contains(&h) => self.push(
                    format!("{at}.abort.http_status"),
                    &h.to_string(),
                    format!("expected an HTTP status 200-599, found {h}"),
                ),
                (None, Some(g)) if g > 16 => self.push(
                    format!("{at}.abort.grpc_status"),
                    &g.to_string(),
                    format!("expected a gRPC status code 0-16, found {g}"),
                ),
                (Some(_), None) | (None, Some(_)) => {}
                _ => self.push(
                    format!("{at}.abort"),
                    "abort",
                    "an abort needs exactly one of `http_status` or `grpc_status`".into(),
                ),
            }
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
