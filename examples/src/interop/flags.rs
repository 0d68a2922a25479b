//! The interop client's RPC configuration and the flag syntax gRPC's clients share
//! (grpc-go `interop/xds/client`): `--rpc UnaryCall,EmptyCall`,
//! `--metadata EmptyCall:key:value,UnaryCall:key:value` and timeouts written `20` or `20s`.
//!
//! Pure parsing; `XdsUpdateClientConfigureService` replaces the same [`RpcConfig`] at run time.

use std::time::Duration;

use meshwork_proto::grpc_testing::client_configure_request::RpcType as ProtoRpcType;

/// The two RPCs an xDS interop client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RpcType {
    /// `grpc.testing.TestService/EmptyCall`.
    EmptyCall,
    /// `grpc.testing.TestService/UnaryCall`.
    UnaryCall,
}

/// A malformed flag value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad {flag} `{value}`: {problem}")]
pub struct FlagError {
    /// The flag.
    pub flag: &'static str,
    /// Its value.
    pub value: String,
    /// What was wrong and what was expected.
    pub problem: String,
}

/// What the client sends: which RPCs each tick, with which metadata, with which timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcConfig {
    /// RPCs sent on every tick, in order.
    pub types: Vec<RpcType>,
    /// Metadata `(rpc, key, value)` added to calls of `rpc`.
    pub metadata: Vec<(RpcType, String, String)>,
    /// Deadline of each call.
    pub timeout: Duration,
}

impl RpcType {
    /// The method name (`rpcs_by_method` keys and the `--rpc` / `--metadata` spelling).
    pub fn method(self) -> &'static str {
        match self {
            RpcType::EmptyCall => "EmptyCall",
            RpcType::UnaryCall => "UnaryCall",
        }
    }

    /// The accumulated-stats key (`EMPTY_CALL`, `UNARY_CALL`).
    pub fn accumulated_key(self) -> &'static str {
        match self {
            RpcType::EmptyCall => "EMPTY_CALL",
            RpcType::UnaryCall => "UNARY_CALL",
        }
    }

    /// From the `ClientConfigureRequest.RpcType` number; `None` for unknown numbers.
    pub fn from_proto(value: i32) -> Option<RpcType> {
        match ProtoRpcType::try_from(value).ok()? {
            ProtoRpcType::EmptyCall => Some(RpcType::EmptyCall),
            ProtoRpcType::UnaryCall => Some(RpcType::UnaryCall),
        }
    }

    fn parse(flag: &'static str, whole: &str, name: &str) -> Result<RpcType, FlagError> {
        match name.trim() {
            "EmptyCall" => Ok(RpcType::EmptyCall),
            "UnaryCall" => Ok(RpcType::UnaryCall),
            other => Err(FlagError {
                flag,
                value: whole.to_owned(),
                problem: format!("unknown RPC `{other}`; expected EmptyCall or UnaryCall"),
            }),
        }
    }
}

/// Parses `--rpc`: a comma-separated list of `EmptyCall` / `UnaryCall`.
pub fn parse_rpcs(value: &str) -> Result<Vec<RpcType>, FlagError> {
    value
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|name| RpcType::parse("--rpc", value, name))
        .collect()
}

/// Parses `--metadata`: comma-separated `Rpc:key:value` triples (the value may contain `:`).
pub fn parse_metadata(value: &str) -> Result<Vec<(RpcType, String, String)>, FlagError> {
    value
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|entry| {
            let mut parts = entry.splitn(3, ':');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(rpc), Some(key), Some(v)) if !key.trim().is_empty() => Ok((
                    RpcType::parse("--metadata", value, rpc)?,
                    key.trim().to_ascii_lowercase(),
                    v.trim().to_owned(),
                )),
                _ => Err(FlagError {
                    flag: "--metadata",
                    value: value.to_owned(),
                    problem: format!("entry `{entry}` is not `Rpc:key:value`"),
                }),
            }
        })
        .collect()
}

/// Parses a timeout written as seconds (`20`) or a Go duration in seconds or milliseconds
/// (`20s`, `500ms`).
pub fn parse_timeout(value: &str) -> Result<Duration, FlagError> {
    let v = value.trim();
    let err = || FlagError {
        flag: "--rpc_timeout",
        value: value.to_owned(),
        problem: "expected seconds (`20`, `20s`) or milliseconds (`500ms`)".to_owned(),
    };
    if let Some(ms) = v.strip_suffix("ms") {
        return ms.parse().map(Duration::from_millis).map_err(|_| err());
    }
    let secs = v.strip_suffix('s').unwrap_or(v);
    secs.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_list_and_metadata() {
        assert_eq!(
            parse_rpcs("UnaryCall,EmptyCall").unwrap(),
            vec![RpcType::UnaryCall, RpcType::EmptyCall]
        );
        assert!(parse_rpcs("UnaryCall,Bogus").is_err());
        assert_eq!(
            parse_metadata("EmptyCall:xds_md:empty_ytpme,UnaryCall:k:a:b").unwrap(),
            vec![
                (RpcType::EmptyCall, "xds_md".into(), "empty_ytpme".into()),
                (RpcType::UnaryCall, "k".into(), "a:b".into()),
            ]
        );
        assert!(parse_metadata("UnaryCall:novalue").is_err());
        assert_eq!(parse_metadata("").unwrap(), vec![]);
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("20").unwrap(), Duration::from_secs(20));
        assert_eq!(parse_timeout("20s").unwrap(), Duration::from_secs(20));
        assert_eq!(parse_timeout("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_timeout("soon").is_err());
    }
}
