//! `meshwork.admin.v1.Admin`: the service behind the admin endpoint. Reads (GetInfo,
//! GetSnapshot, Watch, GetConfigDump, ListFaults) are open; mutations (SetFault, ClearFault,
//! SetServing) pass [`Auth`](super::auth::Auth) first and change nothing when refused.
//! SetServing flips the Mesh's [`Health`](crate::server::Health), which the application's server
//! and the admin endpoint both serve; GetInfo lists the statuses set through it.
//!
//! Invalid requests are refused `INVALID_ARGUMENT` with the field named (`spec.percentage: ...`);
//! a full registry is `RESOURCE_EXHAUSTED`, an unknown rule id `NOT_FOUND`. Every accepted
//! change is logged by the registry (target `meshwork::fault`) and reaches Watch subscribers as a
//! `FaultRuleChanged` event.

use std::sync::Arc;

use meshwork_proto::admin::v1 as pb;
use pb::admin_server::Admin;
use tokio::time::Instant;
use tonic::{Request, Response, Status};

use super::auth::Auth;
use super::snapshot::duration;
use super::{dump, snapshot, watch};
use crate::Mesh;
use crate::fault::{FaultRuleError, FaultRuleSpec, RuleId, wire};
use crate::xds::ConnectionState;

/// The Admin service of one mesh.
#[derive(Debug)]
pub(crate) struct AdminService {
    mesh: Mesh,
    auth: Arc<Auth>,
}

impl AdminService {
    pub(crate) fn new(mesh: Mesh, auth: Arc<Auth>) -> Self {
        AdminService { mesh, auth }
    }

    fn info(&self) -> pb::Info {
        let (started, clock) = self.mesh.started();
        let mut xds_servers = Vec::new();
        if let (Some(bootstrap), Some(client)) = (self.mesh.bootstrap(), self.mesh.xds_client()) {
            let status = client.connection_status();
            for server in &bootstrap.xds_servers {
                let in_use = server.server_uri == status.server_uri;
                let state = match (in_use, status.state) {
                    (false, _) => pb::ConnectionState::Idle,
                    (true, ConnectionState::Connecting) => pb::ConnectionState::Connecting,
                    (true, ConnectionState::Connected) => pb::ConnectionState::Connected,
                    (true, ConnectionState::BackingOff) => pb::ConnectionState::Backoff,
                };
                xds_servers.push(pb::XdsServer {
                    server_uri: server.server_uri.clone(),
                    state: state as i32,
                    state_since: None,
                    last_error: if in_use {
                        status.last_error.clone().unwrap_or_default()
                    } else {
                        String::new()
                    },
                    in_use,
                });
            }
        }
        pb::Info {
            service_name: self.mesh.service_name().to_string(),
            node_id: self
                .mesh
                .bootstrap()
                .map(|b| b.node.id.clone())
                .unwrap_or_default(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            uptime: Some(duration(Instant::now().saturating_duration_since(started))),
            started_at: Some(clock.timestamp(started)),
            xds_servers,
            services: self
                .mesh
                .health()
                .statuses()
                .into_iter()
                .map(|(service, serving)| pb::ServiceStatus { service, serving })
                .collect(),
        }
    }
}

/// The status for a refused rule, naming the request field at fault.
fn rule_status(error: &FaultRuleError) -> Status {
    let field = match error {
        FaultRuleError::PercentageOutOfRange(_) => "spec.percentage",
        FaultRuleError::NoFault => "spec.delay_ms / spec.abort_code",
        FaultRuleError::AbortOk | FaultRuleError::BadAbortCode(_) => "spec.abort_code",
        FaultRuleError::DelayTooLong { .. } => "spec.delay_ms",
        FaultRuleError::ZeroTtl | FaultRuleError::TtlTooLong { .. } => "spec.ttl_ms",
        FaultRuleError::EmptyScope(_)
        | FaultRuleError::MissingScope
        | FaultRuleError::BadMethod(_) => "spec.scope",
        FaultRuleError::TooManyRules { .. } => {
            return Status::resource_exhausted(error.to_string());
        }
        FaultRuleError::NotFound(_) => return Status::not_found(error.to_string()),
    };
    Status::invalid_argument(format!("{field}: {error}"))
}

#[tonic::async_trait]
impl Admin for AdminService {
    type WatchStream = watch::WatchStream;

