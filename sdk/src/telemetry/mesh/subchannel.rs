//! gRFC A94 subchannel metrics, recorded by the endpoint connection task
//! (`crate::connection`): `grpc.subchannel.connection_attempts_succeeded` / `_failed`,
//! `grpc.subchannel.disconnections` and `grpc.subchannel.open_connections`.
//!
//! Labels: `grpc.target`, plus `grpc.lb.backend_service` / `grpc.lb.locality` when those
//! optional labels are on, `grpc.disconnect_error` on disconnections when
//! [`OptionalLabel::DisconnectError`](super::super::OptionalLabel::DisconnectError) is on, and
//! `grpc.security_level` on open connections when
//! [`OptionalLabel::SecurityLevel`](super::super::OptionalLabel::SecurityLevel) is on. The
//! attribute sets are built once per connection, so recording allocates nothing.
//!
//! A peer's GOAWAY with an error code ends the connection with an HTTP/2 error naming it:
//! `GOAWAY <CODE>` (e.g. `GOAWAY ENHANCE_YOUR_CALM`). A GOAWAY with `NO_ERROR` ends it cleanly,
//! which hyper does not tell apart from the peer closing the socket: both are `unknown`.

use std::error::Error;
use std::io;
use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Meter, UpDownCounter};

use super::super::experimental::EnabledMetrics;
use super::super::lb_labels::{LbLabels, OptionalLabels};
use super::super::names::*;

/// The A94 instruments that are on.
#[derive(Debug)]
pub(super) struct Instruments {
    disconnections: Option<Counter<u64>>,
    succeeded: Option<Counter<u64>>,
    failed: Option<Counter<u64>>,
    open: Option<UpDownCounter<i64>>,
}

/// Records the A94 metrics of one endpoint connection; a no-op when none is enabled.
#[derive(Debug, Clone, Default)]
pub struct SubchannelMetrics {
    inner: Option<Arc<Bound>>,
}

#[derive(Debug)]
struct Bound {
    instruments: Arc<Instruments>,
    attrs: Box<[KeyValue]>,
    /// `attrs` plus `grpc.security_level` when that label is on (for open connections).
    open_attrs: Box<[KeyValue]>,
    disconnect_error: bool,
}

/// How a connection is protected (gRFC A94 `grpc.security_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityLevel {
    /// `none`: plaintext.
    None,
    /// `integrity_only`: authenticated but not encrypted (Meshwork makes no such connection).
    IntegrityOnly,
    /// `privacy_and_integrity`: TLS.
    PrivacyAndIntegrity,
}

impl SecurityLevel {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityLevel::None => "none",
            SecurityLevel::IntegrityOnly => "integrity_only",
            SecurityLevel::PrivacyAndIntegrity => "privacy_and_integrity",
        }
    }
}

/// Why a connection ended (gRFC A94 `grpc.disconnect_error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectError {
    /// `subchannel shutdown`: no channel holds the connection any more.
    SubchannelShutdown,
    /// `connection reset` (ECONNRESET).
    ConnectionReset,
    /// `connection timed out` (ETIMEDOUT).
    ConnectionTimedOut,
    /// `connection aborted` (ECONNABORTED).
    ConnectionAborted,
    /// `socket error`: any other I/O error.
    SocketError,
    /// `GOAWAY <CODE>`: the peer sent a GOAWAY with this HTTP/2 error code (not `NO_ERROR`, see
    /// the module docs).
    GoAway(u32),
    /// `unknown`: the peer closed the connection, or the request path reported it broken.
    Unknown,
}

/// `GOAWAY <CODE>` for the HTTP/2 error codes of RFC 9113 §7, by code.
const GOAWAY: [&str; 14] = [
    "GOAWAY NO_ERROR",
    "GOAWAY PROTOCOL_ERROR",
    "GOAWAY INTERNAL_ERROR",
    "GOAWAY FLOW_CONTROL_ERROR",
    "GOAWAY SETTINGS_TIMEOUT",
    "GOAWAY STREAM_CLOSED",
    "GOAWAY FRAME_SIZE_ERROR",
    "GOAWAY REFUSED_STREAM",
    "GOAWAY CANCEL",
    "GOAWAY COMPRESSION_ERROR",
    "GOAWAY CONNECT_ERROR",
    "GOAWAY ENHANCE_YOUR_CALM",
    "GOAWAY INADEQUATE_SECURITY",
    "GOAWAY HTTP_1_1_REQUIRED",
];

