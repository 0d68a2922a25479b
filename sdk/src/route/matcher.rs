//! Evaluates a route's match against one RPC (gRFC A28, A63): the path test (`prefix`, `path`,
//! `safe_regex`, honouring `case_sensitive`), every header matcher, then `runtime_fraction`.
//!
//! Built once per route from the validated [`RouteMatch`], with header names parsed and the gRPC
//! rules for which headers exist resolved up front, so matching allocates nothing except when a
//! header has several values (they are joined with `,`).
//!
//! Header rules (A28, with `invert_match` as A41 pins it down from Envoy): `-bin` headers and
//! pseudo-headers are never present; `content-type` always reads `application/grpc`. A missing
//! header fails every value test whether or not it is inverted; only `present_match` sees absence,
//! and `invert_match` then flips its result. The fraction is drawn last, and only for a request
//! that passed the other tests. Does not pick clusters (see [`super::table`]).

use std::borrow::Cow;

use tonic::codegen::http::header::AsHeaderName;
use tonic::codegen::http::{HeaderMap, HeaderName};

use super::{RandomSource, RequestInfo};
use crate::xds::resource::common::{
    Fraction, HeaderMatch, HeaderMatcher, Regex, StringMatcher, StringPattern,
};
use crate::xds::resource::route::{PathMatcher, RouteMatch};

/// The value gRPC matches for `content-type`, whatever the request carries.
const GRPC_CONTENT_TYPE: &str = "application/grpc";

/// A route's match, ready to evaluate requests.
#[derive(Clone, Debug)]
pub struct RequestMatcher {
    path: PathTest,
    headers: Vec<HeaderTest>,
    fraction: Option<Fraction>,
}

#[derive(Clone, Debug)]
enum PathTest {
    Prefix {
        prefix: String,
        case_sensitive: bool,
    },
    Exact {
        path: String,
        case_sensitive: bool,
    },
    /// Compiled case-insensitively by the resource decoder when `case_sensitive` is false.
    Regex(Regex),
}

#[derive(Clone, Debug)]
struct HeaderTest {
    source: HeaderSource,
    test: ValueTest,
    invert: bool,
}

/// Where a header matcher's value comes from.
#[derive(Clone, Debug)]
enum HeaderSource {
    /// A header of the request.
    Map(HeaderName),
    /// `content-type`: always `application/grpc`.
    ContentType,
    /// A header gRPC never exposes to matching (`-bin`, pseudo-headers, invalid names).
    Never,
}

#[derive(Clone, Debug)]
enum ValueTest {
    Text {
        pattern: TextPattern,
        ignore_case: bool,
    },
    Range {
        start: i64,
        end: i64,
    },
    Present(bool),
}

#[derive(Clone, Debug)]
enum TextPattern {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    Regex(Regex),
}

impl RequestMatcher {
    /// Compiles a validated route match.
    pub fn new(m: &RouteMatch) -> Self {
        let path = match &m.path {
            PathMatcher::Prefix(p) => PathTest::Prefix {
                prefix: p.clone(),
                case_sensitive: m.case_sensitive,
            },
            PathMatcher::Path(p) => PathTest::Exact {
                path: p.clone(),
                case_sensitive: m.case_sensitive,
            },
            PathMatcher::Regex(r) => PathTest::Regex(r.clone()),
        };
        RequestMatcher {
            path,
            headers: m.headers.iter().map(HeaderTest::new).collect(),
            fraction: m.runtime_fraction,
        }
    }

    /// Whether `req` matches: path, then every header, then a fresh fraction draw from `rng`.
    pub fn matches(&self, req: &RequestInfo<'_>, rng: &mut impl RandomSource) -> bool {
        self.path_matches(req.path)
            && self.headers.iter().all(|h| h.matches(req.headers))
            && self.fraction.is_none_or(|f| fraction_admits(f, rng))
    }

    /// Whether the path test alone passes.
    pub fn path_matches(&self, path: &str) -> bool {
        match &self.path {
            PathTest::Prefix {
                prefix,
                case_sensitive: true,
            } => path.starts_with(prefix.as_str()),
            PathTest::Prefix { prefix, .. } => starts_with_ignore_case(path, prefix),
            PathTest::Exact {
                path: p,
                case_sensitive: true,
            } => path == p,
            PathTest::Exact { path: p, .. } => path.eq_ignore_ascii_case(p),
            PathTest::Regex(r) => r.is_full_match(path),
        }
    }
}

