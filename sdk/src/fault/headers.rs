//! Header-controlled faults (gRFC A33 "Header matching", Envoy's fault filter "Controlling fault
//! injection via HTTP headers").
//!
//! These readers are only consulted when the effective config says `header_delay` /
//! `header_abort`; the policy enforces that. Invalid values are ignored (as if the header were
//! absent), and with repeated keys the first value is used (A33 lets an implementation pick any).
//! It does not draw or inject anything.

use std::time::Duration;

use tonic::codegen::http::HeaderMap;

use super::MAX_DELAY;
use crate::xds::resource::common::Fraction;
use crate::xds::resource::listener::fault::http_status_to_code;

/// Delay length in milliseconds.
pub const DELAY: &str = "x-envoy-fault-delay-request";
/// Share of RPCs delayed (numerator only).
pub const DELAY_PERCENTAGE: &str = "x-envoy-fault-delay-request-percentage";
/// HTTP status to abort with (`200..600`, mapped to a gRPC code).
pub const ABORT_HTTP: &str = "x-envoy-fault-abort-request";
/// gRPC status code to abort with (`0..=16`).
pub const ABORT_GRPC: &str = "x-envoy-fault-abort-grpc-request";
/// Share of RPCs aborted (numerator only).
pub const ABORT_PERCENTAGE: &str = "x-envoy-fault-abort-request-percentage";

/// The delay `x-envoy-fault-delay-request` asks for, clamped to [`MAX_DELAY`]; `None` when
/// absent or not a whole number of milliseconds.
pub fn delay(headers: &HeaderMap) -> Option<Duration> {
    let ms: u64 = number(headers, DELAY)?;
    Some(Duration::from_millis(ms).min(MAX_DELAY))
}

/// The abort code the headers ask for: `x-envoy-fault-abort-grpc-request` when valid (it names
/// the code exactly), else `x-envoy-fault-abort-request` mapped from HTTP; `None` when neither
/// is present and valid.
pub fn abort(headers: &HeaderMap) -> Option<tonic::Code> {
    let grpc = number::<i32>(headers, ABORT_GRPC)
        .filter(|c| (0..=16).contains(c))
        .map(tonic::Code::from_i32);
    grpc.or_else(|| {
        number::<u16>(headers, ABORT_HTTP)
            .filter(|s| (200..600).contains(s))
            .map(http_status_to_code)
    })
}

/// The share a percentage header asks for, capped by the configured share (A33: the header can
/// only lower it). Absent or invalid → the configured share.
///
/// The header sets only the numerator and the denominator is the config's. The decoded config
/// keeps its share in parts per million, not its denominator, so the header is read over
/// HUNDRED, the `FractionalPercent` default; under a TEN_THOUSAND or MILLION config the cap
/// still holds, but a header value means percent.
pub fn percentage(headers: &HeaderMap, name: &str, configured: Fraction) -> Fraction {
    match number::<u32>(headers, name) {
        Some(n) => {
            let asked = Fraction::from_per_million(n.saturating_mul(10_000));
            asked.min(configured)
        }
        None => configured,
    }
}

fn number<T: std::str::FromStr>(headers: &HeaderMap, name: &str) -> Option<T> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn delay_header_is_milliseconds_and_ignores_garbage() {
        assert_eq!(
            delay(&with(&[(DELAY, "53")])),
            Some(Duration::from_millis(53))
        );
        assert_eq!(delay(&with(&[(DELAY, "-1")])), None);
        assert_eq!(delay(&with(&[(DELAY, "soon")])), None);
        assert_eq!(delay(&HeaderMap::new()), None);
        assert_eq!(delay(&with(&[(DELAY, "999999999999")])), Some(MAX_DELAY));
    }

    #[test]
    fn abort_prefers_grpc_code_then_maps_http() {
        assert_eq!(
            abort(&with(&[(ABORT_GRPC, "3")])),
            Some(tonic::Code::InvalidArgument)
        );
        assert_eq!(
            abort(&with(&[(ABORT_HTTP, "503")])),
            Some(tonic::Code::Unavailable)
        );
        assert_eq!(
            abort(&with(&[(ABORT_HTTP, "404"), (ABORT_GRPC, "8")])),
            Some(tonic::Code::ResourceExhausted)
        );
        assert_eq!(
            abort(&with(&[(ABORT_HTTP, "404"), (ABORT_GRPC, "17")])),
            Some(tonic::Code::Unimplemented),
            "an invalid gRPC header is ignored"
        );
        assert_eq!(abort(&with(&[(ABORT_HTTP, "600")])), None);
        assert_eq!(abort(&with(&[(ABORT_HTTP, "199")])), None);
    }

    #[test]
    fn percentage_header_only_lowers_the_configured_share() {
        let half = Fraction::from_per_million(500_000);
        let h = |v| with(&[(ABORT_PERCENTAGE, v)]);
        assert_eq!(
            percentage(&h("5"), ABORT_PERCENTAGE, half).per_million(),
            50_000
        );
        assert_eq!(percentage(&h("80"), ABORT_PERCENTAGE, half), half);
        assert_eq!(percentage(&h("x"), ABORT_PERCENTAGE, half), half);
        assert_eq!(percentage(&HeaderMap::new(), ABORT_PERCENTAGE, half), half);
    }
}
