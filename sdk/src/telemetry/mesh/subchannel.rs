//! gRFC A94 subchannel metrics, recorded by the endpoint connection task
//! (`crate::connection`): `grpc.subchannel.connection_attempts_succeeded` / `_failed`,
//! `grpc.subchannel.disconnections` and `grpc.subchannel.open_connections`.
//!
//! Labels: `grpc.target`, plus `grpc.lb.backend_service` / `grpc.lb.locality` when those
//! optional labels are on, and `grpc.disconnect_error` on disconnections when
//! [`OptionalLabel::DisconnectError`](super::super::OptionalLabel::DisconnectError) is on. The
//! attribute set is built once per connection, so recording allocates nothing.
//!
//! Not done: A94's `GOAWAY <CODE>` reason (hyper does not say which GOAWAY code ended a
//! connection; such closes are `unknown`) and the optional `grpc.security_level` (Meshwork
//! has no TLS to endpoints yet).

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
    disconnect_error: bool,
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
    /// `unknown`: the peer closed the connection, or the request path reported it broken.
    Unknown,
}

impl DisconnectError {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectError::SubchannelShutdown => "subchannel shutdown",
            DisconnectError::ConnectionReset => "connection reset",
            DisconnectError::ConnectionTimedOut => "connection timed out",
            DisconnectError::ConnectionAborted => "connection aborted",
            DisconnectError::SocketError => "socket error",
            DisconnectError::Unknown => "unknown",
        }
    }

    /// Classifies the error a connection ended with by the first I/O error in its chain.
    pub fn from_error(error: &(dyn Error + 'static)) -> Self {
        let mut next = Some(error);
        while let Some(e) = next {
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
    ) -> Self {
        let mut attrs = vec![KeyValue::new(ATTR_TARGET, target.to_owned())];
        attrs.extend(optional.attributes(lb));
        SubchannelMetrics {
            inner: Some(Arc::new(Bound {
                instruments,
                attrs: attrs.into_boxed_slice(),
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
            c.add(1, &b.attrs);
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
            c.add(-1, &b.attrs);
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
