//! The endpoint-picking policy of a cluster, from `load_balancing_policy` (gRFC A52, which wins when
//! set) or the older `lb_policy` enum with its `*_lb_config` (A42 ring hash, A48 least request).
//!
//! `load_balancing_policy` lists candidates in preference order; the first one Meshwork supports is
//! used and unsupported ones are skipped; none supported is an error. Supported: `round_robin`,
//! `ring_hash`, `least_request`, `pick_first`, `wrr_locality` (wrapping a child list),
//! `client_side_weighted_round_robin` (A58), and Meshwork's own P2C over peak-EWMA (below).
//! Following A52, `lb_policy: ROUND_ROBIN` / `LEAST_REQUEST` become `wrr_locality` around that
//! policy, and `RING_HASH` stays bare (it weighs localities itself). No balancing happens here.
//!
//! **Meshwork's peak-EWMA policy.** Conventional extension name `meshwork.lb.peak_ewma`; it is
//! identified, as every policy is, by type URL: a `xds.type.v3.TypedStruct` (or
//! `udpa.type.v1.TypedStruct`) whose `type_url` is `type.googleapis.com/meshwork.lb.PeakEwma`, with
//! optional string fields `default_rtt` (default `"0.030s"`) and `decay` (default `"10s"`) in
//! protobuf JSON duration form. Other clients skip it and use the next policy of the list.

use std::time::Duration;

use meshwork_proto::envoy::config::cluster::v3::{
    Cluster as ProtoCluster, LoadBalancingPolicy, cluster::LbConfig,
    cluster::LbPolicy as ProtoLbPolicy, cluster::ring_hash_lb_config::HashFunction as ClusterHash,
};
use meshwork_proto::envoy::extensions::load_balancing_policies::{
    client_side_weighted_round_robin::v3::ClientSideWeightedRoundRobin,
    least_request::v3::LeastRequest, pick_first::v3::PickFirst, ring_hash::v3::RingHash,
    ring_hash::v3::ring_hash::HashFunction, round_robin::v3::RoundRobin,
    wrr_locality::v3::WrrLocality,
};
use meshwork_proto::google::protobuf::{Any, UInt64Value, value::Kind};
use prost::Name;

use crate::xds::resource::common::typed_struct::{self, TypedStruct};
use crate::xds::resource::common::{At, Invalid, Result, opt_duration, type_name, unpack};

/// Type URL (inside a TypedStruct) of Meshwork's P2C peak-EWMA policy.
pub const PEAK_EWMA_TYPE_URL: &str = "type.googleapis.com/meshwork.lb.PeakEwma";
/// Largest ring size accepted from xDS (gRFC A42).
pub const MAX_RING_SIZE: u64 = 8 * 1024 * 1024;
/// Nesting limit for `wrr_locality` children (gRFC A52 recommends 16).
const MAX_DEPTH: usize = 16;

/// A validated LB policy tree.
#[derive(Clone, Debug, PartialEq)]
pub enum LbPolicy {
    /// Round robin over ready endpoints.
    RoundRobin,
    /// Consistent hashing on a ring (A42).
    RingHash(RingHashConfig),
    /// Least outstanding requests among `choice_count` random picks (A48).
    LeastRequest {
        /// Endpoints sampled per pick (≥ 2; the balancer caps it at 10).
        choice_count: u32,
    },
    /// First reachable endpoint (A62).
    PickFirst {
        /// Shuffle the address list first.
        shuffle_address_list: bool,
    },
    /// Pick a locality by weight, then an endpoint with the child policy.
    WrrLocality(Box<LbPolicy>),
    /// Client-side weighted round robin from backend load reports (A58).
    WeightedRoundRobin(WrrConfig),
    /// Meshwork's power-of-two-choices over peak-EWMA latency.
    PeakEwma(PeakEwmaConfig),
}

/// Ring hash sizes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingHashConfig {
    /// Minimum ring entries (default 1024).
    pub minimum_ring_size: u64,
    /// Maximum ring entries (default and cap 8 M; the balancer may cap lower).
    pub maximum_ring_size: u64,
}

/// Weighted round robin settings (A58 defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct WrrConfig {
    /// Ask for out-of-band load reports instead of per-call ones (default false).
    pub enable_oob_load_report: bool,
    /// OOB reporting period (default 10 s).
    pub oob_reporting_period: Duration,
    /// New weights are ignored for this long (default 10 s).
    pub blackout_period: Duration,
    /// Weights older than this expire (default 3 min).
    pub weight_expiration_period: Duration,
    /// Scheduler rebuild period (default 1 s, at least 100 ms).
    pub weight_update_period: Duration,
    /// Penalty for error rate (default 1.0, ≥ 0).
    pub error_utilization_penalty: f32,
}

