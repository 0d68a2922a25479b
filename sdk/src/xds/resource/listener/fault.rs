//! The fault-injection filter config (`envoy.extensions.filters.http.fault.v3.HTTPFault`, gRFC A33).
//!
//! Decodes what gRPC honours: fixed or header-controlled delay with its percentage, abort by HTTP
//! status, gRPC status or header with its percentage, `max_active_faults` and the `headers` selector.
//! Runtime keys, `upstream_cluster`, `downstream_nodes` and `response_rate_limit` are ignored, as in
//! gRPC. It does not inject anything: the `fault` module does, from this value.

use std::time::Duration;

use meshwork_proto::envoy::extensions::filters::common::fault::v3::{
    FaultDelay as ProtoDelay, fault_delay::FaultDelaySecifier,
};
use meshwork_proto::envoy::extensions::filters::http::fault::v3::{
    FaultAbort as ProtoAbort, HttpFault, fault_abort::ErrorType,
};
use meshwork_proto::google::protobuf::Any;

use crate::xds::resource::common::{
    At, Fraction, HeaderMatcher, Invalid, Result, duration, fraction, unpack,
};

/// A decoded `HTTPFault` config, from the listener's filter list or a per-route override.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct FaultConfig {
    /// Delay to inject before the RPC starts, if any.
    pub delay: Option<FaultDelay>,
    /// Abort to inject instead of sending the RPC, if any.
    pub abort: Option<FaultAbort>,
    /// Process-wide cap on RPCs under a fault at once; `None` = unlimited, `Some(0)` disables faults.
    pub max_active_faults: Option<u32>,
    /// The fault applies only to requests whose headers all match.
    pub headers: Vec<HeaderMatcher>,
}

/// Where the delay length comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum DelaySource {
    /// A fixed delay.
    Fixed(Duration),
    /// The `x-envoy-fault-delay-request` header (milliseconds).
    Header,
}

/// A delay fault.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultDelay {
    /// How long to delay.
    pub source: DelaySource,
    /// Share of RPCs delayed (unset = 0 %).
    pub percentage: Fraction,
}

/// What an abort fails the RPC with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbortSource {
    /// An HTTP status (`200..600`), mapped to a gRPC code by [`http_status_to_code`].
    HttpStatus(u16),
    /// A gRPC status code.
    GrpcStatus(tonic::Code),
    /// The `x-envoy-fault-abort-request` / `x-envoy-fault-abort-grpc-request` headers.
    Header,
}

/// An abort fault.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultAbort {
    /// The status to fail with.
    pub source: AbortSource,
    /// Share of RPCs aborted (unset = 0 %).
    pub percentage: Fraction,
}

impl FaultConfig {
    /// Decodes an `Any` that must hold an `HTTPFault`.
    pub fn from_any(any: &Any) -> Result<Self> {
        FaultConfig::from_proto(&unpack::<HttpFault>(any)?)
    }

    /// Decodes and validates an `HTTPFault`.
    pub fn from_proto(f: &HttpFault) -> Result<Self> {
        let delay = f.delay.as_ref().map(delay).transpose().at("delay")?;
        let abort = f.abort.as_ref().map(abort).transpose().at("abort")?;
        let headers = f
            .headers
            .iter()
            .enumerate()
            .map(|(i, h)| HeaderMatcher::from_proto(h).at_index("headers", i))
            .collect::<Result<_>>()?;
        Ok(FaultConfig {
            delay,
            abort,
            max_active_faults: f.max_active_faults.map(|v| v.value),
            headers,
        })
    }
}

fn percentage(
    p: Option<&meshwork_proto::envoy::r#type::v3::FractionalPercent>,
) -> Result<Fraction> {
    p.map(fraction)
        .transpose()
        .at("percentage")
        .map(Option::unwrap_or_default)
}

fn delay(d: &ProtoDelay) -> Result<FaultDelay> {
    let source = match &d.fault_delay_secifier {
        Some(FaultDelaySecifier::FixedDelay(fd)) => {
            DelaySource::Fixed(duration(fd).at("fixed_delay")?)
        }
        Some(FaultDelaySecifier::HeaderDelay(_)) => DelaySource::Header,
        None => {
            return Err(Invalid::new(
                "delay has neither fixed_delay nor header_delay; set one",
            ));
        }
    };
    Ok(FaultDelay {
        source,
        percentage: percentage(d.percentage.as_ref())?,
    })
}

fn abort(a: &ProtoAbort) -> Result<FaultAbort> {
    let source = match &a.error_type {
        Some(ErrorType::HttpStatus(s)) => match u16::try_from(*s) {
            Ok(s) if (200..600).contains(&s) => AbortSource::HttpStatus(s),
            _ => {
                return Err(Invalid::field(
                    "http_status",
                    format!("{s} is not an HTTP status; expected 200..=599"),
                ));
            }
        },
        Some(ErrorType::GrpcStatus(c)) => match i32::try_from(*c) {
            Ok(c) if (0..=16).contains(&c) => AbortSource::GrpcStatus(tonic::Code::from_i32(c)),
            _ => {
                return Err(Invalid::field(
                    "grpc_status",
                    format!("{c} is not a gRPC status code; expected 0..=16"),
                ));
            }
        },
        Some(ErrorType::HeaderAbort(_)) => AbortSource::Header,
        None => {
            return Err(Invalid::new(
                "abort has none of http_status, grpc_status, header_abort; set one",
            ));
        }
    };
    Ok(FaultAbort {
        source,
        percentage: percentage(a.percentage.as_ref())?,
    })
}

/// The gRPC code a client reports for an HTTP status (grpc/grpc `doc/http-grpc-status-mapping.md`).
pub fn http_status_to_code(status: u16) -> tonic::Code {
    match status {
        400 => tonic::Code::Internal,
        401 => tonic::Code::Unauthenticated,
        403 => tonic::Code::PermissionDenied,
        404 => tonic::Code::Unimplemented,
        429 | 502 | 503 | 504 => tonic::Code::Unavailable,
        _ => tonic::Code::Unknown,
    }
}
