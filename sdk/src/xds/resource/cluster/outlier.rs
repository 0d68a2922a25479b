//! Outlier detection config (`envoy.config.cluster.v3.OutlierDetection`) as gRFC A50 reads it.
//!
//! Keeps the two gRPC algorithms (success rate, failure percentage) with their defaults; an
//! algorithm whose `enforcing_*` is 0 (failure percentage: also unset) is off. `consecutive_5xx` is
//! kept when set, for Meshwork's optional consecutive-failure mode, though gRPC ignores it.
//! Validation: well-formed non-negative durations and percentages ≤ 100. Runs no algorithm.

use std::time::Duration;

use meshwork_proto::envoy::config::cluster::v3::OutlierDetection as Proto;
use meshwork_proto::google::protobuf::UInt32Value;

use crate::xds::resource::common::{Invalid, Result, opt_duration};

/// A validated outlier detection config.
#[derive(Clone, Debug, PartialEq)]
pub struct OutlierDetection {
    /// Sweep period (default 10 s).
    pub interval: Duration,
    /// Ejection time unit, multiplied by the ejection count (default 30 s).
    pub base_ejection_time: Duration,
    /// Ejection time cap (default 300 s; the algorithm uses max(this, base)).
    pub max_ejection_time: Duration,
    /// Most endpoints ejected at once, percent (default 10; one may always be ejected).
    pub max_ejection_percent: u32,
    /// Success-rate ejection, when enforced.
    pub success_rate: Option<SuccessRateEjection>,
    /// Failure-percentage ejection, when enforced.
    pub failure_percentage: Option<FailurePercentageEjection>,
    /// Consecutive-5xx ejection as configured (not part of gRPC's A50; kept for Meshwork's own mode).
    pub consecutive_5xx: Option<Consecutive5xx>,
}

/// Success-rate algorithm parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuccessRateEjection {
    /// Threshold = mean − stdev × factor / 1000 (default 1900).
    pub stdev_factor: u32,
    /// Chance, percent, that an outlier is really ejected (default 100, never 0 here).
    pub enforcement_percentage: u32,
    /// Endpoints with enough requests needed to run (default 5).
    pub minimum_hosts: u32,
    /// Requests per interval for an endpoint to count (default 100).
    pub request_volume: u32,
}

/// Failure-percentage algorithm parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailurePercentageEjection {
    /// Eject when the failure percentage is above this (default 85).
    pub threshold: u32,
    /// Chance, percent, that an outlier is really ejected (never 0 here).
    pub enforcement_percentage: u32,
    /// Endpoints with enough requests needed to run (default 5).
    pub minimum_hosts: u32,
    /// Requests per interval for an endpoint to count (default 50).
    pub request_volume: u32,
}

/// Consecutive server errors before ejection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consecutive5xx {
    /// Failures in a row (as set).
    pub threshold: u32,
    /// Chance, percent, of enforcing (default 100).
    pub enforcement_percentage: u32,
}

fn or(v: Option<UInt32Value>, default: u32) -> u32 {
    v.map(|v| v.value).unwrap_or(default)
}

fn percent(v: Option<UInt32Value>, default: u32, field: &str) -> Result<u32> {
    let p = or(v, default);
    if p > 100 {
        return Err(Invalid::field(
            field,
            format!("is {p}; a percentage must be 0..=100"),
        ));
    }
    Ok(p)
}

impl TryFrom<&Proto> for OutlierDetection {
    type Error = Invalid;

    fn try_from(o: &Proto) -> Result<Self> {
        let interval =
            opt_duration(o.interval.as_ref(), "interval")?.unwrap_or(Duration::from_secs(10));
        let base_ejection_time = opt_duration(o.base_ejection_time.as_ref(), "base_ejection_time")?
            .unwrap_or(Duration::from_secs(30));
        let max_ejection_time = opt_duration(o.max_ejection_time.as_ref(), "max_ejection_time")?
            .unwrap_or(Duration::from_secs(300));
        let max_ejection_percent = percent(o.max_ejection_percent, 10, "max_ejection_percent")?;
        let sr_enforce = percent(o.enforcing_success_rate, 100, "enforcing_success_rate")?;
        let success_rate = (sr_enforce > 0).then(|| SuccessRateEjection {
            stdev_factor: or(o.success_rate_stdev_factor, 1900),
            enforcement_percentage: sr_enforce,
            minimum_hosts: or(o.success_rate_minimum_hosts, 5),
            request_volume: or(o.success_rate_request_volume, 100),
        });
        let fp_threshold = percent(
            o.failure_percentage_threshold,
            85,
            "failure_percentage_threshold",
        )?;
        let fp_enforce = percent(
            o.enforcing_failure_percentage,
            0,
            "enforcing_failure_percentage",
        )?;
        let failure_percentage = (fp_enforce > 0).then(|| FailurePercentageEjection {
            threshold: fp_threshold,
            enforcement_percentage: fp_enforce,
            minimum_hosts: or(o.failure_percentage_minimum_hosts, 5),
            request_volume: or(o.failure_percentage_request_volume, 50),
        });
        let c5_enforce = percent(
            o.enforcing_consecutive_5xx,
            100,
            "enforcing_consecutive_5xx",
        )?;
        let consecutive_5xx = o.consecutive_5xx.map(|t| Consecutive5xx {
            threshold: t.value,
            enforcement_percentage: c5_enforce,
        });
        Ok(OutlierDetection {
            interval,
            base_ejection_time,
            max_ejection_time,
            max_ejection_percent,
            success_rate,
            failure_percentage,
            consecutive_5xx,
        })
    }
}

impl OutlierDetection {
    /// Whether any ejection algorithm is on (otherwise the policy is a pass-through).
    pub fn is_enabled(&self) -> bool {
        self.success_rate.is_some() || self.failure_percentage.is_some()
    }
}
