//! The `clusters:` section of the mesh file: endpoints by locality and priority, the LB policy,
//! resilience settings (breaker, outlier detection, health checks) and upstream TLS.

use serde::Deserialize;

use super::super::MeshDuration;

/// A cluster of endpoints with its LB and resilience settings.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// Name routes refer to.
    pub name: String,
    /// Port used in Istio-style names (required with `naming: istio`).
    #[serde(default)]
    pub port: Option<u16>,
    /// Endpoint-picking policy.
    #[serde(default)]
    pub lb_policy: LbPolicy,
    /// Ring-hash settings (only with `lb_policy: ring_hash`).
    #[serde(default)]
    pub ring_hash: Option<RingHash>,
    /// Least-request settings (only with `lb_policy: least_request`).
    #[serde(default)]
    pub least_request: Option<LeastRequest>,
    /// Peak-EWMA settings (only with `lb_policy: peak_ewma`).
    #[serde(default)]
    pub peak_ewma: Option<PeakEwma>,
    /// Circuit breaker: max concurrent requests (gRFC A32; client default 1024).
    #[serde(default)]
    pub max_requests: Option<u32>,
    /// Outlier detection (gRFC A50).
    #[serde(default)]
    pub outlier_detection: Option<OutlierDetection>,
    /// Active health checking of the endpoints by the control plane (see
    /// [`crate::xds_server::health_check`]); results replace the endpoints' `health` in EDS.
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
    /// Envoy's `ClusterLoadAssignment.policy.overprovisioning_factor` (percent, 140 = 1.4),
    /// applied by the control plane itself because gRPC clients ignore it: a priority that is
    /// partly unhealthy spills load into the next one (gentle failover).
    #[serde(default)]
    pub overprovisioning_factor: Option<u32>,
    /// Endpoints grouped by locality.
    #[serde(default)]
    pub localities: Vec<Locality>,
    /// `host:port` of a LOGICAL_DNS cluster instead of `localities`: clients resolve the name
    /// themselves (no EDS resource is served for it).
    #[serde(default)]
    pub dns: Option<String>,
    /// TLS from clients to the endpoints (gRFC A29): served as an `UpstreamTlsContext` in the
    /// Cluster's `transport_socket`. `None` = plaintext.
    #[serde(default)]
    pub tls: Option<ClusterTls>,
}

/// Upstream TLS of a cluster (gRFC A29). Certificates never travel over xDS: the fields name
/// certificate-provider instances of the *client's* bootstrap (`certificate_providers`), as
/// Istio's `ISTIO_MUTUAL` does with instance `default`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterTls {
    /// Instance whose CA certificates verify the endpoints' certificates.
    pub ca_instance: String,
    /// Instance holding the client's certificate and key (mTLS); `None` = no client certificate.
    #[serde(default)]
    pub identity_instance: Option<String>,
    /// Server SANs accepted (exact match, any one suffices); empty = any certificate the CA
    /// signed.
    #[serde(default)]
    pub san: Vec<String>,
    /// SNI the clients send; `None` = none.
    #[serde(default)]
    pub sni: Option<String>,
}

/// Load-balancing policy of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LbPolicy {
    /// Round robin (the gRPC default).
    #[default]
    RoundRobin,
    /// Least request, power of `choice_count` choices (gRFC A48).
    LeastRequest,
    /// Ring hash (gRFC A42).
    RingHash,
    /// Pick first (gRFC A62).
    PickFirst,
    /// Meshwork's P2C peak-EWMA, sent as a custom policy with a round-robin fallback.
    PeakEwma,
}

/// Ring hash settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RingHash {
    /// Minimum ring size (default 1024).
    #[serde(default)]
    pub minimum_ring_size: Option<u64>,
    /// Maximum ring size (client caps at 4096).
    #[serde(default)]
    pub maximum_ring_size: Option<u64>,
}

/// Least-request settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeastRequest {
    /// Endpoints sampled per pick (2–10, default 2).
    #[serde(default)]
    pub choice_count: Option<u32>,
}

