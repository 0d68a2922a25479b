//! Static channels: a fixed endpoint list balanced by a chosen policy, with no control plane
//! (`MeshChannel::builder().endpoints([...]).load_balancing(Lb::RoundRobin).build()`).
//!
//! The list becomes one cluster with one locality (every endpoint weight 1, health UNKNOWN) under
//! the same balancer, connection pool and per-RPC stack as an xDS channel, so behaviour matches
//! the xDS case with an equivalent EDS assignment. Addresses must be `ip:port`; this builder does
//! no DNS. Each static channel gets its own connection pool unless one is given.
//!
//! Resilience without a control plane: [`MeshChannelBuilder::retry`] (the policy xDS would put on
//! the route), [`MeshChannelBuilder::max_requests`] (circuit breaker, default 1024, counted per
//! channel target), [`MeshChannelBuilder::outlier_detection`] and
//! [`MeshChannelBuilder::health_check`] (gRFC A17 `healthCheckConfig.serviceName`).

use std::net::SocketAddr;
use std::time::Duration;

use super::clusters::Limits;
use super::error::ChannelError;
use super::{ChannelOptions, HealthCheckConfig, MeshChannel};
use crate::connection::{ConnectOptions, ConnectionPool};
use crate::telemetry::Telemetry;
use crate::xds::resource::cluster::{
    DEFAULT_MAX_REQUESTS, LbPolicy, OutlierDetection, PeakEwmaConfig, RingHashConfig, WrrConfig,
};
use crate::xds::resource::route::RetryPolicy;

/// The cluster name a static channel's endpoints are balanced under (it appears in errors).
pub const STATIC_CLUSTER: &str = "static";

/// Load-balancing policy of a static channel.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Lb {
    /// Ready endpoints in turn (gRPC's default).
    #[default]
    RoundRobin,
    /// Power of two choices over peak-EWMA latency (Linkerd's default; 30 ms default RTT,
    /// 10 s decay).
    PeakEwma,
    /// Fewest outstanding requests among two random choices (gRFC A48).
    LeastRequest,
    /// The first endpoint that connects, kept until it fails (gRFC A62).
    PickFirst,
    /// Consistent hashing on a ring (gRFC A42). Static channels have no hash policy, so each RPC
    /// hashes randomly; it is mostly useful through xDS routes.
    RingHash {
        /// Minimum ring entries (gRPC default 1024).
        minimum_ring_size: u64,
        /// Maximum ring entries (gRPC default 4096).
        maximum_ring_size: u64,
    },
    /// Weighted round robin by backend load reports (gRFC A58): endpoints that report per-call
    /// ORCA loads (see [`crate::orca`]) get weights `qps / utilization`; until they do, round
    /// robin. `WrrConfig::default()` has A58's defaults (10 s blackout).
    WeightedRoundRobin(WrrConfig),
}

impl Lb {
    /// Ring hash with gRPC's default sizes.
    pub fn ring_hash() -> Self {
        Lb::RingHash {
            minimum_ring_size: 1024,
            maximum_ring_size: 4096,
        }
    }

    fn policy(&self) -> LbPolicy {
        match self {
            Lb::RoundRobin => LbPolicy::RoundRobin,
            Lb::PeakEwma => LbPolicy::PeakEwma(PeakEwmaConfig {
                default_rtt: Duration::from_millis(30),
                decay: Duration::from_secs(10),
            }),
            Lb::LeastRequest => LbPolicy::LeastRequest { choice_count: 2 },
            Lb::PickFirst => LbPolicy::PickFirst {
                shuffle_address_list: false,
            },
            Lb::RingHash {
                minimum_ring_size,
                maximum_ring_size,
            } => LbPolicy::RingHash(RingHashConfig {
                minimum_ring_size: *minimum_ring_size,
                maximum_ring_size: *maximum_ring_size,
            }),
            Lb::WeightedRoundRobin(config) => LbPolicy::WeightedRoundRobin(config.clone()),
        }
    }
}

/// The one cluster of a static channel.
pub(crate) struct StaticCluster {
    pub(crate) addresses: Vec<SocketAddr>,
    pub(crate) policy: LbPolicy,
    pub(crate) limits: Limits,
}