impl Default for WrrConfig {
    /// gRFC A58's defaults.
    fn default() -> Self {
        WrrConfig {
            enable_oob_load_report: false,
            oob_reporting_period: Duration::from_secs(10),
            blackout_period: Duration::from_secs(10),
            weight_expiration_period: Duration::from_secs(180),
            weight_update_period: Duration::from_secs(1),
            error_utilization_penalty: 1.0,
        }
    }
}

/// Peak-EWMA settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeakEwmaConfig {
    /// RTT assumed for endpoints without samples (default 30 ms).
    pub default_rtt: Duration,
    /// Decay time of the moving average (default 10 s).
    pub decay: Duration,
}

/// Decodes the cluster's policy; `load_balancing_policy` wins over `lb_policy`.
pub fn from_cluster(c: &ProtoCluster) -> Result<LbPolicy> {
    if let Some(p) = &c.load_balancing_policy {
        return policy_list(p, 0).at("load_balancing_policy");
    }
    match ProtoLbPolicy::try_from(c.lb_policy) {
        Ok(ProtoLbPolicy::RoundRobin) => Ok(LbPolicy::WrrLocality(Box::new(LbPolicy::RoundRobin))),
        Ok(ProtoLbPolicy::RingHash) => {
            let cfg = match &c.lb_config {
                Some(LbConfig::RingHashLbConfig(r)) => {
                    if ClusterHash::try_from(r.hash_function) != Ok(ClusterHash::XxHash) {
                        return Err(Invalid::field(
                            "ring_hash_lb_config.hash_function",
                            "only XX_HASH is supported",
                        ));
                    }
                    ring_sizes(r.minimum_ring_size, r.maximum_ring_size)
                        .at("ring_hash_lb_config")?
                }
                _ => ring_sizes(None, None)?,
            };
            Ok(LbPolicy::RingHash(cfg))
        }
        Ok(ProtoLbPolicy::LeastRequest) => {
            let count = match &c.lb_config {
                Some(LbConfig::LeastRequestLbConfig(l)) => l.choice_count.map(|v| v.value),
                _ => None,
            };
            let choice_count = choice_count(count).at("least_request_lb_config")?;
            Ok(LbPolicy::WrrLocality(Box::new(LbPolicy::LeastRequest {
                choice_count,
            })))
        }
        _ => Err(Invalid::field(
            "lb_policy",
            format!(
                "value {} is not supported; use ROUND_ROBIN, RING_HASH, LEAST_REQUEST or load_balancing_policy",
                c.lb_policy
            ),
        )),
    }
}

fn policy_list(list: &LoadBalancingPolicy, depth: usize) -> Result<LbPolicy> {
    if depth > MAX_DEPTH {
        return Err(Invalid::new(format!(
            "policies nest deeper than {MAX_DEPTH} levels"
        )));
    }
    let mut skipped = Vec::new();
    for (i, p) in list.policies.iter().enumerate() {
        let Some(any) = p
            .typed_extension_config
            .as_ref()
            .and_then(|t| t.typed_config.as_ref())
        else {
            continue;
        };
        match policy(any, depth).at_index("policies", i)? {
            Some(found) => return Ok(found),
            None => skipped.push(type_name(&any.type_url).to_string()),
        }
    }
    Err(Invalid::field(
        "policies",
        format!(
            "no supported policy (saw {skipped:?}); supported: round_robin, ring_hash, least_request, pick_first, wrr_locality, client_side_weighted_round_robin, {PEAK_EWMA_TYPE_URL}"
        ),
    ))
}

/// `Ok(None)` when the policy type is not one Meshwork supports.
fn policy(any: &Any, depth: usize) -> Result<Option<LbPolicy>> {
    let url = any.type_url.as_str();
    let p = if url == RoundRobin::type_url() {
        LbPolicy::RoundRobin
    } else if url == RingHash::type_url() {
        let r: RingHash = unpack(any)?;
        match HashFunction::try_from(r.hash_function) {
            Ok(HashFunction::DefaultHash | HashFunction::XxHash) => {}
            _ => {
                return Err(Invalid::field(
                    "hash_function",
                    "only DEFAULT_HASH or XX_HASH is supported",
                ));
            }
        }
        LbPolicy::RingHash(ring_sizes(r.minimum_ring_size, r.maximum_ring_size)?)
    } else if url == LeastRequest::type_url() {
        let l: LeastRequest = unpack(any)?;
        LbPolicy::LeastRequest {
            choice_count: choice_count(l.choice_count.map(|v| v.value))?,
        }
    } else if url == PickFirst::type_url() {
        let p: PickFirst = unpack(any)?;
        LbPolicy::PickFirst {
            shuffle_address_list: p.shuffle_address_list,
        }
    } else if url == WrrLocality::type_url() {
        let w: WrrLocality = unpack(any)?;
        let child = w
            .endpoint_picking_policy
            .as_ref()
            .ok_or_else(|| Invalid::field("endpoint_picking_policy", "is required"))?;
        LbPolicy::WrrLocality(Box::new(
            policy_list(child, depth + 1).at("endpoint_picking_policy")?,
        ))
    } else if url == ClientSideWeightedRoundRobin::type_url() {
        LbPolicy::WeightedRoundRobin(wrr(&unpack(any)?)?)
    } else if let Some(ts) = typed_struct::from_any(any)? {
        if ts.type_url != PEAK_EWMA_TYPE_URL {
            return Ok(None);
        }
        LbPolicy::PeakEwma(peak_ewma(&ts)?)
    } else {
        return Ok(None);
    };
    Ok(Some(p))
}

