//! Virtual host selection (gRFC A28, following Envoy's `VirtualHost.domains` semantics): the
//! virtual host whose domain pattern matches the target's authority most specifically wins.
//!
//! Kinds, most specific first: exact (`foo.com`), suffix wildcard (`*.foo.com`, `*-bar.foo.com`),
//! prefix wildcard (`foo.*`), and `*`. Within a kind the longer pattern wins; on a tie the first
//! virtual host in order wins. Matching is case-insensitive, and a wildcard stands for at least
//! one character. Patterns with `*` in the middle match nothing. Route matching is not done here.

use crate::xds::resource::route::VirtualHost;

/// How specific a matching pattern is; larger is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Universal,
    Prefix,
    Suffix,
    Exact,
}

/// Index of the virtual host that serves `authority`, if any.
pub fn select_virtual_host(virtual_hosts: &[VirtualHost], authority: &str) -> Option<usize> {
    let host = authority.to_ascii_lowercase();
    let mut best: Option<(Kind, usize, usize)> = None;
    for (index, vh) in virtual_hosts.iter().enumerate() {
        for domain in &vh.domains {
            let Some(kind) = match_domain(&domain.to_ascii_lowercase(), &host) else {
                continue;
            };
            let rank = (kind, domain.len());
            if best.is_none_or(|(k, len, _)| rank > (k, len)) {
                best = Some((kind, domain.len(), index));
            }
        }
    }
    best.map(|(_, _, index)| index)
}

/// The kind of `pattern` if it matches `host` (both lowercase).
fn match_domain(pattern: &str, host: &str) -> Option<Kind> {
    if pattern == "*" {
        return Some(Kind::Universal);
    }
    if let Some(suffix) = pattern.strip_prefix('*') {
        let ok = !suffix.contains('*') && host.len() > suffix.len() && host.ends_with(suffix);
        return ok.then_some(Kind::Suffix);
    }
    if let Some(prefix) = pattern.strip_suffix('*') {
        let ok = !prefix.contains('*') && host.len() > prefix.len() && host.starts_with(prefix);
        return ok.then_some(Kind::Prefix);
    }
    (!pattern.contains('*') && pattern == host).then_some(Kind::Exact)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xds::resource::route::FilterOverrides;

    fn hosts(domains: &[&[&str]]) -> Vec<VirtualHost> {
        domains
            .iter()
            .enumerate()
            .map(|(i, d)| VirtualHost {
                name: format!("vh{i}"),
                domains: d.iter().map(|s| s.to_string()).collect(),
                routes: Vec::new(),
                retry_policy: None,
                filter_overrides: FilterOverrides::new(),
            })
            .collect()
    }

    #[test]
    fn exact_beats_suffix_beats_prefix_beats_universal() {
        let vhs = hosts(&[
            &["*"],
            &["greeter.*"],
            &["*.svc:50051"],
            &["greeter.svc:50051"],
        ]);
        assert_eq!(select_virtual_host(&vhs, "greeter.svc:50051"), Some(3));
        assert_eq!(select_virtual_host(&vhs[..3], "greeter.svc:50051"), Some(2));
        assert_eq!(select_virtual_host(&vhs[..2], "greeter.svc:50051"), Some(1));
        assert_eq!(select_virtual_host(&vhs[..1], "greeter.svc:50051"), Some(0));
    }

    #[test]
    fn longest_pattern_wins_within_a_kind_and_first_wins_ties() {
        let vhs = hosts(&[&["*.com"], &["*.example.com"], &["*.example.com"]]);
        assert_eq!(select_virtual_host(&vhs, "api.example.com"), Some(1));
        let vhs = hosts(&[&["api.*"], &["api.example.*"]]);
        assert_eq!(select_virtual_host(&vhs, "api.example.com"), Some(1));
    }

    #[test]
    fn matching_ignores_case() {
        let vhs = hosts(&[&["Greeter.Example.COM"]]);
        assert_eq!(select_virtual_host(&vhs, "greeter.example.com"), Some(0));
        assert_eq!(select_virtual_host(&vhs, "GREETER.example.com"), Some(0));
    }

    #[test]
    fn wildcards_need_at_least_one_character_and_middle_stars_match_nothing() {
        let vhs = hosts(&[&["*.example.com", "a*b", "example.*"]]);
        assert_eq!(select_virtual_host(&vhs, ".example.com"), None);
        assert_eq!(select_virtual_host(&vhs, "example."), None);
        assert_eq!(select_virtual_host(&vhs, "a*b"), None);
        assert_eq!(select_virtual_host(&vhs, "axb"), None);
    }

    #[test]
    fn no_match_is_none() {
        let vhs = hosts(&[&["other:80"], &["*.other"]]);
        assert_eq!(select_virtual_host(&vhs, "greeter:50051"), None);
        assert_eq!(select_virtual_host(&[], "greeter:50051"), None);
    }
}
