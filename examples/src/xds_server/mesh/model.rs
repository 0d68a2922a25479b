//! The serde types of the mesh file (see the format in [`super`] and `examples/mesh/README.md`).
//!
//! Plain data, compared and cloned freely; the parser rejects unknown fields so typos surface
//! with their line. Semantic rules (references, weights, priorities) live in [`super::validate`].

use serde::Deserialize;

use super::MeshDuration;

mod server;

pub use server::{SERVER_LISTENER_NAME_TEMPLATE, ServerListener, ServerTls};

/// A whole mesh: the services clients address and the clusters that serve them.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mesh {
    /// How RouteConfigurations and Clusters are named in xDS.
    #[serde(default)]
    pub naming: Naming,
    /// Services, one Listener each.
    #[serde(default)]
    pub services: Vec<Service>,
    /// Clusters, one Cluster and one ClusterLoadAssignment each.
    #[serde(default)]
    pub clusters: Vec<Cluster>,
    /// Listeners of xDS-enabled servers (gRFC A36), one server Listener each.
    #[serde(default)]
    pub server_listeners: Vec<ServerListener>,
}

/// Resource naming scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Naming {
    /// RouteConfiguration = `host:port`, Cluster = the cluster's `name`.
    #[default]
    Plain,
    /// Istio's proxyless names: RouteConfiguration `outbound|port||host`, Cluster
    /// `outbound|port||name` (clusters then need a `port`).
    Istio,
}

/// A service clients reach as `xds:///host:port`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Host part of the target.
    pub host: String,
    /// Port part of the target.
    pub port: u16,
    /// Extra virtual-host domains besides `host` and `host:port`.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Shorthand for a single catch-all route to this cluster.
    #[serde(default)]
    pub cluster: Option<String>,
    /// Routes in match order (first match wins).
    #[serde(default)]
    pub routes: Vec<Route>,
}

/// One route: a matcher and where matching RPCs go, with per-route policies.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Optional name (shown in xDS dumps).
    #[serde(default)]
    pub name: Option<String>,
    /// What requests this route takes; default: every request (`prefix: ""`).
    #[serde(default, rename = "match")]
    pub matcher: RouteMatch,
    /// Send everything to this cluster...
    #[serde(default)]
    pub cluster: Option<String>,
    /// ...or split across clusters by weight.
    #[serde(default)]
    pub weighted_clusters: Vec<WeightedCluster>,
    /// Deadline cap (gRFC A31).
    #[serde(default)]
    pub timeout: Option<Timeout>,
    /// Retry policy (gRFC A44).
    #[serde(default)]
    pub retry: Option<Retry>,
    /// Fault injection (gRFC A33).
    #[serde(default)]
    pub fault: Option<Fault>,
    /// Hash policies for ring hash (gRFC A42).
    #[serde(default)]
    pub hash_policy: Vec<HashPolicy>,
}

/// Route matcher (`envoy.config.route.v3.RouteMatch`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteMatch {
    /// Path prefix, e.g. `/helloworld.Greeter/`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Exact path, e.g. `/helloworld.Greeter/SayHello`.
    #[serde(default)]
    pub path: Option<String>,
    /// RE2 regex over the whole path.
    #[serde(default)]
    pub safe_regex: Option<String>,
    /// Case-sensitive path matching (default true).
    #[serde(default)]
    pub case_sensitive: Option<bool>,
    /// Header matchers; all must match.
    #[serde(default)]
    pub headers: Vec<HeaderMatch>,
    /// Percentage (0–100) of matching requests this route takes.
    #[serde(default)]
    pub runtime_fraction: Option<f64>,
}

/// Header matcher: exactly one of the match kinds.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    /// Header name (lower case).
    pub name: String,
    /// Exact value.
    #[serde(default)]
    pub exact: Option<String>,
    /// Value prefix.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Value suffix.
    #[serde(default)]
    pub suffix: Option<String>,
    /// RE2 regex over the whole value.
    #[serde(default)]
    pub regex: Option<String>,
    /// Integer range `[start, end)`.
    #[serde(default)]
    pub range: Option<Range>,
    /// Header presence (`true`) or absence (`false`).
    #[serde(default)]
    pub present: Option<bool>,
    /// Invert the result.
    #[serde(default)]
    pub invert: bool,
    /// Case-insensitive exact/prefix/suffix.
    #[serde(default)]
    pub ignore_case: bool,
}

