//! String, regex and header matchers shared by routes (gRFC A28, A63) and the fault filter (A33).
//!
//! Decodes `envoy.type.matcher.v3.StringMatcher` / `RegexMatcher` and
//! `envoy.config.route.v3.HeaderMatcher` into comparable domain values with the regex compiled once.
//! It does not decide which headers a request exposes (`-bin` and pseudo-headers are the router's
//! business); it only answers "does this value match".

use std::fmt;

use meshwork_proto::envoy::config::route::v3::{
    HeaderMatcher as ProtoHeaderMatcher, header_matcher::HeaderMatchSpecifier,
};
use meshwork_proto::envoy::r#type::matcher::v3::{
    RegexMatcher, StringMatcher as ProtoStringMatcher, string_matcher::MatchPattern,
};

use super::{At, Invalid, Result};

/// Largest compiled program accepted for a control-plane regex (bytes), so a hostile pattern cannot
/// exhaust memory. RE2's `max_program_size` is ignored by gRPC; this is our own safety cap.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A regex that must match the whole input (RE2 `FullMatch` semantics), compiled once.
/// Equality compares the source pattern and case sensitivity.
#[derive(Clone)]
pub struct Regex {
    source: String,
    case_insensitive: bool,
    anchored: bool,
    compiled: regex::Regex,
}

impl Regex {
    /// Compiles `source` anchored at both ends. Errors name the pattern and the parse problem.
    pub fn new(source: &str, case_insensitive: bool) -> Result<Self> {
        Regex::build(source, case_insensitive, true)
    }

    /// Compiles `source` unanchored, for searching and substitutions inside a value.
    pub fn unanchored(source: &str) -> Result<Self> {
        Regex::build(source, false, false)
    }

    fn build(source: &str, case_insensitive: bool, anchored: bool) -> Result<Self> {
        let full = if anchored {
            format!("^(?:{source})$")
        } else {
            source.to_string()
        };
        let compiled = regex::RegexBuilder::new(&full)
            .case_insensitive(case_insensitive)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| {
                Invalid::new(format!(
                    "regex `{source}` does not compile ({e}); use RE2 syntax without backreferences or lookaround"
                ))
            })?;
        Ok(Regex {
            source: source.to_string(),
            case_insensitive,
            anchored,
            compiled,
        })
    }

    /// Decodes a `RegexMatcher` (the engine field is ignored: RE2 is the only engine).
    pub fn from_proto(m: &RegexMatcher, case_insensitive: bool) -> Result<Self> {
        Regex::new(&m.regex, case_insensitive).at("regex")
    }

    /// The pattern as the control plane sent it.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether `value` matches: the whole of it for anchored regexes, any part otherwise.
    pub fn is_full_match(&self, value: &str) -> bool {
        self.compiled.is_match(value)
    }

    /// Replaces every match in `value` by `substitution`, where `\\N` inserts capture group N (the
    /// RE2 / Envoy `regex_rewrite` syntax).
    pub fn replace_all(&self, value: &str, substitution: &str) -> String {
        let mut template = String::with_capacity(substitution.len() + 4);
        let mut chars = substitution.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek().is_some_and(char::is_ascii_digit) => {
                    template.push_str("${");
                    while let Some(d) = chars.next_if(char::is_ascii_digit) {
                        template.push(d);
                    }
                    template.push('}');
                }
                '$' => template.push_str("$$"),
                c => template.push(c),
            }
        }
        self.compiled
            .replace_all(value, template.as_str())
            .into_owned()
    }
}

impl PartialEq for Regex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
            && self.case_insensitive == other.case_insensitive
            && self.anchored == other.anchored
    }
}

impl fmt::Debug for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Regex")
            .field("source", &self.source)
            .field("case_insensitive", &self.case_insensitive)
            .finish()
    }
}

/// What a [`StringMatcher`] compares against.
#[derive(Clone, Debug, PartialEq)]
pub enum StringPattern {
    /// The whole value equals this.
    Exact(String),
    /// The value starts with this.
    Prefix(String),
    /// The value ends with this.
    Suffix(String),
    /// The value contains this.
    Contains(String),
    /// The whole value matches this regex (`ignore_case` does not apply, as in Envoy).
    Regex(Regex),
}

