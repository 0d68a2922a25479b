//! A config dump of the ADS client cache: every subscribed resource with its status, version, last
//! accepted wire form and last error, in the shape CSDS (gRFC A40, `GenericXdsConfig`) needs.
//!
//! Plain data read from the protocol core; turning it into `envoy.service.status.v3` messages and
//! wall-clock timestamps is the admin module's job.

use meshwork_proto::envoy::config::core::v3::Node;
use meshwork_proto::google::protobuf::Any;
use tokio::time::Instant;

use super::resource::ResourceKind;

/// Client-side status of one resource (`envoy.admin.v3.ClientResourceStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResourceStatus {
    /// Subscribed, nothing received yet.
    Requested,
    /// Last update for it was accepted.
    Acked,
    /// Last update for it was rejected; an older accepted value may still be cached.
    Nacked,
    /// Never sent before the timer fired, or deleted by the control plane.
    DoesNotExist,
    /// The control plane reported an error for it (xRFC TP3, gRFC A88); an older accepted value
    /// may still be cached.
    ReceivedError,
    /// Nothing arrived before the resource timer fired, with `resource_timer_is_transient_error`
    /// (gRFC A88): the control plane is slow, the resource is not known to be missing.
    Timeout,
}

impl ResourceStatus {
    /// The `ClientResourceStatus` enum number CSDS uses.
    pub fn csds_value(self) -> i32 {
        match self {
            ResourceStatus::Requested => 1,
            ResourceStatus::DoesNotExist => 2,
            ResourceStatus::Acked => 3,
            ResourceStatus::Nacked => 4,
            ResourceStatus::ReceivedError => 5,
            ResourceStatus::Timeout => 6,
        }
    }
}

/// The last rejected update of a resource (`envoy.admin.v3.UpdateFailureState`).
#[derive(Clone, Debug, PartialEq)]
pub struct UpdateFailure {
    /// Why it was rejected.
    pub details: String,
    /// Version of the rejected response.
    pub version_info: String,
    /// When it was rejected.
    pub last_update_attempt: Instant,
    /// The rejected resource as received, if it could be attributed to this name.
    pub failed_configuration: Option<Any>,
}

/// One resource in the dump (`ClientConfig.GenericXdsConfig`).
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceDump {
    /// Kind of the resource.
    pub kind: ResourceKind,
    /// Its type URL.
    pub type_url: &'static str,
    /// Its name.
    pub name: String,
    /// Version of the response that last carried the accepted value (empty if none).
    pub version_info: String,
    /// Client status.
    pub status: ResourceStatus,
    /// The last accepted value as received (what the client is serving).
    pub xds_config: Option<Any>,
    /// When the accepted value was last updated.
    pub last_updated: Option<Instant>,
    /// The last rejected update, if the latest update for this name was rejected.
    pub error_state: Option<UpdateFailure>,
}

/// Everything the client currently holds (`ClientConfig`).
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigDump {
    /// The node sent to the control plane.
    pub node: Node,
    /// The control plane's `server_uri`.
    pub server_uri: String,
    /// When the dump was taken (to turn the `Instant`s into wall-clock times).
    pub taken_at: Instant,
    /// Every subscribed resource, ordered by kind then name.
    pub resources: Vec<ResourceDump>,
}