    async fn get_info(
        &self,
        _request: Request<pb::GetInfoRequest>,
    ) -> Result<Response<pb::Info>, Status> {
        Ok(Response::new(self.info()))
    }

    async fn get_snapshot(
        &self,
        request: Request<pb::GetSnapshotRequest>,
    ) -> Result<Response<pb::Snapshot>, Status> {
        Ok(Response::new(snapshot::build(
            &self.mesh,
            request.get_ref(),
        )))
    }

    async fn watch(
        &self,
        request: Request<pb::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Ok(Response::new(watch::start(
            self.mesh.clone(),
            request.into_inner(),
        )))
    }

    async fn get_config_dump(
        &self,
        request: Request<pb::GetConfigDumpRequest>,
    ) -> Result<Response<pb::ConfigDump>, Status> {
        let dump = match self.mesh.xds_client() {
            Some(client) => dump::to_admin(&client.config_dump(), &request.get_ref().type_urls),
            None => pb::ConfigDump::default(),
        };
        Ok(Response::new(dump))
    }

    async fn list_faults(
        &self,
        _request: Request<pb::ListFaultsRequest>,
    ) -> Result<Response<pb::ListFaultsResponse>, Status> {
        let (_, clock) = self.mesh.started();
        let registry = self.mesh.faults();
        let limits = self.mesh.fault_limits();
        Ok(Response::new(pb::ListFaultsResponse {
            rules: registry
                .list()
                .iter()
                .map(|r| wire::rule_to_proto(r, &clock))
                .collect(),
            max_rules: u32::try_from(limits.max_rules).unwrap_or(u32::MAX),
            active_faults: registry.active_faults().current(),
            max_active_faults: limits.max_active_faults,
            max_ttl_ms: u64::try_from(limits.max_ttl.as_millis()).unwrap_or(u64::MAX),
        }))
    }

    async fn set_fault(
        &self,
        request: Request<pb::SetFaultRequest>,
    ) -> Result<Response<pb::SetFaultResponse>, Status> {
        self.auth.authorize(&request, "SetFault")?;
        let Some(spec) = request.get_ref().spec.as_ref() else {
            return Err(Status::invalid_argument(
                "spec: missing; send the rule to install (scope, delay_ms and/or abort_code, \
                 percentage, ttl_ms)",
            ));
        };
        let spec = FaultRuleSpec::try_from(spec).map_err(|e| rule_status(&e))?;
        let registry = self.mesh.faults();
        let id = registry.set(spec).map_err(|e| rule_status(&e))?;
        let (_, clock) = self.mesh.started();
        let rule = registry
            .list()
            .into_iter()
            .find(|r| r.id == id)
            .map(|r| wire::rule_to_proto(&r, &clock));
        Ok(Response::new(pb::SetFaultResponse { rule }))
    }

    async fn set_serving(
        &self,
        request: Request<pb::SetServingRequest>,
    ) -> Result<Response<pb::SetServingResponse>, Status> {
        self.auth.authorize(&request, "SetServing")?;
        let pb::SetServingRequest { service, serving } = request.into_inner();
        let was_serving = self
            .mesh
            .health()
            .set_service_serving(&service, serving)
            .await;
        tracing::info!(
            target: "meshwork::admin",
            service,
            serving,
            ?was_serving,
            "serving status set through the admin endpoint"
        );
        Ok(Response::new(pb::SetServingResponse {
            status: Some(pb::ServiceStatus { service, serving }),
            was_serving,
        }))
    }

    async fn clear_fault(
        &self,
        request: Request<pb::ClearFaultRequest>,
    ) -> Result<Response<pb::ClearFaultResponse>, Status> {
        self.auth.authorize(&request, "ClearFault")?;
        let id = request.get_ref().id;
        if id == 0 {
            return Err(Status::invalid_argument(
                "id: 0 is not a rule id; ListFaults shows the ids of active rules",
            ));
        }
        let rule = self
            .mesh
            .faults()
            .clear(RuleId(id))
            .map_err(|e| rule_status(&e))?;
        let (_, clock) = self.mesh.started();
        Ok(Response::new(pb::ClearFaultResponse {
            rule: Some(wire::rule_to_proto(&rule, &clock)),
        }))
    }
}
