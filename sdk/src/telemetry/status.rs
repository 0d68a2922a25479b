//! Where a gRPC status comes from on the wire, and its A66 attribute value (the code name).
//!
//! A status arrives in the `grpc-status` trailer, or in the response headers of a trailers-only
//! response. A response without `grpc-status` and a non-200 HTTP status is mapped per gRPC's
//! "HTTP to gRPC status code mapping" (doc/http-grpc-status-mapping.md). This module does not
//! decode `grpc-message` beyond reading it as text for span descriptions.

use http::header::HeaderName;
use http::{HeaderMap, HeaderValue, StatusCode};
use tonic::Code;

/// The `grpc-status` header / trailer (parsed once, not per lookup).
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
/// The `grpc-message` header / trailer.
const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");

/// The A66 `grpc.status` value: the code name in upper snake case.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Header maps up to this many values are searched by a scan instead of a hashed lookup.
const SCAN_MAX: usize = 8;

/// The value of `name` in `headers`. Trailers and most response heads hold a handful of
/// entries, and comparing a few names costs less than hashing one: small maps are scanned.
fn find<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    if headers.len() > SCAN_MAX {
        return headers.get(name);
    }
    headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
}

/// The status carried by `grpc-status` in `headers`, if any. An unparsable value is `UNKNOWN`
/// (what a gRPC client reports for a malformed status).
pub fn from_headers(headers: &HeaderMap) -> Option<Code> {
    find(headers, &GRPC_STATUS).map(|v| Code::from_bytes(v.as_bytes()))
}

/// The status known from a response head: `grpc-status` in the headers (trailers-only
/// response), else the mapping of a non-200 HTTP status, else `None` (wait for the trailers).
/// Not inlined: one copy serves every body wrapper (each RPC runs it once per layer).
#[inline(never)]
pub fn from_response_head(status: StatusCode, headers: &HeaderMap) -> Option<Code> {
    from_headers(headers).or_else(|| (status != StatusCode::OK).then(|| from_http_status(status)))
}

/// The status of a body that ended: from its trailers, or `INTERNAL` when the stream ended with
/// no status at all (a protocol error: a gRPC server always sends one). Not inlined, like
/// [`from_response_head`].
#[inline(never)]
pub fn from_trailers(trailers: Option<&HeaderMap>) -> Code {
    trailers.and_then(from_headers).unwrap_or(Code::Internal)
}

/// The `grpc-message` text in `headers`, if present and valid text.
pub fn message(headers: &HeaderMap) -> Option<String> {
    find(headers, &GRPC_MESSAGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// gRPC's mapping of HTTP status codes for responses that carry no `grpc-status`.
pub fn from_http_status(status: StatusCode) -> Code {
    match status.as_u16() {
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502 | 503 | 504 => Code::Unavailable,
        _ => Code::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn trailers_status_is_read_and_named() {
        let t = headers(&[("grpc-status", "14"), ("grpc-message", "no%20backend")]);
        let code = from_trailers(Some(&t));
        assert_eq!(code_name(code), "UNAVAILABLE");
        assert_eq!(message(&t).as_deref(), Some("no%20backend"));
        assert_eq!(
            code_name(from_trailers(Some(&headers(&[("grpc-status", "0")])))),
            "OK"
        );
    }

    #[test]
    fn missing_or_garbled_status() {
        assert_eq!(from_trailers(None), Code::Internal);
        assert_eq!(from_trailers(Some(&HeaderMap::new())), Code::Internal);
        assert_eq!(
            from_trailers(Some(&headers(&[("grpc-status", "x")]))),
            Code::Unknown
        );
    }

    #[test]
    fn status_is_found_in_small_and_large_maps_alike() {
        let mut small = headers(&[("content-type", "application/grpc"), ("x-a", "1")]);
        small.append("grpc-status", HeaderValue::from_static("5"));
        small.append("grpc-message", HeaderValue::from_static("gone"));
        assert_eq!(from_headers(&small), Some(Code::NotFound));
        assert_eq!(message(&small).as_deref(), Some("gone"));
        let mut large = small.clone();
        for i in 0..SCAN_MAX {
            large.append(
                HeaderName::try_from(format!("x-extra-{i}")).expect("valid name"),
                HeaderValue::from_static("v"),
            );
        }
        assert!(large.len() > SCAN_MAX);
        assert_eq!(from_headers(&large), Some(Code::NotFound));
        assert_eq!(message(&large).as_deref(), Some("gone"));
        assert_eq!(from_headers(&headers(&[("x-a", "1")])), None);
    }

    #[test]
    fn trailers_only_response_head_carries_the_status() {
        let h = headers(&[("grpc-status", "5")]);
        assert_eq!(from_response_head(StatusCode::OK, &h), Some(Code::NotFound));
        assert_eq!(from_response_head(StatusCode::OK, &HeaderMap::new()), None);
    }

    #[test]
    fn http_errors_without_grpc_status_are_mapped() {
        let none = HeaderMap::new();
        let head =
            |s: u16| from_response_head(StatusCode::from_u16(s).unwrap_or(StatusCode::OK), &none);
        assert_eq!(head(404), Some(Code::Unimplemented));
        assert_eq!(head(503), Some(Code::Unavailable));
        assert_eq!(head(401), Some(Code::Unauthenticated));
        assert_eq!(head(500), Some(Code::Unknown));
    }

    #[test]
    fn every_code_has_an_upper_snake_name() {
        for i in 0..=16 {
            let name = code_name(Code::from_i32(i));
            assert!(
                name.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{name}"
            );
        }
        assert_eq!(code_name(Code::DeadlineExceeded), "DEADLINE_EXCEEDED");
    }
}
