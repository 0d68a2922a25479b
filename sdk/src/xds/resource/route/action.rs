//! The forwarding half of a route (`envoy.config.route.v3.RouteAction`): target clusters (single or
//! weighted, gRFC A28), stream duration cap (A31), retry policy (A44) and hash policies (A42).
//!
//! `cluster_header` routes are dropped (A28). Cluster specifier plugins (RLS, A37-era) are not
//! implemented: a route naming an optional, ignored plugin is dropped; one naming a plugin that is
//! not declared is an error. `timeout`, `grpc_timeout_header_offset` and everything else are ignored.

use std::collections::HashSet;
use std::time::Duration;

use meshwork_proto::envoy::config::route::v3::{
    RouteAction as ProtoRouteAction,
    route_action::{ClusterSpecifier, HashPolicy as ProtoHashPolicy, hash_policy::PolicySpecifier},
};

use super::overrides::{FilterOverrides, filter_overrides};
use super::retry::{RetryPolicy, retry_policy};
use crate::xds::resource::common::{At, Invalid, Regex, Result, opt_duration};

/// The filter-state key whose hash is a per-channel random value (gRFC A42).
pub const CHANNEL_ID_KEY: &str = "io.grpc.channel_id";

/// A validated forwarding action.
#[derive(Clone, Debug, PartialEq)]
pub struct ForwardAction {
    /// Clusters to pick from by weight (a single `cluster` is one entry of weight 1).
    pub clusters: Vec<WeightedCluster>,
    /// Sum of `clusters` weights (> 0 and ≤ `u32::MAX`).
    pub total_weight: u32,
    /// Per-RPC duration cap from `max_stream_duration` (`grpc_timeout_header_max` wins over
    /// `max_stream_duration`). `Some(ZERO)` means "no cap" and still overrides the listener's default.
    pub max_stream_duration: Option<Duration>,
    /// The effective retry policy: the route's, else the virtual host's.
    pub retry_policy: Option<RetryPolicy>,
    /// Hash policies for ring hash, in order.
    pub hash_policies: Vec<HashPolicy>,
}

/// One weighted target cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightedCluster {
    /// The Cluster resource name.
    pub name: String,
    /// Relative weight (> 0).
    pub weight: u32,
    /// Filter overrides for this cluster choice.
    pub filter_overrides: FilterOverrides,
}

/// What a hash policy hashes.
#[derive(Clone, Debug, PartialEq)]
pub enum HashSource {
    /// A request header's value, optionally rewritten by a regex substitution first.
    Header {
        /// Header name.
        name: String,
        /// `(pattern, substitution)` applied to the value before hashing.
        rewrite: Option<(Regex, String)>,
    },
    /// A random value fixed per channel (`filter_state` key `io.grpc.channel_id`).
    ChannelId,
}

/// A request hash policy (gRFC A42).
#[derive(Clone, Debug, PartialEq)]
pub struct HashPolicy {
    /// What to hash.
    pub source: HashSource,
    /// Stop evaluating later policies once a hash exists.
    pub terminal: bool,
}

/// What decoding a `RouteAction` decided.
pub enum Decoded {
    /// A usable action.
    Forward(ForwardAction),
    /// The route is ignored (as gRPC does for `cluster_header` and ignored optional plugins).
    Drop,
}