impl DisconnectError {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectError::SubchannelShutdown => "subchannel shutdown",
            DisconnectError::ConnectionReset => "connection reset",
            DisconnectError::ConnectionTimedOut => "connection timed out",
            DisconnectError::ConnectionAborted => "connection aborted",
            DisconnectError::SocketError => "socket error",
            // A code outside the registry has no name to put after `GOAWAY`.
            DisconnectError::GoAway(code) => usize::try_from(code)
                .ok()
                .and_then(|c| GOAWAY.get(c))
                .copied()
                .unwrap_or("unknown"),
            DisconnectError::Unknown => "unknown",
        }
    }

    /// Classifies the error a connection ended with: a GOAWAY from the peer by its code, else by
    /// the first I/O error in its chain.
    pub fn from_error(error: &(dyn Error + 'static)) -> Self {
        let mut next = Some(error);
        while let Some(e) = next {
            if let Some(h2) = e.downcast_ref::<h2::Error>()
                && h2.is_go_away()
                && h2.is_remote()
                && let Some(reason) = h2.reason()
            {
                return DisconnectError::GoAway(reason.into());
            }
            if let Some(io) = e.downcast_ref::<io::Error>() {
                return match io.kind() {
                    io::ErrorKind::ConnectionReset => DisconnectError::ConnectionReset,
                    io::ErrorKind::TimedOut => DisconnectError::ConnectionTimedOut,
                    io::ErrorKind::ConnectionAborted => DisconnectError::ConnectionAborted,
                    _ => DisconnectError::SocketError,
                };
            }
            next = e.source();
        }
        DisconnectError::Unknown
    }
}

pub(super) fn build(meter: &Meter, on: EnabledMetrics) -> Option<Arc<Instruments>> {
    if !on.any(&[
        SUBCHANNEL_DISCONNECTIONS,
        SUBCHANNEL_ATTEMPTS_SUCCEEDED,
        SUBCHANNEL_ATTEMPTS_FAILED,
        SUBCHANNEL_OPEN_CONNECTIONS,
    ]) {
        return None;
    }
    let counter = |name: &'static str, unit: &'static str, description: &'static str| {
        on.is_on(name).then(|| {
            meter
                .u64_counter(name)
                .with_unit(unit)
                .with_description(description)
                .build()
        })
    };
    Some(Arc::new(Instruments {
        disconnections: counter(
            SUBCHANNEL_DISCONNECTIONS,
            "{disconnection}",
            "Number of times a connected subchannel became disconnected.",
        ),
        succeeded: counter(
            SUBCHANNEL_ATTEMPTS_SUCCEEDED,
            "{attempt}",
            "Number of successful connection attempts.",
        ),
        failed: counter(
            SUBCHANNEL_ATTEMPTS_FAILED,
            "{attempt}",
            "Number of failed connection attempts.",
        ),
        open: on.is_on(SUBCHANNEL_OPEN_CONNECTIONS).then(|| {
            meter
                .i64_up_down_counter(SUBCHANNEL_OPEN_CONNECTIONS)
                .with_unit("{connection}")
                .with_description("Number of open connections.")
                .build()
        }),
    }))
}

impl SubchannelMetrics {
    pub(super) fn new(
        instruments: Arc<Instruments>,
        target: &str,
        lb: &LbLabels,
        optional: OptionalLabels,
        security: SecurityLevel,
    ) -> Self {
        let mut attrs = vec![KeyValue::new(ATTR_TARGET, target.to_owned())];
        attrs.extend(optional.attributes(lb));
        let mut open_attrs = attrs.clone();
        if optional.security_level {
            open_attrs.push(KeyValue::new(ATTR_SECURITY_LEVEL, security.as_str()));
        }
        SubchannelMetrics {
            inner: Some(Arc::new(Bound {
                instruments,
                attrs: attrs.into_boxed_slice(),
                open_attrs: open_attrs.into_boxed_slice(),
                disconnect_error: optional.disconnect_error,
            })),
        }
    }

    /// Whether any A94 instrument is on.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// A connection attempt (TCP connect + HTTP/2 handshake) succeeded: the connection is open.
    pub fn connected(&self) {
        let Some(b) = &self.inner else { return };
        if let Some(c) = &b.instruments.succeeded {
            c.add(1, &b.attrs);
        }
        if let Some(c) = &b.instruments.open {
            c.add(1, &b.open_attrs);
        }
    }

    /// A connection attempt failed or timed out.
    pub fn connect_failed(&self) {
        let Some(b) = &self.inner else { return };
        if let Some(c) = &b.instruments.failed {
            c.add(1, &b.attrs);
        }
    }

    /// An open connection ended for `reason`.
    pub fn disconnected(&self, reason: DisconnectError) {
        let Some(b) = &self.inner else { return };
        if let Some(c) = &b.instruments.open {
            c.add(-1, &b.open_attrs);
        }
        if let Some(c) = &b.instruments.disconnections {
            if b.disconnect_error {
                let mut attrs = b.attrs.to_vec();
                attrs.push(KeyValue::new(ATTR_DISCONNECT_ERROR, reason.as_str()));
                c.add(1, &attrs);
            } else {
                c.add(1, &b.attrs);
            }
        }
    }
}