/// Draws only when the outcome is uncertain, so a 0 % or 100 % fraction costs no randomness.
fn fraction_admits(f: Fraction, rng: &mut impl RandomSource) -> bool {
    match f.per_million() {
        0 => false,
        Fraction::MILLION => true,
        _ => f.admits(rng.below(Fraction::MILLION)),
    }
}

impl HeaderTest {
    fn new(h: &HeaderMatcher) -> Self {
        let name = h.name.to_ascii_lowercase();
        let source = if name.ends_with("-bin") || name.starts_with(':') {
            HeaderSource::Never
        } else if name == "content-type" {
            HeaderSource::ContentType
        } else {
            HeaderName::from_bytes(name.as_bytes())
                .map(HeaderSource::Map)
                .unwrap_or(HeaderSource::Never)
        };
        let test = match &h.matcher {
            HeaderMatch::String(s) => text_test(s),
            HeaderMatch::Range { start, end } => ValueTest::Range {
                start: *start,
                end: *end,
            },
            HeaderMatch::Present(want) => ValueTest::Present(*want),
        };
        HeaderTest {
            source,
            test,
            invert: h.invert,
        }
    }

    fn matches(&self, headers: &HeaderMap) -> bool {
        let value = match &self.source {
            HeaderSource::Map(name) => header_value(headers, name),
            HeaderSource::ContentType => Some(Cow::Borrowed(GRPC_CONTENT_TYPE)),
            HeaderSource::Never => None,
        };
        let hit = match (&self.test, value.as_deref()) {
            (ValueTest::Present(want), v) => v.is_some() == *want,
            // A41: inverting a value test still needs the header to be there.
            (_, None) => return false,
            (ValueTest::Range { start, end }, Some(v)) => {
                v.parse::<i64>().is_ok_and(|n| *start <= n && n < *end)
            }
            (
                ValueTest::Text {
                    pattern,
                    ignore_case,
                },
                Some(v),
            ) => pattern.matches(v, *ignore_case),
        };
        hit != self.invert
    }
}

fn text_test(s: &StringMatcher) -> ValueTest {
    let pattern = match &s.pattern {
        StringPattern::Exact(p) => TextPattern::Exact(p.clone()),
        StringPattern::Prefix(p) => TextPattern::Prefix(p.clone()),
        StringPattern::Suffix(p) => TextPattern::Suffix(p.clone()),
        StringPattern::Contains(p) => TextPattern::Contains(p.clone()),
        StringPattern::Regex(r) => TextPattern::Regex(r.clone()),
    };
    ValueTest::Text {
        pattern,
        ignore_case: s.ignore_case,
    }
}

impl TextPattern {
    /// `ignore_case` folds ASCII letters; it does not apply to regexes (A63).
    fn matches(&self, v: &str, ignore_case: bool) -> bool {
        match (self, ignore_case) {
            (TextPattern::Exact(p), false) => v == p,
            (TextPattern::Exact(p), true) => v.eq_ignore_ascii_case(p),
            (TextPattern::Prefix(p), false) => v.starts_with(p.as_str()),
            (TextPattern::Prefix(p), true) => starts_with_ignore_case(v, p),
            (TextPattern::Suffix(p), false) => v.ends_with(p.as_str()),
            (TextPattern::Suffix(p), true) => {
                v.len() >= p.len()
                    && v.as_bytes()[v.len() - p.len()..].eq_ignore_ascii_case(p.as_bytes())
            }
            (TextPattern::Contains(p), false) => v.contains(p.as_str()),
            (TextPattern::Contains(p), true) => {
                p.is_empty()
                    || v.as_bytes()
                        .windows(p.len())
                        .any(|w| w.eq_ignore_ascii_case(p.as_bytes()))
            }
            (TextPattern::Regex(r), _) => r.is_full_match(v),
        }
    }
}

fn starts_with_ignore_case(v: &str, p: &str) -> bool {
    v.len() >= p.len() && v.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
}

/// The value of header `name`, several values joined with `,` (gRPC and Envoy both do this);
/// borrowed when there is a single UTF-8 value. `None` when the header is absent.
pub(crate) fn header_value(headers: &HeaderMap, name: impl AsHeaderName) -> Option<Cow<'_, str>> {
    let mut values = headers.get_all(name).iter();
    let first = String::from_utf8_lossy(values.next()?.as_bytes());
    let Some(second) = values.next() else {
        return Some(first);
    };
    let mut joined = first.into_owned();
    for v in std::iter::once(second).chain(values) {
        joined.push(',');
        joined.push_str(&String::from_utf8_lossy(v.as_bytes()));
    }
    Some(Cow::Owned(joined))
}

#[cfg(test)]
mod tests;
