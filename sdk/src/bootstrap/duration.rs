//! The JSON form of `google.protobuf.Duration` (`"600s"`, `"1.5s"`, `"0.000000001s"`), as used
//! by `refresh_interval` (gRFC A65; protobuf's proto3 JSON mapping).
//!
//! Accepts only non-negative durations: a negative interval means nothing here. Does not accept
//! other spellings (`"10m"`, bare numbers), which the protobuf JSON mapping does not allow either.

use std::time::Duration;

/// Largest number of seconds a `google.protobuf.Duration` may hold (10,000 years).
const MAX_SECONDS: u64 = 315_576_000_000;

/// Parses `"<seconds>[.<up to 9 fraction digits>]s"`; `None` if the text is not of that form.
pub(crate) fn parse_json_duration(text: &str) -> Option<Duration> {
    let number = text.strip_suffix('s')?;
    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (number, None),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds: u64 = whole.parse().ok()?;
    if seconds > MAX_SECONDS {
        return None;
    }
    let nanos = match fraction {
        None => 0,
        Some(f) if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) => {
            return None;
        }
        Some(f) => {
            let digits: u32 = f.parse().ok()?;
            digits * 10u32.pow(9 - f.len() as u32)
        }
    };
    Some(Duration::new(seconds, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_whole_and_fractional_seconds() {
        assert_eq!(parse_json_duration("600s"), Some(Duration::from_secs(600)));
        assert_eq!(parse_json_duration("0s"), Some(Duration::ZERO));
        assert_eq!(
            parse_json_duration("1.5s"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_json_duration("0.000000001s"),
            Some(Duration::from_nanos(1))
        );
        assert_eq!(
            parse_json_duration("2.010s"),
            Some(Duration::from_millis(2010))
        );
        assert_eq!(
            parse_json_duration("315576000000s"),
            Some(Duration::from_secs(MAX_SECONDS))
        );
    }

    #[test]
    fn rejects_other_spellings() {
        for bad in [
            "",
            "s",
            "600",
            "10m",
            "-1s",
            "+1s",
            "1.s",
            ".5s",
            "1.0000000001s",
            "1e3s",
            " 1s",
            "315576000001s",
            "1,5s",
        ] {
            assert_eq!(parse_json_duration(bad), None, "{bad:?} must be rejected");
        }
    }
}
