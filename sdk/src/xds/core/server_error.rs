//! Per-resource errors sent by the control plane in `DiscoveryResponse.resource_errors` (xRFC TP3,
//! gRFC A88 "Support for Errors Provided by the xDS server").
//!
//! An error for a subscribed name stops its does-not-exist timer and is recorded (CSDS status
//! `RECEIVED_ERROR`). `NOT_FOUND` and `PERMISSION_DENIED` are data errors: with no cached value the
//! watcher gets the error (`NOT_FOUND` as does-not-exist); with one it keeps serving (ambient
//! error) unless `fail_on_data_errors`, which drops it. Any other code is transient: an error
//! without a cached value, ambient with one. Errors for names not subscribed are ignored.

use std::collections::BTreeMap;

use meshwork_proto::envoy::service::discovery::v3::ResourceError;
use meshwork_proto::google::rpc::Code;
use tokio::time::Instant;

use super::state::ResourceState;
use crate::xds::authority::canonical_name;
use crate::xds::dump::{ResourceStatus, UpdateFailure};
use crate::xds::error::WatchError;
use crate::xds::event::WatchEvent;
use crate::xds::resource::ResourceKind;

/// A server-reported error for one name.
#[derive(Clone, Debug)]
pub(super) struct ServerError {
    code: i32,
    message: String,
}

/// The errors of a response by (canonical) resource name; the last one wins for a name.
pub(super) fn by_name(errors: &[ResourceError]) -> BTreeMap<String, ServerError> {
    errors
        .iter()
        .filter_map(|e| {
            let name = canonical_name(&e.resource_name.as_ref()?.name);
            let status = e.error_detail.clone().unwrap_or_default();
            Some((
                name,
                ServerError {
                    code: status.code,
                    message: status.message,
                },
            ))
        })
        .collect()
}

/// Whether a TP3 status code is a data error (A88); every other code is transient.
pub(super) fn is_data_error(code: i32) -> bool {
    code == Code::NotFound as i32 || code == Code::PermissionDenied as i32
}

/// Where and when a response's errors came from.
pub(super) struct Origin<'a> {
    /// Kind of the response.
    pub kind: ResourceKind,
    /// The control plane's `server_uri`.
    pub server: &'a str,
    /// The response's `version_info`.
    pub version: &'a str,
    /// The server's `fail_on_data_errors` feature.
    pub fail_on_data_errors: bool,
    /// When the response arrived.
    pub now: Instant,
}

/// Apply `error` to the state of `name`; returns what its watchers are told.
pub(super) fn apply(
    rs: &mut ResourceState,
    error: &ServerError,
    name: &str,
    origin: &Origin<'_>,
) -> WatchEvent {
    let Origin {
        kind,
        server,
        version,
        fail_on_data_errors,
        now,
    } = *origin;
    let code = Code::try_from(error.code)
        .map(|c| c.as_str_name())
        .unwrap_or("UNKNOWN_CODE");
    let err = WatchError::ServerError {
        kind,
        name: name.to_string(),
        server: server.to_string(),
        code: code.to_string(),
        message: error.message.clone(),
    };
    rs.timer = None;
    rs.status = ResourceStatus::ReceivedError;
    rs.failure = Some(UpdateFailure {
        details: err.to_string(),
        version_info: version.to_string(),
        last_update_attempt: now,
        failed_configuration: None,
    });
    if !is_data_error(error.code) {
        // Transient: nothing to record as the resource's own error beyond the dump entry.
        return if rs.cached.is_some() {
            WatchEvent::AmbientError(err)
        } else {
            WatchEvent::Error(err)
        };
    }
    rs.data_error = Some(err.clone());
    if fail_on_data_errors {
        rs.cached = None;
    }
    match (&rs.cached, error.code == Code::NotFound as i32) {
        (Some(_), _) => WatchEvent::AmbientError(err),
        (None, true) => WatchEvent::DoesNotExist(err),
        (None, false) => WatchEvent::Error(err),
    }
}
