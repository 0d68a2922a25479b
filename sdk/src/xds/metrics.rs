//! The xDS client's metrics hook (gRFC A78, cache states from A88): what the client records
//! and how a resource's cache entry maps to a `grpc.xds.cache_state` value.
//!
//! A client built with [`XdsClientMetrics`] counts `grpc.xds_client.resource_updates_valid` /
//! `_invalid` per resource of each response, `grpc.xds_client.server_failure` when a server
//! goes from healthy to unhealthy (a stream that ended before any response, gRFC A57; a server
//! starts healthy and is healthy again after a response), and reports its cache to the
//! `grpc.xds_client.resources` gauge: the gauge reads the very entries `config_dump` (CSDS)
//! reads. A client built without it records nothing. Recording goes through
//! [`MeshMetrics`]; nothing here touches OpenTelemetry.
//!
//! A fired resource timer shows as `does_not_exist`, or as `timeout` with the
//! `resource_timer_is_transient_error` server feature (A88), like CSDS.

use std::sync::Arc;

use super::dump::ResourceStatus;
use super::resource::ResourceKind;
use crate::telemetry::MeshMetrics;
use crate::telemetry::names::XDS_OLD_AUTHORITY;

/// Where an xDS client records its metrics, and under which `grpc.target`.
#[derive(Clone, Debug)]
pub struct XdsClientMetrics {
    recorder: MeshMetrics,
    target: Arc<str>,
}

/// How many resources of one kind a response carried, by validity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpdateTally {
    /// Their kind.
    pub kind: ResourceKind,
    /// Requested resources that were valid (changed or not).
    pub valid: u64,
    /// Resources that were invalid (requested ones, and ones whose name could not be read).
    pub invalid: u64,
}

impl XdsClientMetrics {
    /// Records into `recorder` with `grpc.target` = `target` (a channel target, `#server`, or
    /// [`XDS_SHARED_TARGET`](crate::telemetry::names::XDS_SHARED_TARGET) for a shared client).
    pub fn new(recorder: MeshMetrics, target: &str) -> Self {
        XdsClientMetrics {
            recorder,
            target: Arc::from(target),
        }
    }

    /// The recorder.
    pub fn recorder(&self) -> &MeshMetrics {
        &self.recorder
    }

    /// The `grpc.target` value.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Counts the resources of one response from `server`.
    pub(crate) fn updates(&self, server: &str, tally: UpdateTally) {
        self.recorder.xds_resource_updates(
            &self.target,
            server,
            resource_type(tally.kind),
            tally.valid,
            tally.invalid,
        );
    }

    /// `server` went from healthy to unhealthy.
    pub(crate) fn server_failure(&self, server: &str) {
        self.recorder.xds_server_failure(&self.target, server);
    }
}

/// `grpc.xds.resource_type`: the type URL without `type.googleapis.com/`.
pub fn resource_type(kind: ResourceKind) -> &'static str {
    let url = kind.type_url();
    url.rsplit_once('/').map_or(url, |(_, name)| name)
}

/// `grpc.xds.authority`: the authority of an `xdstp://` name, else `#old`.
pub fn authority(name: &str) -> &str {
    name.strip_prefix("xdstp://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or(XDS_OLD_AUTHORITY)
}

/// `grpc.xds.cache_state` of a resource with `status`, `cached` when a value is held (A78, A88).
pub fn cache_state(status: ResourceStatus, cached: bool) -> &'static str {
    match (status, cached) {
        (ResourceStatus::Requested, _) => "requested",
        (ResourceStatus::Acked, _) => "acked",
        (ResourceStatus::Nacked, false) => "nacked",
        (ResourceStatus::Nacked, true) => "nacked_but_cached",
        (ResourceStatus::DoesNotExist, false) => "does_not_exist",
        (ResourceStatus::DoesNotExist, true) => "does_not_exist_but_cached",
        (ResourceStatus::ReceivedError, false) => "received_error",
        (ResourceStatus::ReceivedError, true) => "received_error_but_cached",
        // The timer runs only while nothing is cached.
        (ResourceStatus::Timeout, _) => "timeout",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_a78() {
        assert_eq!(
            resource_type(ResourceKind::Listener),
            "envoy.config.listener.v3.Listener"
        );
        assert_eq!(
            resource_type(ResourceKind::ClusterLoadAssignment),
            "envoy.config.endpoint.v3.ClusterLoadAssignment"
        );
        assert_eq!(authority("greeter:50051"), "#old");
        assert_eq!(
            authority("xdstp://mesh.example/envoy.config.listener.v3.Listener/greeter"),
            "mesh.example"
        );
        assert_eq!(
            cache_state(ResourceStatus::Nacked, true),
            "nacked_but_cached"
        );
        assert_eq!(cache_state(ResourceStatus::Nacked, false), "nacked");
        assert_eq!(
            cache_state(ResourceStatus::DoesNotExist, true),
            "does_not_exist_but_cached"
        );
        assert_eq!(cache_state(ResourceStatus::Timeout, false), "timeout");
    }
}