fn ring_sizes(min: Option<UInt64Value>, max: Option<UInt64Value>) -> Result<RingHashConfig> {
    let minimum_ring_size = min.map(|v| v.value).unwrap_or(1024);
    let maximum_ring_size = max.map(|v| v.value).unwrap_or(MAX_RING_SIZE);
    for (field, v) in [
        ("minimum_ring_size", minimum_ring_size),
        ("maximum_ring_size", maximum_ring_size),
    ] {
        if v > MAX_RING_SIZE {
            return Err(Invalid::field(
                field,
                format!("is {v}; the largest supported ring is {MAX_RING_SIZE}"),
            ));
        }
    }
    if minimum_ring_size == 0 || minimum_ring_size > maximum_ring_size {
        return Err(Invalid::field(
            "minimum_ring_size",
            format!(
                "is {minimum_ring_size}; it must be >= 1 and <= maximum_ring_size {maximum_ring_size}"
            ),
        ));
    }
    Ok(RingHashConfig {
        minimum_ring_size,
        maximum_ring_size,
    })
}

fn choice_count(v: Option<u32>) -> Result<u32> {
    let n = v.unwrap_or(2);
    if n < 2 {
        return Err(Invalid::field(
            "choice_count",
            format!("is {n}; it must be >= 2"),
        ));
    }
    Ok(n)
}

fn wrr(w: &ClientSideWeightedRoundRobin) -> Result<WrrConfig> {
    let d = |v, field, default| Ok::<_, Invalid>(opt_duration(v, field)?.unwrap_or(default));
    let penalty = w.error_utilization_penalty.map(|v| v.value).unwrap_or(1.0);
    if penalty.is_nan() || penalty < 0.0 {
        return Err(Invalid::field(
            "error_utilization_penalty",
            format!("is {penalty}; it must be >= 0"),
        ));
    }
    Ok(WrrConfig {
        enable_oob_load_report: w.enable_oob_load_report.map(|b| b.value).unwrap_or(false),
        oob_reporting_period: d(
            w.oob_reporting_period.as_ref(),
            "oob_reporting_period",
            Duration::from_secs(10),
        )?,
        blackout_period: d(
            w.blackout_period.as_ref(),
            "blackout_period",
            Duration::from_secs(10),
        )?,
        weight_expiration_period: d(
            w.weight_expiration_period.as_ref(),
            "weight_expiration_period",
            Duration::from_secs(180),
        )?,
        weight_update_period: d(
            w.weight_update_period.as_ref(),
            "weight_update_period",
            Duration::from_secs(1),
        )?
        .max(Duration::from_millis(100)),
        error_utilization_penalty: penalty,
    })
}

fn peak_ewma(ts: &TypedStruct) -> Result<PeakEwmaConfig> {
    let field = |name: &str, default: Duration| match typed_struct::field(ts, name) {
        None => Ok(default),
        Some(Kind::StringValue(s)) => json_duration(s).ok_or_else(|| {
            Invalid::field(
                name,
                format!("`{s}` is not a duration; write it like \"0.030s\""),
            )
        }),
        Some(_) => Err(Invalid::field(
            name,
            "must be a string duration like \"10s\"",
        )),
    };
    Ok(PeakEwmaConfig {
        default_rtt: field("default_rtt", Duration::from_millis(30))?,
        decay: field("decay", Duration::from_secs(10))?,
    })
}

/// Parses the protobuf JSON form of a non-negative duration (`"1.5s"`).
fn json_duration(s: &str) -> Option<Duration> {
    let secs = s.strip_suffix('s')?;
    let (whole, frac) = secs.split_once('.').unwrap_or((secs, ""));
    if whole.is_empty()
        || frac.len() > 9
        || !whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let nanos: u32 = format!("{frac:0<9}").parse().ok()?;
    Some(Duration::new(whole.parse().ok()?, nanos))
}
