//! What each telemetry layer keeps per method: the `grpc.method` value and the gRFC A66
//! instruments bound to (method, target, status), built on the first RPC of each combination
//! (see `bound`). Recording through an entry is a handful of atomic updates: no attribute
//! hashing, no allocation. An attempt with optional labels (`grpc.lb.locality`,
//! `grpc.lb.backend_service`) has more attributes and is recorded unbound. This module chooses no attribute values and measures nothing itself.

use std::sync::OnceLock;

use opentelemetry::metrics::{BoundCounter, BoundHistogram};
use opentelemetry::{KeyValue, Value};
use tonic::Code;

use super::bound::ByStatus;
use super::handle::Inner;
use super::instruments::{ClientInstruments, ServerInstruments};
use super::names::{ATTR_METHOD, ATTR_STATUS, ATTR_TARGET};
use super::status::code_name;

/// The client's per-method entry, shared by the call and attempt layers of one channel target
/// (`grpc.client.call.duration` and the four `grpc.client.attempt.*` instruments).
pub(crate) struct ClientEntry {
    pub(crate) method: Value,
    target: Value,
    client: ClientInstruments,
    /// Bound on the first attempt (a call-only stack exports no attempt series).
    started: OnceLock<BoundCounter<u64>>,
    call: ByStatus<BoundHistogram<f64>>,
    ended: ByStatus<Ended>,
}

/// The server layer's per-method entry (the four `grpc.server.call.*` instruments).
pub(crate) struct ServerEntry {
    pub(crate) method: Value,
    server: ServerInstruments,
    started: BoundCounter<u64>,
    ended: ByStatus<Ended>,
}

/// Duration and both sizes, bound to one status.
struct Ended {
    duration: BoundHistogram<f64>,
    sent: BoundHistogram<u64>,
    rcvd: BoundHistogram<u64>,
}

impl ClientEntry {
    pub(crate) fn new(t: &Inner, method: Value, target: Value) -> Self {
        Self {
            method,
            target,
            client: t.client.clone(),
            started: OnceLock::new(),
            call: ByStatus::new(),
            ended: ByStatus::new(),
        }
    }

    /// Records one call that ended with `code` after `secs`.
    pub(crate) fn record_call(&self, code: Code, secs: f64) {
        let bind = || {
            let attrs = client_attrs(&self.method, &self.target, code);
            self.client.call_duration.bind(&attrs)
        };
        self.call.get(code, bind).record(secs);
    }

    /// Counts one attempt started.
    pub(crate) fn start_attempt(&self) {
        let bind = || {
            self.client.attempt_started.bind(&[
                KeyValue::new(ATTR_METHOD, self.method.clone()),
                KeyValue::new(ATTR_TARGET, self.target.clone()),
            ])
        };
        self.started.get_or_init(bind).add(1);
    }

    /// Records one attempt: its status, duration, message bytes sent and received, and the
    /// enabled optional labels of the endpoint that served it (empty when none).
    pub(crate) fn record_attempt(
        &self,
        code: Code,
        secs: f64,
        sent: u64,
        rcvd: u64,
        optional: &[KeyValue],
    ) {
        let c = &self.client;
        if !optional.is_empty() {
            let mut attrs = Vec::with_capacity(3 + optional.len());
            attrs.extend(client_attrs(&self.method, &self.target, code));
            attrs.extend_from_slice(optional);
            c.attempt_duration.record(secs, &attrs);
            c.attempt_sent.record(sent, &attrs);
            c.attempt_rcvd.record(rcvd, &attrs);
            return;
        }
        let bind = || {
            let attrs = client_attrs(&self.method, &self.target, code);
            Ended {
                duration: c.attempt_duration.bind(&attrs),
                sent: c.attempt_sent.bind(&attrs),
                rcvd: c.attempt_rcvd.bind(&attrs),
            }
        };
        self.ended.get(code, bind).record(secs, sent, rcvd);
    }
}

impl ServerEntry {
    pub(crate) fn new(t: &Inner, method: Value) -> Self {
        let started = t
            .server
            .started
            .bind(&[KeyValue::new(ATTR_METHOD, method.clone())]);
        Self {
            method,
            server: t.server.clone(),
            started,
            ended: ByStatus::new(),
        }
    }

    /// Counts one call started.
    pub(crate) fn start(&self) {
        self.started.add(1);
    }

    /// Records one served call: status, duration, message bytes sent and received.
    pub(crate) fn record(&self, code: Code, secs: f64, sent: u64, rcvd: u64) {
        let bind = || {
            let attrs = [
                KeyValue::new(ATTR_METHOD, self.method.clone()),
                KeyValue::new(ATTR_STATUS, code_name(code)),
            ];
            let s = &self.server;
            Ended {
                duration: s.duration.bind(&attrs),
                sent: s.sent.bind(&attrs),
                rcvd: s.rcvd.bind(&attrs),
            }
        };
        self.ended.get(code, bind).record(secs, sent, rcvd);
    }
}

impl Ended {
    fn record(&self, secs: f64, sent: u64, rcvd: u64) {
        self.duration.record(secs);
        self.sent.record(sent);
        self.rcvd.record(rcvd);
    }
}

fn client_attrs(method: &Value, target: &Value, code: Code) -> [KeyValue; 3] {
    [
        KeyValue::new(ATTR_METHOD, method.clone()),
        KeyValue::new(ATTR_TARGET, target.clone()),
        KeyValue::new(ATTR_STATUS, code_name(code)),
    ]
}
