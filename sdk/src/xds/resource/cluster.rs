//! The validated `Cluster` (CDS): how endpoints are discovered (EDS, LOGICAL_DNS or aggregate,
//! gRFCs A27, A37/A75), the LB policy (A42, A48, A52, A58), circuit breaking (A32), outlier
//! detection (A50), upstream TLS (A29), load reporting (`lrs_server`, A27) and
//! `override_host_status` (A55).
//!
//! Only what gRPC honours is read; everything else in Envoy's Cluster is ignored. Following
//! aggregate clusters and resolving DNS are the resolver's job.

use meshwork_proto::envoy::config::cluster::v3::{
    Cluster as ProtoCluster, cluster::ClusterDiscoveryType, cluster::DiscoveryType,
};
use meshwork_proto::envoy::config::core::v3::{
    RoutingPriority, address, config_source::ConfigSourceSpecifier,
};
use meshwork_proto::envoy::extensions::clusters::aggregate::v3::ClusterConfig as AggregateConfig;

use super::DecodeContext;
use super::common::{At, Invalid, Result, require_ads_or_self, unpack};
use super::endpoint::{HealthStatus, socket_port};

pub mod lb_policy;
pub mod outlier;
pub mod tls;

pub use lb_policy::{LbPolicy, PeakEwmaConfig, RingHashConfig, WrrConfig};
pub use outlier::OutlierDetection;
pub use tls::{CertificateProvider, UpstreamTls};

/// Name of the aggregate cluster extension.
pub const AGGREGATE_CLUSTER_TYPE: &str = "envoy.clusters.aggregate";
/// Default and unset `max_requests` (gRFC A32).
pub const DEFAULT_MAX_REQUESTS: u32 = 1024;

/// A validated Cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct Cluster {
    /// The resource name.
    pub name: String,
    /// How endpoints are found.
    pub discovery: ClusterDiscovery,
    /// The endpoint-picking policy.
    pub lb_policy: LbPolicy,
    /// Concurrent requests allowed across the process (`circuit_breakers`, DEFAULT priority).
    pub max_requests: u32,
    /// Outlier detection, if configured (a config with no algorithm enabled is a pass-through).
    pub outlier_detection: Option<OutlierDetection>,
    /// Upstream TLS; `None` = plaintext.
    pub tls: Option<UpstreamTls>,
    /// Report load to the management server (`lrs_server` is `self`).
    pub lrs_enabled: bool,
    /// Host statuses that session affinity may still route to (A55); `None` = unset.
    pub override_host_status: Option<Vec<HealthStatus>>,
}

/// Where a cluster's endpoints come from.
#[derive(Clone, Debug, PartialEq)]
pub enum ClusterDiscovery {
    /// An EDS ClusterLoadAssignment over ADS.
    Eds {
        /// The EDS resource name (`service_name`, else the cluster name).
        service_name: String,
    },
    /// One DNS name, resolved by the client.
    LogicalDns {
        /// Host name.
        host: String,
        /// Port.
        port: u16,
    },
    /// The union of other clusters, in priority order.
    Aggregate {
        /// Child cluster names (non-empty).
        clusters: Vec<String>,
    },
}

impl Cluster {
    /// Decodes and validates a Cluster; `ctx` supplies the bootstrap's certificate providers.
    pub fn decode(c: &ProtoCluster, ctx: &DecodeContext) -> Result<Self> {
        let discovery = discovery(c)?;
        let lb_policy = lb_policy::from_cluster(c)?;
        let max_requests = c
            .circuit_breakers
            .as_ref()
            .and_then(|cb| {
                cb.thresholds
                    .iter()
                    .find(|t| t.priority == RoutingPriority::Default as i32)
            })
            .and_then(|t| t.max_requests)
            .map(|v| v.value)
            .unwrap_or(DEFAULT_MAX_REQUESTS);
        let outlier_detection = c
            .outlier_detection
            .as_ref()
            .map(OutlierDetection::try_from)
            .transpose()
            .at("outlier_detection")?;
        let tls = match &c.transport_socket {
            Some(ts) => tls::upstream_tls(ts, &ctx.certificate_providers).at("transport_socket")?,
            None => None,
        };
        let lrs_enabled = match c.lrs_server.as_ref().map(|s| &s.config_source_specifier) {
            None => false,
            Some(Some(ConfigSourceSpecifier::Self_(_))) => true,
            Some(_) => {
                return Err(Invalid::field(
                    "lrs_server",
                    "must be `self {}`; load reports go to the ADS server only",
                ));
            }
        };
        let override_host_status = c
            .common_lb_config
            .as_ref()
            .and_then(|l| l.override_host_status.as_ref())
            .map(|s| {
                s.statuses
                    .iter()
                    .map(|&v| HealthStatus::from_proto(v))
                    .collect()
            });
        Ok(Cluster {
            name: c.name.clone(),
            discovery,
            lb_policy,
            max_requests,
            outlier_detection,
            tls,
            lrs_enabled,
            override_host_status,
        })
    }
}