/// Decodes a `RouteAction`. `vh_retry` is the virtual host's policy (used when the route has none);
/// `ignored_plugins` are optional cluster specifier plugins that were skipped.
pub fn route_action(
    a: &ProtoRouteAction,
    vh_retry: Option<&RetryPolicy>,
    ignored_plugins: &HashSet<String>,
) -> Result<Decoded> {
    let (clusters, total_weight) = match &a.cluster_specifier {
        Some(ClusterSpecifier::Cluster(name)) => {
            if name.is_empty() {
                return Err(Invalid::field(
                    "cluster",
                    "is empty; name a Cluster resource",
                ));
            }
            (
                vec![WeightedCluster {
                    name: name.clone(),
                    weight: 1,
                    filter_overrides: FilterOverrides::new(),
                }],
                1,
            )
        }
        Some(ClusterSpecifier::WeightedClusters(w)) => weighted(w).at("weighted_clusters")?,
        Some(ClusterSpecifier::ClusterHeader(_)) => return Ok(Decoded::Drop),
        Some(ClusterSpecifier::ClusterSpecifierPlugin(name)) => {
            if ignored_plugins.contains(name) {
                return Ok(Decoded::Drop);
            }
            return Err(Invalid::field(
                "cluster_specifier_plugin",
                format!(
                    "plugin `{name}` is not declared in the RouteConfiguration's cluster_specifier_plugins"
                ),
            ));
        }
        Some(ClusterSpecifier::InlineClusterSpecifierPlugin(_)) => {
            return Err(Invalid::field(
                "inline_cluster_specifier_plugin",
                "cluster specifier plugins are not supported; use cluster or weighted_clusters",
            ));
        }
        None => {
            return Err(Invalid::new(
                "no cluster specifier; set cluster or weighted_clusters",
            ));
        }
    };
    let max_stream_duration = match &a.max_stream_duration {
        Some(m) => match opt_duration(
            m.grpc_timeout_header_max.as_ref(),
            "grpc_timeout_header_max",
        )
        .at("max_stream_duration")?
        {
            Some(d) => Some(d),
            None => opt_duration(m.max_stream_duration.as_ref(), "max_stream_duration")
                .at("max_stream_duration")?,
        },
        None => None,
    };
    let retry = match &a.retry_policy {
        Some(p) => retry_policy(p).at("retry_policy")?,
        None => vh_retry.cloned(),
    };
    let hash_policies = a
        .hash_policy
        .iter()
        .enumerate()
        .filter_map(|(i, h)| hash_policy(h).at_index("hash_policy", i).transpose())
        .collect::<Result<_>>()?;
    Ok(Decoded::Forward(ForwardAction {
        clusters,
        total_weight,
        max_stream_duration,
        retry_policy: retry,
        hash_policies,
    }))
}

fn weighted(
    w: &meshwork_proto::envoy::config::route::v3::WeightedCluster,
) -> Result<(Vec<WeightedCluster>, u32)> {
    let mut total: u64 = 0;
    let mut out = Vec::with_capacity(w.clusters.len());
    for (i, c) in w.clusters.iter().enumerate() {
        let weight = c.weight.map(|v| v.value).unwrap_or(0);
        if weight == 0 {
            continue;
        }
        if c.name.is_empty() {
            return Err(Invalid::field(
                "name",
                "is empty; name a Cluster resource (cluster_header is not supported)",
            ))
            .at_index("clusters", i);
        }
        total += u64::from(weight);
        out.push(WeightedCluster {
            name: c.name.clone(),
            weight,
            filter_overrides: filter_overrides(&c.typed_per_filter_config)
                .at_index("clusters", i)?,
        });
    }
    let total = u32::try_from(total).map_err(|_| {
        Invalid::field(
            "clusters",
            format!("weights sum to {total}, above the maximum {}", u32::MAX),
        )
    })?;
    if total == 0 {
        return Err(Invalid::field(
            "clusters",
            "weights sum to 0; give at least one cluster a positive weight",
        ));
    }
    Ok((out, total))
}

/// `Ok(None)` for hash policies gRPC ignores (cookies, query parameters, other filter-state keys).
fn hash_policy(h: &ProtoHashPolicy) -> Result<Option<HashPolicy>> {
    let source = match &h.policy_specifier {
        Some(PolicySpecifier::Header(hd)) => {
            if hd.header_name.is_empty() {
                return Err(Invalid::field("header.header_name", "is empty"));
            }
            let rewrite = match &hd.regex_rewrite {
                Some(rw) => {
                    let pattern = rw.pattern.as_ref().ok_or_else(|| {
                        Invalid::field(
                            "header.regex_rewrite.pattern",
                            "is required with regex_rewrite",
                        )
                    })?;
                    // Rewrites replace every match inside the value, so this regex is not anchored.
                    let re = Regex::unanchored(&pattern.regex)
                        .at("header.regex_rewrite.pattern.regex")?;
                    Some((re, rw.substitution.clone()))
                }
                None => None,
            };
            HashSource::Header {
                name: hd.header_name.to_ascii_lowercase(),
                rewrite,
            }
        }
        Some(PolicySpecifier::FilterState(fs)) if fs.key == CHANNEL_ID_KEY => HashSource::ChannelId,
        _ => return Ok(None),
    };
    Ok(Some(HashPolicy {
        source,
        terminal: h.terminal,
    }))
}
