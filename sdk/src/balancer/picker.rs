//! The request-path half of load balancing: the [`Picker`] trait and what a pick answers.
//!
//! A picker is an immutable snapshot a policy builds whenever endpoints, their health or their
//! connectivity change (gRPC's picker model, gRFC A27/A42). It is `Send + Sync`, never blocks and
//! costs O(1) or O(log n) per pick; it reads live load counters and an atomic RNG but mutates
//! nothing else. It performs no I/O: when a connection should be started it says so in the
//! result ([`PickResult::Queue`]) and the channel acts on it.

use std::fmt;
use std::sync::Arc;

use super::endpoint::EndpointHandle;

/// Per-request input to a pick.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PickRequest {
    /// The request hash for ring hash (from the route's hash policies, gRFC A42/A76); `None`
    /// means "no hash policy produced one" and ring hash uses a random hash.
    pub hash: Option<u64>,
}

impl PickRequest {
    /// A request carrying a ring-hash value.
    pub fn with_hash(hash: u64) -> Self {
        PickRequest { hash: Some(hash) }
    }
}

/// Why no endpoint could be picked; the message names the cluster and what to check.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PickError {
    message: Arc<str>,
}

impl PickError {
    /// An error with this message.
    pub fn new(message: impl Into<Arc<str>>) -> Self {
        PickError {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The answer of a pick.
#[derive(Clone, Debug, PartialEq)]
pub enum PickResult {
    /// Send the request to this endpoint.
    Pick(EndpointHandle),
    /// No endpoint is ready yet but some may become so: wait for the next picker. When `connect`
    /// is set the channel should start connecting that (idle) endpoint.
    Queue {
        /// An idle endpoint the policy wants a connection to.
        connect: Option<EndpointHandle>,
    },
    /// Fail the request now (UNAVAILABLE): nothing can serve it.
    Fail(PickError),
    /// Drop the request for load shedding (EDS `drop_overloads`, gRFC A27); never retried.
    Drop {
        /// The drop category, reported in load reports.
        category: Arc<str>,
    },
}

impl PickResult {
    /// The picked endpoint, if any.
    pub fn endpoint(&self) -> Option<&EndpointHandle> {
        match self {
            PickResult::Pick(h) => Some(h),
            _ => None,
        }
    }

    /// A queue result without a connection request.
    pub fn queue() -> Self {
        PickResult::Queue { connect: None }
    }
}

/// An immutable endpoint chooser; see the module docs.
pub trait Picker: Send + Sync + fmt::Debug {
    /// Chooses where one request goes. Never blocks.
    fn pick(&self, request: &PickRequest) -> PickResult;
}

/// A picker that always gives the same non-pick answer (queue or fail).
#[derive(Debug, Clone)]
pub(crate) struct FixedPicker(pub PickResult);

impl Picker for FixedPicker {
    fn pick(&self, _: &PickRequest) -> PickResult {
        self.0.clone()
    }
}
