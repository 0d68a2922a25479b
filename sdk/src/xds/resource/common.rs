//! Helpers shared by every resource decoder: the internal validation error with its field path,
//! and conversions of protobuf well-known values (durations, fractions, config sources).
//!
//! Does not know any resource kind. Conversions follow the protobuf JSON/duration rules and the
//! `FractionalPercent` semantics of Envoy's `envoy.type.v3` (used by gRFCs A28, A33 and A27 drops).

use std::fmt;
use std::time::Duration;

use meshwork_proto::envoy::config::core::v3::{ConfigSource, config_source::ConfigSourceSpecifier};
use meshwork_proto::envoy::r#type::v3::{FractionalPercent, fractional_percent::DenominatorType};
use meshwork_proto::google::protobuf::{Any, Duration as ProtoDuration};

pub mod matcher;
pub mod typed_struct;

pub use matcher::{HeaderMatch, HeaderMatcher, Regex, StringMatcher, StringPattern};

/// Why a field was rejected, and where it sits in the resource (`virtual_hosts[0].routes[2].match`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    path: Vec<String>,
    problem: String,
}

/// Result of an internal validation step.
pub type Result<T> = std::result::Result<T, Invalid>;

impl Invalid {
    /// A problem with the value itself (the caller adds the field with [`Invalid::at`]).
    pub fn new(problem: impl Into<String>) -> Self {
        Invalid {
            path: Vec::new(),
            problem: problem.into(),
        }
    }

    /// A problem with the field `field` of the current message.
    pub fn field(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Invalid::new(problem).at(field)
    }

    /// Prefix the field path with the enclosing field.
    #[must_use]
    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.path.push(field.into());
        self
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            return f.write_str(&self.problem);
        }
        let mut first = true;
        for part in self.path.iter().rev() {
            if !first && !part.starts_with('[') {
                f.write_str(".")?;
            }
            f.write_str(part)?;
            first = false;
        }
        write!(f, ": {}", self.problem)
    }
}

/// Adds a field path to errors coming out of a nested step.
pub trait At<T> {
    /// Prefix the error's path with `field`.
    fn at(self, field: impl Into<String>) -> Result<T>;
    /// Prefix the error's path with `field[index]`.
    fn at_index(self, field: &str, index: usize) -> Result<T>;
}

impl<T> At<T> for Result<T> {
    fn at(self, field: impl Into<String>) -> Result<T> {
        self.map_err(|e| e.at(field))
    }
    fn at_index(self, field: &str, index: usize) -> Result<T> {
        self.map_err(|e| e.at(format!("[{index}]")).at(field))
    }
}

/// A probability in parts per million (`0..=1_000_000`), as `FractionalPercent` scaled to a million.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Fraction {
    per_million: u32,
}

impl Fraction {
    /// One million: certainty.
    pub const MILLION: u32 = 1_000_000;
    /// Never.
    pub const ZERO: Fraction = Fraction { per_million: 0 };
    /// Always.
    pub const ALWAYS: Fraction = Fraction {
        per_million: Self::MILLION,
    };

    /// A fraction from parts per million; values above a million mean "always".
    pub fn from_per_million(per_million: u32) -> Self {
        Fraction {
            per_million: per_million.min(Self::MILLION),
        }
    }

    /// Parts per million, `0..=1_000_000`.
    pub fn per_million(self) -> u32 {
        self.per_million
    }

    /// Whether a uniform draw in `0..1_000_000` falls under this fraction.
    pub fn admits(self, draw: u32) -> bool {
        draw < self.per_million
    }
}

/// Converts a `FractionalPercent`; a numerator above its denominator means 100 % (as Envoy does).
pub fn fraction(p: &FractionalPercent) -> Result<Fraction> {
    let scale = match DenominatorType::try_from(p.denominator) {
        Ok(DenominatorType::Hundred) => 10_000,
        Ok(DenominatorType::TenThousand) => 100,
        Ok(DenominatorType::Million) => 1,
        Err(_) => {
            return Err(Invalid::field(
                "denominator",
                format!(
                    "unknown denominator {}; expected HUNDRED, TEN_THOUSAND or MILLION",
                    p.denominator
                ),
            ));
        }
    };
    Ok(Fraction::from_per_million(
        p.numerator.saturating_mul(scale),
    ))
}