/// `envoy.type.matcher.v3.StringMatcher`.
#[derive(Clone, Debug, PartialEq)]
pub struct StringMatcher {
    /// The pattern.
    pub pattern: StringPattern,
    /// Compare ASCII case-insensitively (not for regexes).
    pub ignore_case: bool,
}

impl StringMatcher {
    /// Decodes and validates a `StringMatcher`; custom matchers are not supported.
    pub fn from_proto(m: &ProtoStringMatcher) -> Result<Self> {
        let pattern = match &m.match_pattern {
            Some(MatchPattern::Exact(s)) => StringPattern::Exact(s.clone()),
            Some(MatchPattern::Prefix(s)) => StringPattern::Prefix(s.clone()),
            Some(MatchPattern::Suffix(s)) => StringPattern::Suffix(s.clone()),
            Some(MatchPattern::Contains(s)) => StringPattern::Contains(s.clone()),
            Some(MatchPattern::SafeRegex(r)) => {
                StringPattern::Regex(Regex::from_proto(r, false).at("safe_regex")?)
            }
            Some(MatchPattern::Custom(_)) => {
                return Err(Invalid::field(
                    "custom",
                    "custom string matchers are not supported; use exact, prefix, suffix, contains or safe_regex",
                ));
            }
            None => {
                return Err(Invalid::new(
                    "no match pattern set; expected one of exact, prefix, suffix, contains, safe_regex",
                ));
            }
        };
        Ok(StringMatcher {
            pattern,
            ignore_case: m.ignore_case,
        })
    }

    /// Whether `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        let fold = |s: &str| {
            if self.ignore_case {
                s.to_ascii_lowercase()
            } else {
                s.to_string()
            }
        };
        match &self.pattern {
            StringPattern::Exact(p) => fold(value) == fold(p),
            StringPattern::Prefix(p) => fold(value).starts_with(&fold(p)),
            StringPattern::Suffix(p) => fold(value).ends_with(&fold(p)),
            StringPattern::Contains(p) => fold(value).contains(&fold(p)),
            StringPattern::Regex(r) => r.is_full_match(value),
        }
    }
}

/// How a header's value is tested.
#[derive(Clone, Debug, PartialEq)]
pub enum HeaderMatch {
    /// A string matcher over the value (`exact_match`, `prefix_match`, `suffix_match`,
    /// `contains_match`, `safe_regex_match` and `string_match` all land here).
    String(StringMatcher),
    /// The value parses as an integer in `[start, end)`.
    Range {
        /// Inclusive start.
        start: i64,
        /// Exclusive end.
        end: i64,
    },
    /// The header is present (`true`) or absent (`false`).
    Present(bool),
}

/// `envoy.config.route.v3.HeaderMatcher`.
#[derive(Clone, Debug, PartialEq)]
pub struct HeaderMatcher {
    /// Header name (lower case as sent on the wire by gRPC).
    pub name: String,
    /// The test.
    pub matcher: HeaderMatch,
    /// Negate the result.
    pub invert: bool,
}

