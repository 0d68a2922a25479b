//! The match half of a route (`envoy.config.route.v3.RouteMatch`, gRFC A28 and A63).
//!
//! Supports `prefix`, `path` and `safe_regex` path specifiers, `case_sensitive`, header matchers and
//! `runtime_fraction` (its `default_value` only: there is no runtime). Routes with
//! `query_parameters` never match and are dropped by the caller; `grpc` and `tls_context` are
//! ignored. Does not evaluate requests beyond the small helpers here; the `route` module does.

use meshwork_proto::envoy::config::route::v3::{
    RouteMatch as ProtoRouteMatch, route_match::PathSpecifier,
};

use crate::xds::resource::common::{At, Fraction, HeaderMatcher, Invalid, Regex, Result, fraction};

/// How the request path (`/package.Service/Method`) is matched.
#[derive(Clone, Debug, PartialEq)]
pub enum PathMatcher {
    /// The path starts with this (empty = every path).
    Prefix(String),
    /// The path equals this.
    Path(String),
    /// The whole path matches this regex (compiled case-insensitively when `case_sensitive` is false).
    Regex(Regex),
}

/// A validated route match.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteMatch {
    /// The path test.
    pub path: PathMatcher,
    /// Path matching is case sensitive (default true).
    pub case_sensitive: bool,
    /// Every header matcher must match.
    pub headers: Vec<HeaderMatcher>,
    /// Match only this share of requests (`runtime_fraction.default_value`), drawn per request.
    pub runtime_fraction: Option<Fraction>,
}

impl RouteMatch {
    /// Whether the path test passes for `path` (headers and fraction are checked separately).
    pub fn path_matches(&self, path: &str) -> bool {
        let folded = |s: &str| {
            if self.case_sensitive {
                s.to_string()
            } else {
                s.to_ascii_lowercase()
            }
        };
        match &self.path {
            PathMatcher::Prefix(p) => folded(path).starts_with(&folded(p)),
            PathMatcher::Path(p) => folded(path) == folded(p),
            PathMatcher::Regex(r) => r.is_full_match(path),
        }
    }
}

/// Decodes a route's match; `Ok(None)` means "this route can never match" (query parameters).
pub fn route_match(m: &ProtoRouteMatch) -> Result<Option<RouteMatch>> {
    if !m.query_parameters.is_empty() {
        return Ok(None);
    }
    let case_sensitive = m.case_sensitive.map(|b| b.value).unwrap_or(true);
    let path = match &m.path_specifier {
        Some(PathSpecifier::Prefix(p)) => PathMatcher::Prefix(p.clone()),
        Some(PathSpecifier::Path(p)) => PathMatcher::Path(p.clone()),
        Some(PathSpecifier::SafeRegex(r)) => {
            PathMatcher::Regex(Regex::from_proto(r, !case_sensitive).at("safe_regex")?)
        }
        Some(other) => {
            let name = match other {
                PathSpecifier::ConnectMatcher(_) => "connect_matcher",
                PathSpecifier::PathSeparatedPrefix(_) => "path_separated_prefix",
                _ => "path_match_policy",
            };
            return Err(Invalid::field(
                name,
                "path specifier is not supported; use prefix, path or safe_regex",
            ));
        }
        None => {
            return Err(Invalid::new(
                "no path specifier; set prefix, path or safe_regex",
            ));
        }
    };
    let headers = m
        .headers
        .iter()
        .enumerate()
        .map(|(i, h)| HeaderMatcher::from_proto(h).at_index("headers", i))
        .collect::<Result<_>>()?;
    let runtime_fraction = match m
        .runtime_fraction
        .as_ref()
        .and_then(|r| r.default_value.as_ref())
    {
        Some(f) => Some(fraction(f).at("runtime_fraction.default_value")?),
        None => None,
    };
    Ok(Some(RouteMatch {
        path,
        case_sensitive,
        headers,
        runtime_fraction,
    }))
}
