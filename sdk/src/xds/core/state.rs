//! Per-type and per-resource state of the protocol core: the subscription set, last accepted
//! version and stream nonce of each type URL, and each resource's cache entry, status, last error
//! and does-not-exist deadline (Envoy xDS protocol "ACK/NACK and resource type instance version";
//! gRFC A46, A57, A88).
//!
//! Plain data with a few helpers; the transitions live in `core` and `core::response`.

use std::collections::BTreeMap;

use meshwork_proto::google::protobuf::Any;
use tokio::time::Instant;

use crate::xds::dump::{ResourceStatus, UpdateFailure};
use crate::xds::error::WatchError;
use crate::xds::event::WatchEvent;
use crate::xds::resource::Resource;

/// The state of one type URL.
#[derive(Debug, Default)]
pub(crate) struct TypeState {
    /// Subscribed names (the SotW name set) and their state.
    pub resources: BTreeMap<String, ResourceState>,
    /// Version of the last accepted response (empty if none). Survives reconnects.
    pub version: String,
    /// Nonce of the last response on the current stream (empty on a new stream).
    pub nonce: String,
    /// A request for this type went out on the current stream, so an empty name set must be sent
    /// to unsubscribe (an empty list after explicit names means "none").
    pub sent_on_stream: bool,
}

/// The state of one subscribed resource.
#[derive(Debug)]
pub(crate) struct ResourceState {
    /// The last accepted value, if any.
    pub cached: Option<Cached>,
    /// Client status as CSDS reports it.
    pub status: ResourceStatus,
    /// The last rejected update (cleared by an accepted one).
    pub failure: Option<UpdateFailure>,
    /// The data error a new watcher should see when there is no cached value.
    pub data_error: Option<WatchError>,
    /// When the does-not-exist timer fires, if it runs.
    pub timer: Option<Instant>,
}

/// An accepted resource.
#[derive(Debug, Clone)]
pub(crate) struct Cached {
    pub resource: Resource,
    pub raw: Any,
    pub version: String,
    pub updated: Instant,
}

impl ResourceState {
    pub(crate) fn requested() -> Self {
        ResourceState {
            cached: None,
            status: ResourceStatus::Requested,
            failure: None,
            data_error: None,
            timer: None,
        }
    }

    /// Nothing has been heard about this name yet (its timer may run).
    pub(crate) fn unresolved(&self) -> bool {
        self.status == ResourceStatus::Requested && self.cached.is_none()
    }

    /// What a watcher that starts watching now should get first, if anything.
    pub(crate) fn current_event(&self, transient: Option<&WatchError>) -> Option<WatchEvent> {
        if let Some(c) = &self.cached {
            return Some(WatchEvent::Changed(c.resource.clone()));
        }
        match (&self.status, &self.data_error) {
            (ResourceStatus::DoesNotExist, Some(e)) => Some(WatchEvent::DoesNotExist(e.clone())),
            (_, Some(e @ WatchError::ServerError { code, .. })) if code == "NOT_FOUND" => {
                Some(WatchEvent::DoesNotExist(e.clone()))
            }
            (_, Some(e)) => Some(WatchEvent::Error(e.clone())),
            (_, None) => transient.map(|e| WatchEvent::Error(e.clone())),
        }
    }
}
