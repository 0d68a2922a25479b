//! Virtual host selection by `:authority` (gRFC A28; Envoy `VirtualHost.domains`): the virtual
//! host whose domain pattern matches the authority most specifically serves the channel.
//!
//! Pattern kinds, most specific first: exact (`greeter.svc:50051`), suffix wildcard
//! (`*.svc:50051`, also `*-prod.svc`), prefix wildcard (`greeter.*`), and the universal `*`.
//! Within a kind the longer pattern wins; on a full tie the earlier virtual host wins. Matching is
//! ASCII case-insensitive and a wildcard stands for at least one character. A `*` anywhere else in
//! a pattern makes it match nothing. Allocation-free, so the resolver and the channel can both call
//! it freely. Does not match routes (see [`crate::route`]).

use crate::xds::resource::route::VirtualHost;

/// The kind of domain pattern that matched; later variants are more specific.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DomainKind {
    /// `*`.
    Universal,
    /// `prefix.*`.
    PrefixWildcard,
    /// `*.suffix`.
    SuffixWildcard,
    /// An exact name.
    Exact,
}

/// Index of the virtual host in `virtual_hosts` that serves `authority`, or `None` when no domain
/// pattern matches it.
pub fn select_virtual_host(virtual_hosts: &[VirtualHost], authority: &str) -> Option<usize> {
    let mut best: Option<(DomainKind, usize, usize)> = None;
    for (index, vh) in virtual_hosts.iter().enumerate() {
        for pattern in &vh.domains {
            let Some(kind) = domain_match(pattern, authority) else {
                continue;
            };
            // Strictly better only, so the first virtual host wins a tie.
            if best.is_none_or(|(k, len, _)| (kind, pattern.len()) > (k, len)) {
                best = Some((kind, pattern.len(), index));
            }
        }
    }
    best.map(|(_, _, index)| index)
}

/// The kind of `pattern` when it matches `authority` (ASCII case-insensitively), else `None`.
pub fn domain_match(pattern: &str, authority: &str) -> Option<DomainKind> {
    let (p, a) = (pattern.as_bytes(), authority.as_bytes());
    if p == b"*" {
        return Some(DomainKind::Universal);
    }
    if let Some(suffix) = p.strip_prefix(b"*") {
        let ok = !suffix.contains(&b'*')
            && a.len() > suffix.len()
            && a[a.len() - suffix.len()..].eq_ignore_ascii_case(suffix);
        return ok.then_some(DomainKind::SuffixWildcard);
    }
    if let Some(prefix) = p.strip_suffix(b"*") {
        let ok = !prefix.contains(&b'*')
            && a.len() > prefix.len()
            && a[..prefix.len()].eq_ignore_ascii_case(prefix);
        return ok.then_some(DomainKind::PrefixWildcard);
    }
    (!p.contains(&b'*') && p.eq_ignore_ascii_case(a)).then_some(DomainKind::Exact)
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
        let a = "greeter.svc:50051";
        assert_eq!(select_virtual_host(&vhs, a), Some(3));
        assert_eq!(select_virtual_host(&vhs[..3], a), Some(2));
        assert_eq!(select_virtual_host(&vhs[..2], a), Some(1));
        assert_eq!(select_virtual_host(&vhs[..1], a), Some(0));
        // Order in the list does not matter, only specificity.
        let reversed: Vec<_> = vhs.iter().rev().cloned().collect();
        assert_eq!(select_virtual_host(&reversed, a), Some(0));
    }

    #[test]
    fn longer_pattern_wins_within_a_kind_and_first_wins_a_tie() {
        let vhs = hosts(&[
            &["*.svc:50051"],
            &["*.greeter.svc:50051"],
            &["*.b.svc:50051"],
        ]);
        assert_eq!(select_virtual_host(&vhs, "a.greeter.svc:50051"), Some(1));
        let vhs = hosts(&[&["greeter.*"], &["greeter.svc.*"]]);
        assert_eq!(select_virtual_host(&vhs, "greeter.svc.local"), Some(1));
        let vhs = hosts(&[&["*.svc"], &["*.svc"]]);
        assert_eq!(select_virtual_host(&vhs, "a.svc"), Some(0));
    }

    #[test]
    fn matching_ignores_case_and_wildcards_need_a_character() {
        assert_eq!(
            domain_match("Greeter.SVC:50051", "greeter.svc:50051"),
            Some(DomainKind::Exact)
        );
        assert_eq!(
            domain_match("*.Example.com", "API.example.COM"),
            Some(DomainKind::SuffixWildcard)
        );
        assert_eq!(domain_match("*.example.com", ".example.com"), None);
        assert_eq!(
            domain_match("*-prod.svc", "greeter-prod.svc"),
            Some(DomainKind::SuffixWildcard)
        );
        assert_eq!(domain_match("greeter.*", "greeter."), None);
        assert_eq!(domain_match("gree*ter", "greeter"), None);
        assert_eq!(domain_match("*.a.*", "x.a.y"), None);
        assert_eq!(domain_match("greeter", "greeter.svc"), None);
    }

    #[test]
    fn no_matching_domain_is_none() {
        let vhs = hosts(&[&["a.svc", "*.a.svc"], &["b.*"]]);
        assert_eq!(select_virtual_host(&vhs, "c.svc"), None);
        assert_eq!(select_virtual_host(&[], "c.svc"), None);
    }
}
