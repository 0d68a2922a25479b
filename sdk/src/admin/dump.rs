//! The xDS config dump in the two shapes the admin endpoint serves: Meshwork's `ConfigDump`
//! (GetConfigDump) and CSDS's `ClientConfig` with one `GenericXdsConfig` per resource (gRFC A40;
//! `reference/xds-client.md` §6). Both read the same [`xds::ConfigDump`](crate::xds::ConfigDump)
//! so they never disagree. Monotonic times become wall-clock timestamps here.

use std::time::SystemTime;

use meshwork_proto::admin::v1 as pb;
use meshwork_proto::envoy::admin::v3::UpdateFailureState;
use meshwork_proto::envoy::service::status::v3::ClientConfig;
use meshwork_proto::envoy::service::status::v3::client_config::GenericXdsConfig;

use crate::fault::WallClock;
use crate::xds::{ConfigDump, ResourceStatus};

/// GetConfigDump's answer: every resource, or those of `type_urls` when not empty.
pub(crate) fn to_admin(dump: &ConfigDump, type_urls: &[String]) -> pb::ConfigDump {
    let clock = WallClock::new(dump.taken_at, SystemTime::now());
    let entries = dump
        .resources
        .iter()
        .filter(|r| type_urls.is_empty() || type_urls.iter().any(|t| t == r.type_url))
        .map(|r| pb::ConfigDumpEntry {
            type_url: r.type_url.to_string(),
            name: r.name.clone(),
            version_info: r.version_info.clone(),
            resource: r
                .xds_config
                .as_ref()
                .map(|a| a.value.clone())
                .unwrap_or_default(),
            last_updated: r.last_updated.map(|at| clock.timestamp(at)),
            status: admin_status(r.status) as i32,
            error: r.error_state.as_ref().map(|e| pb::UpdateFailure {
                details: e.details.clone(),
                version_info: e.version_info.clone(),
                last_update_attempt: Some(clock.timestamp(e.last_update_attempt)),
            }),
        })
        .collect();
    pb::ConfigDump { entries }
}

/// CSDS's view of the client: its node and every resource as a `GenericXdsConfig`.
pub(crate) fn to_csds(dump: &ConfigDump, with_contents: bool) -> ClientConfig {
    let clock = WallClock::new(dump.taken_at, SystemTime::now());
    let generic_xds_configs = dump
        .resources
        .iter()
        .map(|r| GenericXdsConfig {
            type_url: r.type_url.to_string(),
            name: r.name.clone(),
            version_info: r.version_info.clone(),
            xds_config: r.xds_config.clone().filter(|_| with_contents),
            last_updated: r.last_updated.map(|at| clock.timestamp(at)),
            client_status: r.status.csds_value(),
            error_state: r.error_state.as_ref().map(|e| UpdateFailureState {
                failed_configuration: e.failed_configuration.clone().filter(|_| with_contents),
                last_update_attempt: Some(clock.timestamp(e.last_update_attempt)),
                details: e.details.clone(),
                version_info: e.version_info.clone(),
            }),
            ..GenericXdsConfig::default()
        })
        .collect();
    ClientConfig {
        node: Some(dump.node.clone()),
        generic_xds_configs,
        ..ClientConfig::default()
    }
}

fn admin_status(status: ResourceStatus) -> pb::ResourceStatus {
    match status {
        ResourceStatus::Requested => pb::ResourceStatus::Requested,
        ResourceStatus::Acked => pb::ResourceStatus::Acked,
        ResourceStatus::Nacked => pb::ResourceStatus::Nacked,
        ResourceStatus::DoesNotExist => pb::ResourceStatus::DoesNotExist,
        ResourceStatus::ReceivedError => pb::ResourceStatus::ReceivedError,
        ResourceStatus::Timeout => pb::ResourceStatus::Timeout,
    }
}
