//! Checks of a service's routes (gRFC A28 matchers, A44 retries, A33 faults, A42 hash policies):
//! each route names a known cluster or a weighted split of known clusters, its matchers compile
//! as gRPC would compile them, and its percentages, retry back-offs and fault rates are in range.

use std::collections::HashSet;

use super::super::model::*;
use super::{RETRY_ON_CODES, Validator};

impl Validator {
    pub(super) fn route(&mut self, at: &str, r: &Route, clusters: &HashSet<&str>) {
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

    pub(super) fn matcher(&mut self, at: &str, m: &RouteMatch) {
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

    pub(super) fn regex(&mut self, field: &str, re: &str) {
        if let Err(e) = regex::Regex::new(re) {
            self.push(
                field.to_owned(),
                re,
                format!("invalid regular expression `{re}`: {e}"),
            );
        }
    }

    pub(super) fn percent(&mut self, field: &str, p: f64) {
        if !(0.0..=100.0).contains(&p) {
            self.push(
                field.to_owned(),
                &p.to_string(),
                format!("expected a percentage between 0 and 100, found {p}"),
            );
        }
    }

    pub(super) fn retry(&mut self, at: &str, r: &Retry) {
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

    pub(super) fn fault(&mut self, at: &str, f: &Fault) {
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
}