/// Peak-EWMA settings (Linkerd-style defaults: decay 10 s, default RTT 30 ms).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeakEwma {
    /// Decay time of the moving average.
    #[serde(default)]
    pub decay: Option<MeshDuration>,
    /// RTT assumed for endpoints without samples.
    #[serde(default)]
    pub default_rtt: Option<MeshDuration>,
}

/// Outlier detection (`envoy.config.cluster.v3.OutlierDetection`; unset fields keep xDS defaults).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutlierDetection {
    /// Sweep period (default 10 s).
    #[serde(default)]
    pub interval: Option<MeshDuration>,
    /// Base ejection time (default 30 s).
    #[serde(default)]
    pub base_ejection_time: Option<MeshDuration>,
    /// Maximum ejection time (default max(300 s, base)).
    #[serde(default)]
    pub max_ejection_time: Option<MeshDuration>,
    /// Maximum percentage of endpoints ejected (default 10).
    #[serde(default)]
    pub max_ejection_percent: Option<u32>,
    /// Success-rate: stdev factor in thousandths (default 1900).
    #[serde(default)]
    pub success_rate_stdev_factor: Option<u32>,
    /// Success-rate enforcement percentage (default 100; 0 disables it).
    #[serde(default)]
    pub enforcing_success_rate: Option<u32>,
    /// Success-rate minimum hosts (default 5).
    #[serde(default)]
    pub success_rate_minimum_hosts: Option<u32>,
    /// Success-rate minimum requests per host (default 100).
    #[serde(default)]
    pub success_rate_request_volume: Option<u32>,
    /// Failure-percentage threshold (default 85).
    #[serde(default)]
    pub failure_percentage_threshold: Option<u32>,
    /// Failure-percentage enforcement (default 0 = off).
    #[serde(default)]
    pub enforcing_failure_percentage: Option<u32>,
    /// Failure-percentage minimum hosts (default 5).
    #[serde(default)]
    pub failure_percentage_minimum_hosts: Option<u32>,
    /// Failure-percentage minimum requests per host (default 50).
    #[serde(default)]
    pub failure_percentage_request_volume: Option<u32>,
}

/// gRPC health checking (`grpc.health.v1.Health/Check`, service `""`) done by the control plane,
/// like a Traffic Director health check: SERVING → HEALTHY, anything else (including no answer
/// within `timeout`) → UNHEALTHY.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// Time between checks (default 1 s).
    #[serde(default)]
    pub interval: Option<MeshDuration>,
    /// Time a check may take (default 1 s).
    #[serde(default)]
    pub timeout: Option<MeshDuration>,
}

/// Endpoints of one locality at one priority.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Locality {
    /// Where the endpoints are.
    #[serde(default)]
    pub locality: LocalityName,
    /// Priority (0 = highest; priorities must be contiguous from 0).
    #[serde(default)]
    pub priority: u32,
    /// Locality weight (default 1; gRPC skips localities without a weight).
    #[serde(default)]
    pub weight: Option<u32>,
    /// The endpoints.
    pub endpoints: Vec<Endpoint>,
}

/// Region / zone / sub-zone.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalityName {
    /// Region.
    #[serde(default)]
    pub region: String,
    /// Zone.
    #[serde(default)]
    pub zone: String,
    /// Sub-zone.
    #[serde(default)]
    pub sub_zone: String,
}

/// One backend.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// `ip:port`.
    pub address: String,
    /// Endpoint weight (default 1).
    #[serde(default)]
    pub weight: Option<u32>,
    /// Health status reported in EDS (default healthy); with a cluster `health_check`, only
    /// until the first check answers.
    #[serde(default)]
    pub health: Health,
    /// Port the cluster's `health_check` probes (Envoy's
    /// `Endpoint.health_check_config.port_value`; default the endpoint's own port).
    #[serde(default)]
    pub health_check_port: Option<u16>,
}

/// EDS health status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// UNKNOWN (used by gRPC).
    Unknown,
    /// HEALTHY.
    #[default]
    Healthy,
    /// UNHEALTHY (skipped by gRPC).
    Unhealthy,
    /// DRAINING (skipped by gRPC).
    Draining,
    /// TIMEOUT (skipped by gRPC).
    Timeout,
    /// DEGRADED (skipped by gRPC).
    Degraded,
}
