//! What a watcher of one xDS resource is told (gRFC A88 watcher semantics).
//!
//! A88 splits a watcher's callbacks into "the resource changed" (a new value, or an error that
//! replaces the value) and "ambient error" (something went wrong but the cached value keeps
//! serving). This module only defines the events; the protocol core decides which one applies.

use super::error::WatchError;
use super::resource::{Resource, ResourceKind};

/// One event for a watcher of a resource.
#[derive(Clone, Debug, PartialEq)]
pub enum WatchEvent {
    /// A new validated value. Re-sends of an unchanged, healthy resource are not reported.
    Changed(Resource),
    /// The resource does not exist (timer fired, or deleted with `fail_on_data_errors`); there is
    /// no value to use.
    DoesNotExist(WatchError),
    /// Something failed and there is no cached value: RPCs that need the resource should fail.
    Error(WatchError),
    /// Something failed but the last good value keeps serving; worth logging, not failing RPCs.
    AmbientError(WatchError),
}

/// A [`WatchEvent`] addressed to the watchers of one resource.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    /// Kind of the resource.
    pub kind: ResourceKind,
    /// Name of the resource.
    pub name: String,
    /// What happened.
    pub event: WatchEvent,
}