impl HeaderMatcher {
    /// Decodes one header matcher (the older direct specifiers are deprecated in Envoy but still
    /// sent by control planes, so they are accepted); the deprecated `regex_match`-style specifiers are absent from v3,
    /// and an unset specifier is an error.
    #[allow(deprecated)]
    pub fn from_proto(h: &ProtoHeaderMatcher) -> Result<Self> {
        if h.name.is_empty() {
            return Err(Invalid::field("name", "header name is empty"));
        }
        let exact = |p: StringPattern| {
            HeaderMatch::String(StringMatcher {
                pattern: p,
                ignore_case: false,
            })
        };
        let matcher = match &h.header_match_specifier {
            Some(HeaderMatchSpecifier::ExactMatch(s)) => exact(StringPattern::Exact(s.clone())),
            Some(HeaderMatchSpecifier::PrefixMatch(s)) => exact(StringPattern::Prefix(s.clone())),
            Some(HeaderMatchSpecifier::SuffixMatch(s)) => exact(StringPattern::Suffix(s.clone())),
            Some(HeaderMatchSpecifier::ContainsMatch(s)) => {
                exact(StringPattern::Contains(s.clone()))
            }
            Some(HeaderMatchSpecifier::SafeRegexMatch(r)) => exact(StringPattern::Regex(
                Regex::from_proto(r, false).at("safe_regex_match")?,
            )),
            Some(HeaderMatchSpecifier::RangeMatch(r)) => {
                if r.start > r.end {
                    return Err(Invalid::field(
                        "range_match",
                        format!("start {} is after end {}", r.start, r.end),
                    ));
                }
                HeaderMatch::Range {
                    start: r.start,
                    end: r.end,
                }
            }
            Some(HeaderMatchSpecifier::PresentMatch(p)) => HeaderMatch::Present(*p),
            Some(HeaderMatchSpecifier::StringMatch(m)) => {
                HeaderMatch::String(StringMatcher::from_proto(m).at("string_match")?)
            }
            None => {
                return Err(Invalid::new(format!(
                    "header matcher for `{}` has no match specifier; expected exact, safe_regex, range, present, prefix, suffix, contains or string_match",
                    h.name
                )));
            }
        };
        Ok(HeaderMatcher {
            name: h.name.clone(),
            matcher,
            invert: h.invert_match,
        })
    }

    /// Whether a request whose header value is `value` (`None` = absent; several values already
    /// joined with `,`) matches.
    pub fn matches(&self, value: Option<&str>) -> bool {
        let hit = match (&self.matcher, value) {
            (HeaderMatch::Present(want), v) => v.is_some() == *want,
            (_, None) => return false,
            (HeaderMatch::String(m), Some(v)) => m.matches(v),
            (HeaderMatch::Range { start, end }, Some(v)) => {
                v.parse::<i64>().is_ok_and(|n| *start <= n && n < *end)
            }
        };
        hit != self.invert
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_matches_whole_value_and_compares_by_source() {
        let r = Regex::new("a+b", false).unwrap();
        assert!(r.is_full_match("aab"));
        assert!(!r.is_full_match("xaab"));
        assert_eq!(r, Regex::new("a+b", false).unwrap());
        assert_ne!(r, Regex::new("a+b", true).unwrap());
        let rw = Regex::unanchored("(\\w+)-(\\w+)").unwrap();
        assert_eq!(rw.replace_all("ab-cd x", "\\2_\\1$"), "cd_ab$ x");
        let err = Regex::new("(a", false).unwrap_err().to_string();
        assert!(err.contains("`(a` does not compile"), "{err}");
    }

    #[test]
    #[allow(deprecated)]
    fn header_matchers_cover_present_range_and_invert() {
        let m = |spec, invert| {
            HeaderMatcher::from_proto(&ProtoHeaderMatcher {
                name: "x".into(),
                invert_match: invert,
                header_match_specifier: Some(spec),
                ..Default::default()
            })
            .unwrap()
        };
        let range = m(
            HeaderMatchSpecifier::RangeMatch(meshwork_proto::envoy::r#type::v3::Int64Range {
                start: 1,
                end: 10,
            }),
            false,
        );
        assert!(range.matches(Some("9")) && !range.matches(Some("10")) && !range.matches(None));
        let absent = m(HeaderMatchSpecifier::PresentMatch(false), false);
        assert!(absent.matches(None) && !absent.matches(Some("")));
        let not_prefix = m(HeaderMatchSpecifier::PrefixMatch("ab".into()), true);
        assert!(not_prefix.matches(Some("xab")) && !not_prefix.matches(Some("abc")));
    }

    #[test]
    fn string_matcher_ignore_case_and_missing_pattern() {
        let m = StringMatcher::from_proto(&ProtoStringMatcher {
            ignore_case: true,
            match_pattern: Some(MatchPattern::Suffix(".COM".into())),
        })
        .unwrap();
        assert!(m.matches("example.com"));
        let e = StringMatcher::from_proto(&ProtoStringMatcher::default()).unwrap_err();
        assert!(e.to_string().contains("no match pattern"));
    }
}
