//! Durations in mesh files, written as `250ms`, `1.5s`, `2m` or `1h` (also `us`).
//!
//! Only parsing and printing; what a duration means is up to the field that holds it.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, de};

/// A duration read from a mesh file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MeshDuration(pub Duration);

impl MeshDuration {
    /// Parses `<number><unit>` with unit `us`, `ms`, `s`, `m` or `h`.
    pub fn parse(text: &str) -> Result<MeshDuration, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let value: f64 = number
            .parse()
            .map_err(|_| format!("expected a duration like `250ms` or `1.5s`, found `{text}`"))?;
        let seconds_per_unit = match unit {
            "us" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => {
                return Err(format!(
                    "duration `{text}` has no unit; write e.g. `{text}s` or `{text}ms`"
                ));
            }
            other => {
                return Err(format!(
                    "unknown duration unit `{other}` in `{text}`; use us, ms, s, m or h"
                ));
            }
        };
        let seconds = value * seconds_per_unit;
        Duration::try_from_secs_f64(seconds)
            .map(MeshDuration)
            .map_err(|_| format!("duration `{text}` is out of range"))
    }

    /// The protobuf `Duration` for this value.
    pub fn to_proto(self) -> meshwork_proto::google::protobuf::Duration {
        meshwork_proto::google::protobuf::Duration {
            seconds: i64::try_from(self.0.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(self.0.subsec_nanos()).unwrap_or(0),
        }
    }

    /// The protobuf JSON form (`"0.030s"`), as used inside a `TypedStruct`.
    pub fn to_json_string(self) -> String {
        let nanos = self.0.subsec_nanos();
        if nanos == 0 {
            format!("{}s", self.0.as_secs())
        } else {
            let frac = format!("{nanos:09}");
            format!("{}.{}s", self.0.as_secs(), frac.trim_end_matches('0'))
        }
    }
}

impl fmt::Display for MeshDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl<'de> Deserialize<'de> for MeshDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        MeshDuration::parse(&text).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_fractions() {
        assert_eq!(
            MeshDuration::parse("250ms").unwrap().0,
            Duration::from_millis(250)
        );
        assert_eq!(
            MeshDuration::parse("1.5s").unwrap().0,
            Duration::from_millis(1500)
        );
        assert_eq!(
            MeshDuration::parse("2m").unwrap().0,
            Duration::from_secs(120)
        );
        assert!(MeshDuration::parse("10").unwrap_err().contains("no unit"));
        assert!(
            MeshDuration::parse("3d")
                .unwrap_err()
                .contains("unknown duration unit")
        );
    }

    #[test]
    fn json_form_matches_protobuf_json() {
        assert_eq!(
            MeshDuration(Duration::from_millis(30)).to_json_string(),
            "0.03s"
        );
        assert_eq!(
            MeshDuration(Duration::from_secs(10)).to_json_string(),
            "10s"
        );
    }
}