/// Converts a protobuf `Duration` that must be non-negative and well formed.
pub fn duration(d: &ProtoDuration) -> Result<Duration> {
    if d.seconds < 0 || d.nanos < 0 {
        return Err(Invalid::new(format!(
            "negative duration {}s {}ns; expected a duration >= 0",
            d.seconds, d.nanos
        )));
    }
    if d.nanos >= 1_000_000_000 {
        return Err(Invalid::new(format!(
            "malformed duration: nanos {} must be below 1e9",
            d.nanos
        )));
    }
    // Both are non-negative here, so the casts are lossless.
    Ok(Duration::new(
        d.seconds.unsigned_abs(),
        d.nanos.unsigned_abs(),
    ))
}

/// Converts an optional duration field named `field`.
pub fn opt_duration(d: Option<&ProtoDuration>, field: &str) -> Result<Option<Duration>> {
    d.map(duration).transpose().at(field)
}

/// Checks that a `ConfigSource` points back at this ADS stream (`ads` or `self`), the only sources a
/// gRPC client follows (gRFC A27).
pub fn require_ads_or_self(cs: Option<&ConfigSource>) -> Result<()> {
    match cs.and_then(|c| c.config_source_specifier.as_ref()) {
        Some(ConfigSourceSpecifier::Ads(_)) | Some(ConfigSourceSpecifier::Self_(_)) => Ok(()),
        None => Err(Invalid::new(
            "config source is missing; expected `ads {}` or `self {}`",
        )),
        Some(other) => Err(Invalid::new(format!(
            "config source is `{}`; only `ads` and `self` are supported (the client follows one ADS stream)",
            specifier_name(other)
        ))),
    }
}

fn specifier_name(s: &ConfigSourceSpecifier) -> &'static str {
    #[allow(deprecated)]
    match s {
        ConfigSourceSpecifier::Path(_) => "path",
        ConfigSourceSpecifier::PathConfigSource(_) => "path_config_source",
        ConfigSourceSpecifier::ApiConfigSource(_) => "api_config_source",
        ConfigSourceSpecifier::Ads(_) => "ads",
        ConfigSourceSpecifier::Self_(_) => "self",
    }
}

/// Decodes the message packed in `any`, which must have the type URL of `M`.
pub fn unpack<M: prost::Message + prost::Name + Default>(any: &Any) -> Result<M> {
    let want = M::type_url();
    if any.type_url != want {
        return Err(Invalid::new(format!(
            "type URL `{}`, expected `{want}`",
            any.type_url
        )));
    }
    M::decode(any.value.as_slice())
        .map_err(|e| Invalid::new(format!("cannot decode `{}`: {e}", M::full_name())))
}

/// The part of a type URL after its last `/` (the full protobuf message name).
pub fn type_name(type_url: &str) -> &str {
    type_url.rsplit('/').next().unwrap_or(type_url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fraction_scales_every_denominator_and_caps_at_one() {
        let f = |n, d: DenominatorType| {
            fraction(&FractionalPercent {
                numerator: n,
                denominator: d as i32,
            })
        };
        assert_eq!(
            f(25, DenominatorType::Hundred).map(Fraction::per_million),
            Ok(250_000)
        );
        assert_eq!(
            f(25, DenominatorType::TenThousand).map(Fraction::per_million),
            Ok(2_500)
        );
        assert_eq!(
            f(25, DenominatorType::Million).map(Fraction::per_million),
            Ok(25)
        );
        assert_eq!(f(500, DenominatorType::Hundred), Ok(Fraction::ALWAYS));
        let bad = fraction(&FractionalPercent {
            numerator: 1,
            denominator: 9,
        });
        assert!(bad.is_err_and(|e| e.to_string().contains("denominator")));
    }

    #[test]
    fn durations_must_be_non_negative_and_well_formed() {
        let d = |s, n| {
            duration(&ProtoDuration {
                seconds: s,
                nanos: n,
            })
        };
        assert_eq!(d(1, 500_000_000), Ok(Duration::from_millis(1500)));
        assert!(d(-1, 0).is_err());
        assert!(d(0, -5).is_err());
        assert!(d(0, 1_000_000_000).is_err());
    }

    #[test]
    fn error_paths_read_like_field_accessors() {
        let e: Result<()> = Err(Invalid::field("prefix", "bad"));
        let e = e
            .at("match")
            .at_index("routes", 2)
            .at_index("virtual_hosts", 0);
        assert_eq!(
            e.map_err(|e| e.to_string()),
            Err("virtual_hosts[0].routes[2].match.prefix: bad".to_string())
        );
    }
}
