//! The interop client's control services on its stats port: `LoadBalancerStatsService`
//! (`GetClientStats`, `GetClientAccumulatedStats`) over a [`StatsHub`], and
//! `XdsUpdateClientConfigureService` replacing the [`RpcConfig`] the sender reads
//! (grpc/grpc `doc/xds-test-descriptions.md`, "Client").

use std::sync::Arc;
use std::time::Duration;

use meshwork_proto::grpc_testing::load_balancer_stats_service_server::LoadBalancerStatsService;
use meshwork_proto::grpc_testing::xds_update_client_configure_service_server::XdsUpdateClientConfigureService;
use meshwork_proto::grpc_testing::{
    ClientConfigureRequest, ClientConfigureResponse, LoadBalancerAccumulatedStatsRequest,
    LoadBalancerAccumulatedStatsResponse, LoadBalancerStatsRequest, LoadBalancerStatsResponse,
};
use tokio::sync::watch;
use tonic::{Request, Response, Status};

use super::flags::{RpcConfig, RpcType};
use super::stats::StatsHub;

/// `LoadBalancerStatsService` over the client's stats.
#[derive(Debug, Clone)]
pub struct StatsService {
    /// The client's stats.
    pub stats: StatsHub,
}

/// `XdsUpdateClientConfigureService` over the client's RPC configuration.
#[derive(Debug, Clone)]
pub struct ConfigureService {
    /// The configuration the sender reads on every tick.
    pub config: watch::Sender<Arc<RpcConfig>>,
    /// The timeout to use when a request leaves `timeout_sec` at 0 (the command line's).
    pub default_timeout: Duration,
}

#[tonic::async_trait]
impl LoadBalancerStatsService for StatsService {
    async fn get_client_stats(
        &self,
        request: Request<LoadBalancerStatsRequest>,
    ) -> Result<Response<LoadBalancerStatsResponse>, Status> {
        let req = request.into_inner();
        let num_rpcs = u64::try_from(req.num_rpcs).map_err(|_| {
            Status::invalid_argument(format!("num_rpcs must be >= 0, got {}", req.num_rpcs))
        })?;
        let timeout = Duration::from_secs(u64::try_from(req.timeout_sec).unwrap_or(0));
        Ok(Response::new(
            self.stats
                .next_rpcs(num_rpcs, &req.metadata_keys, timeout)
                .await,
        ))
    }

    async fn get_client_accumulated_stats(
        &self,
        _: Request<LoadBalancerAccumulatedStatsRequest>,
    ) -> Result<Response<LoadBalancerAccumulatedStatsResponse>, Status> {
        Ok(Response::new(self.stats.accumulated()))
    }
}

impl ConfigureService {
    /// The configuration `request` asks for.
    pub fn config_for(&self, request: &ClientConfigureRequest) -> Result<RpcConfig, Status> {
        let rpc = |n: i32| {
            RpcType::from_proto(n).ok_or_else(|| {
                Status::invalid_argument(format!(
                    "unknown RpcType {n}; expected EMPTY_CALL (0) or UNARY_CALL (1)"
                ))
            })
        };
        let types = request
            .types
            .iter()
            .map(|t| rpc(*t))
            .collect::<Result<_, _>>()?;
        let metadata = request
            .metadata
            .iter()
            .map(|m| Ok((rpc(m.r#type)?, m.key.to_ascii_lowercase(), m.value.clone())))
            .collect::<Result<_, Status>>()?;
        let timeout = match u64::try_from(request.timeout_sec) {
            Ok(s) if s > 0 => Duration::from_secs(s),
            _ => self.default_timeout,
        };
        Ok(RpcConfig {
            types,
            metadata,
            timeout,
        })
    }
}

#[tonic::async_trait]
impl XdsUpdateClientConfigureService for ConfigureService {
    async fn configure(
        &self,
        request: Request<ClientConfigureRequest>,
    ) -> Result<Response<ClientConfigureResponse>, Status> {
        let config = self.config_for(request.get_ref())?;
        tracing::info!(?config, "client reconfigured");
        self.config.send_replace(Arc::new(config));
        Ok(Response::new(ClientConfigureResponse {}))
    }
}