impl TryFrom<&ProtoCluster> for Cluster {
    type Error = Invalid;

    /// Decodes with an empty bootstrap context (any certificate provider reference is rejected).
    fn try_from(c: &ProtoCluster) -> Result<Self> {
        Cluster::decode(c, &DecodeContext::default())
    }
}

fn discovery(c: &ProtoCluster) -> Result<ClusterDiscovery> {
    match &c.cluster_discovery_type {
        Some(ClusterDiscoveryType::Type(t)) => match DiscoveryType::try_from(*t) {
            Ok(DiscoveryType::Eds) => eds(c),
            Ok(DiscoveryType::LogicalDns) => logical_dns(c).at("load_assignment"),
            _ => Err(Invalid::field(
                "type",
                format!(
                    "discovery type {} is not supported; use EDS, LOGICAL_DNS or an aggregate cluster",
                    t
                ),
            )),
        },
        Some(ClusterDiscoveryType::ClusterType(ct)) if ct.name == AGGREGATE_CLUSTER_TYPE => {
            let any = ct.typed_config.as_ref().ok_or_else(|| {
                Invalid::field(
                    "cluster_type.typed_config",
                    "is required for an aggregate cluster",
                )
            })?;
            let cfg: AggregateConfig = unpack(any).at("cluster_type.typed_config")?;
            if cfg.clusters.is_empty() {
                return Err(Invalid::field(
                    "cluster_type.typed_config.clusters",
                    "is empty; list at least one cluster",
                ));
            }
            Ok(ClusterDiscovery::Aggregate {
                clusters: cfg.clusters,
            })
        }
        Some(ClusterDiscoveryType::ClusterType(ct)) => Err(Invalid::field(
            "cluster_type.name",
            format!(
                "custom cluster type `{}` is not supported; only `{AGGREGATE_CLUSTER_TYPE}` is",
                ct.name
            ),
        )),
        // `type` is a proto3 enum inside a oneof: unset means STATIC, which gRPC does not support.
        None => Err(Invalid::field(
            "type",
            "is unset (STATIC); use EDS, LOGICAL_DNS or an aggregate cluster",
        )),
    }
}

fn eds(c: &ProtoCluster) -> Result<ClusterDiscovery> {
    let cfg = c
        .eds_cluster_config
        .as_ref()
        .ok_or_else(|| Invalid::field("eds_cluster_config", "is required for an EDS cluster"))?;
    require_ads_or_self(cfg.eds_config.as_ref()).at("eds_cluster_config.eds_config")?;
    if cfg.service_name.is_empty() && c.name.starts_with("xdstp:") {
        return Err(Invalid::field(
            "eds_cluster_config.service_name",
            "must be set when the cluster name is an xdstp:// name (gRFC A47)",
        ));
    }
    let service_name = if cfg.service_name.is_empty() {
        c.name.clone()
    } else {
        cfg.service_name.clone()
    };
    Ok(ClusterDiscovery::Eds { service_name })
}

fn logical_dns(c: &ProtoCluster) -> Result<ClusterDiscovery> {
    let single = |n: usize, what: &str| {
        if n == 1 {
            Ok(())
        } else {
            Err(Invalid::new(format!(
                "has {n} {what}; a LOGICAL_DNS cluster needs exactly one"
            )))
        }
    };
    let la = c
        .load_assignment
        .as_ref()
        .ok_or_else(|| Invalid::new("is required for a LOGICAL_DNS cluster"))?;
    single(la.endpoints.len(), "localities")?;
    let eps = &la.endpoints[0].lb_endpoints;
    single(eps.len(), "endpoints").at("endpoints[0]")?;
    let sa = match eps[0].host_identifier.as_ref() {
        Some(
            meshwork_proto::envoy::config::endpoint::v3::lb_endpoint::HostIdentifier::Endpoint(e),
        ) => match e.address.as_ref().and_then(|a| a.address.as_ref()) {
            Some(address::Address::SocketAddress(sa)) => sa,
            _ => {
                return Err(Invalid::new("endpoint has no socket_address"))
                    .at("endpoints[0].lb_endpoints[0]");
            }
        },
        _ => return Err(Invalid::new("has no endpoint")).at("endpoints[0].lb_endpoints[0]"),
    };
    if sa.address.is_empty() {
        return Err(Invalid::field(
            "endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address",
            "is empty",
        ));
    }
    let port =
        socket_port(sa).at("endpoints[0].lb_endpoints[0].endpoint.address.socket_address")?;
    Ok(ClusterDiscovery::LogicalDns {
        host: sa.address.clone(),
        port,
    })
}

#[cfg(test)]
mod tests;