/// Builds a static [`MeshChannel`]; see the module docs.
#[derive(Clone, Debug, Default)]
pub struct MeshChannelBuilder {
    endpoints: Vec<String>,
    lb: Lb,
    options: ChannelOptions,
    connect: ConnectOptions,
    pool: Option<ConnectionPool>,
    authority: Option<String>,
    max_requests: Option<u32>,
    outlier_detection: Option<OutlierDetection>,
}

impl MeshChannelBuilder {
    /// The endpoints, as `ip:port` strings.
    pub fn endpoints<I>(mut self, endpoints: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.endpoints = endpoints.into_iter().map(Into::into).collect();
        self
    }

    /// The load-balancing policy (default round robin).
    pub fn load_balancing(mut self, lb: Lb) -> Self {
        self.lb = lb;
        self
    }

    /// Channel options (queue timeout, seed).
    pub fn options(mut self, options: ChannelOptions) -> Self {
        self.options = options;
        self
    }

    /// How endpoint connections are made (ignored when a pool is given).
    pub fn connect_options(mut self, connect: ConnectOptions) -> Self {
        self.connect = connect;
        self
    }

    /// Shares this connection pool (for example a [`Mesh`](crate::Mesh)'s) instead of a new one.
    pub fn connection_pool(mut self, pool: ConnectionPool) -> Self {
        self.pool = Some(pool);
        self
    }

    /// The `:authority` of every RPC (default: the first endpoint's address).
    pub fn authority(mut self, authority: impl Into<String>) -> Self {
        self.authority = Some(authority.into());
        self
    }

    /// Retries calls with `policy` (sets [`ChannelOptions::retry`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.options.retry = Some(policy);
        self
    }

    /// Circuit breaker limit: most calls in flight to the endpoints (gRFC A32; default 1024).
    pub fn max_requests(mut self, max_requests: u32) -> Self {
        self.max_requests = Some(max_requests);
        self
    }

    /// Ejects outlier endpoints (gRFC A50) with this configuration.
    pub fn outlier_detection(mut self, config: OutlierDetection) -> Self {
        self.outlier_detection = Some(config);
        self
    }

    /// Watches every endpoint's `grpc.health.v1` status for `service_name` (`""` = the whole
    /// server) and sends only to SERVING ones (gRFC A17; sets [`ChannelOptions::health_check`]).
    pub fn health_check(mut self, service_name: impl Into<String>) -> Self {
        self.options.health_check = Some(HealthCheckConfig {
            service_name: service_name.into(),
        });
        self
    }

    /// Records the channel's gRFC A66 call and attempt metrics (and spans, when tracing is on)
    /// into `telemetry` (sets [`ChannelOptions::telemetry`]; call it after
    /// [`options`](Self::options), which replaces every option). A channel from
    /// [`Mesh::static_channel`](crate::Mesh::static_channel) already uses the mesh's.
    pub fn telemetry(mut self, telemetry: &Telemetry) -> Self {
        self.options.telemetry = telemetry.clone();
        self
    }

    /// Starts the channel. Must be called inside a tokio runtime.
    pub fn build(self) -> Result<MeshChannel, ChannelError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ChannelError::NoRuntime)?;
        let addresses = self
            .endpoints
            .iter()
            .map(|a| {
                a.trim()
                    .parse::<SocketAddr>()
                    .map_err(|_| ChannelError::InvalidEndpoint { address: a.clone() })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let first = addresses.first().ok_or(ChannelError::NoEndpoints)?;
        let authority = self.authority.unwrap_or_else(|| first.to_string());
        let pool = self
            .pool
            .unwrap_or_else(|| ConnectionPool::new(self.connect, runtime.clone()));
        let target = format!("static:{}", self.endpoints.join(","));
        let limits = Limits {
            breaker_key: (STATIC_CLUSTER.to_string(), Some(target.clone())),
            max_requests: self.max_requests.unwrap_or(DEFAULT_MAX_REQUESTS),
            outlier_detection: self.outlier_detection,
        };
        let cluster = StaticCluster {
            addresses,
            policy: self.lb.policy(),
            limits,
        };
        MeshChannel::start_static(target, &authority, cluster, pool, self.options, &runtime)
    }
}
