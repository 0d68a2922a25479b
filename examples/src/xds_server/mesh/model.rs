//! The serde types of the mesh file (see the format in [`super`] and `examples/mesh/README.md`).
//!
//! Plain data, compared and cloned freely; the parser rejects unknown fields so typos surface
//! with their line. Semantic rules (references, weights, priorities) live in [`super::validate`].

use serde::Deserialize;

use super::MeshDuration;

mod cluster;
mod server;

pub use cluster::{
    Cluster, ClusterTls, Endpoint, Health, HealthCheck, LbPolicy, LeastRequest, Locality,
    LocalityName, OutlierDetection, PeakEwma, RingHash,
};
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