/// Half-open integer range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// Inclusive start.
    pub start: i64,
    /// Exclusive end.
    pub end: i64,
}

/// One arm of a weighted split.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightedCluster {
    /// Cluster name.
    pub name: String,
    /// Relative weight (0 allowed; the sum must be positive).
    pub weight: u32,
}

/// Route deadline caps (`RouteAction.max_stream_duration`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeout {
    /// Cap on the stream duration.
    #[serde(default)]
    pub max_stream_duration: Option<MeshDuration>,
    /// Cap on the client's `grpc-timeout` (wins over `max_stream_duration` in gRPC).
    #[serde(default)]
    pub grpc_timeout_header_max: Option<MeshDuration>,
}

/// Retry policy (`RouteAction.retry_policy`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// gRPC status names: cancelled, deadline-exceeded, internal, resource-exhausted, unavailable.
    pub retry_on: Vec<String>,
    /// Retries after the first attempt (default 1).
    #[serde(default)]
    pub num_retries: Option<u32>,
    /// Backoff between attempts.
    #[serde(default)]
    pub backoff: Option<Backoff>,
}

/// Retry backoff.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    /// First backoff.
    pub base_interval: MeshDuration,
    /// Cap (default 10 × base).
    #[serde(default)]
    pub max_interval: Option<MeshDuration>,
}

/// Fault injection for a route (HTTPFault in `typed_per_filter_config`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Delay before the request is sent.
    #[serde(default)]
    pub delay: Option<FaultDelay>,
    /// Fail the request before it is sent.
    #[serde(default)]
    pub abort: Option<FaultAbort>,
    /// Process-wide cap on concurrently faulted RPCs.
    #[serde(default)]
    pub max_active_faults: Option<u32>,
}

/// Fixed delay fault.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultDelay {
    /// The delay.
    pub fixed: MeshDuration,
    /// Percentage of requests (0–100).
    pub percent: f64,
}

/// Abort fault: exactly one of `http_status` / `grpc_status`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultAbort {
    /// HTTP status (200–599), mapped to a gRPC code by the client.
    #[serde(default)]
    pub http_status: Option<u32>,
    /// gRPC status code (0–16).
    #[serde(default)]
    pub grpc_status: Option<u32>,
    /// Percentage of requests (0–100).
    pub percent: f64,
}

/// One hash policy: a header value, or the channel id.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HashPolicy {
    /// Hash this request header.
    #[serde(default)]
    pub header: Option<String>,
    /// Hash the channel id (`filter_state` key `io.grpc.channel_id`).
    #[serde(default)]
    pub channel_id: bool,
    /// Stop at this policy if it produced a hash.
    #[serde(default)]
    pub terminal: bool,
}

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

impl Service {
    /// The Listener name, `host:port`, as a gRPC `xds:///host:port` target asks for it.
    pub fn listener_name(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl Mesh {
    /// The RouteConfiguration name of a service under this mesh's naming.
    pub fn route_config_name(&self, service: &Service) -> String {
        match self.naming {
            Naming::Plain => service.listener_name(),
            Naming::Istio => format!("outbound|{}||{}", service.port, service.host),
        }
    }

    /// The xDS Cluster (and EDS) name of a mesh cluster name under this mesh's naming.
    pub fn cluster_xds_name(&self, cluster_name: &str) -> String {
        match self.naming {
            Naming::Plain => cluster_name.to_owned(),
            Naming::Istio => {
                let port = self
                    .clusters
                    .iter()
                    .find(|c| c.name == cluster_name)
                    .and_then(|c| c.port)
                    .unwrap_or(0);
                format!("outbound|{port}||{cluster_name}")
            }
        }
    }
}
