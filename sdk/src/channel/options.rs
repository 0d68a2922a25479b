//! [`ChannelOptions`]: the knobs of a channel — queueing and resolution bounds, its seed,
//! whether xDS-provided TLS is used (gRFC A29), and its resilience settings (retry buffer and default policy, retry budget, A6 throttling, active
//! health checks, Meshwork's outlier-detection extras) — and [`Resilience`], the shared retry
//! gates built from them when the channel starts. Validation errors name the option and the
//! accepted range.

use std::time::Duration;

use super::error::ChannelError;
use super::events::EventSink;
use super::replay::DEFAULT_RETRY_BUFFER;
use crate::balancer::Clock;
use crate::fault::FaultRegistry;
use crate::health::outlier::OutlierOptions;
use crate::resilience::{RetryBudget, RetryThrottle};
use crate::telemetry::Telemetry;
use crate::xds::resource::route::RetryPolicy;

/// Default of [`ChannelOptions::queue_timeout`].
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(20);
/// Default of [`ChannelOptions::resolve_timeout`].
pub const DEFAULT_RESOLVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Knobs of a channel.
#[derive(Clone, Debug)]
pub struct ChannelOptions {
    /// How long an RPC without a shorter `grpc-timeout` waits for a configuration or a ready
    /// endpoint before failing `UNAVAILABLE` (default 20 s).
    pub queue_timeout: Duration,
    /// How long an xDS channel waits for the target's first complete configuration; after it,
    /// RPCs fail at once with the resolver's error until a configuration arrives (default 20 s).
    pub resolve_timeout: Duration,
    /// Seed of the channel's randomness (routing draws, balancer seeds, channel id, retry
    /// jitter, outlier enforcement draws); `None` picks one at random.
    pub seed: Option<u64>,
    /// Retry policy for calls whose route has none: every call of a static channel, and xDS
    /// routes without `retry_policy` (a Meshwork extra: gRPC clients do not retry those).
    /// Default `None`.
    pub retry: Option<RetryPolicy>,
    /// Most request-body bytes kept so that a call can be retried (gRFC A6 retry buffer); a
    /// larger body commits the call (no retries). Default 64 KiB.
    pub retry_buffer_limit: usize,
    /// The channel's retry budget, shared by all its clusters, so retries cannot multiply an
    /// outage's load (Linkerd's defaults: 20 % of recent calls plus 10 per second, over 10 s).
    /// `None` turns it off. Transparent retries do not use it.
    pub retry_budget: Option<RetryBudgetConfig>,
    /// gRFC A6 retry throttling for the channel's server name; default off.
    pub retry_throttle: Option<RetryThrottleConfig>,
    /// Active gRPC health checking of every endpoint (gRFC A17); default off.
    pub health_check: Option<HealthCheckConfig>,
    /// Meshwork's outlier-detection extras (the consecutive-failure mode, off by default).
    pub outlier: OutlierOptions,
    /// Runtime fault rules consulted for every RPC (client scopes), before the route's xDS
    /// fault policy. A [`Mesh`](crate::Mesh) sets its own registry on the channels it makes;
    /// `None` applies xDS faults only.
    pub fault_registry: Option<FaultRegistry>,
    /// Where ejections and breaker overflows are reported (a [`Mesh`](crate::Mesh) sets its
    /// own; the default drops them).
    pub events: EventSink,
    /// Whether connections follow the TLS settings the control plane gives each cluster (CDS
    /// `transport_socket` with an `UpstreamTlsContext`, gRFC A29): TLS or mTLS with certificates
    /// from the bootstrap's `certificate_providers` and the cluster's SAN checks; clusters
    /// without TLS settings stay plaintext (A29's fallback credentials). Default `true`.
    ///
    /// gRPC uses xDS security only for channels built with `XdsChannelCredentials` (the
    /// interop client's `--secure_mode true`); Meshwork honours the control plane's TLS
    /// configuration by default, so that a mesh with STRICT mTLS (Istio's ISTIO_MUTUAL) works
    /// without code changes. `false` connects in plaintext whatever the clusters say (gRPC with
    /// insecure credentials). Read when a [`Mesh`](crate::Mesh) is built: it applies to every
    /// xDS channel of that mesh, which share one connection pool.
    pub xds_security: bool,
    /// Where the channel's gRFC A66 call and attempt metrics and spans go. A
    /// [`Mesh`](crate::Mesh) sets its own [`Telemetry`] on the channels it makes; the default,
    /// [`Telemetry::disabled`], adds no telemetry layer at all.
    pub telemetry: Telemetry,
}

impl Default for ChannelOptions {
    fn default() -> Self {
        ChannelOptions {
            queue_timeout: DEFAULT_QUEUE_TIMEOUT,
            resolve_timeout: DEFAULT_RESOLVE_TIMEOUT,
            seed: None,
            retry: None,
            retry_buffer_limit: DEFAULT_RETRY_BUFFER,
            retry_budget: Some(RetryBudgetConfig::default()),
            retry_throttle: None,
            health_check: None,
            outlier: OutlierOptions::default(),
            fault_registry: None,
            events: EventSink::default(),
            xds_security: true,
            telemetry: Telemetry::disabled(),
        }
    }
}

/// A retry budget: retries may add `ratio` of the calls of the last `ttl`, plus `min_per_sec`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryBudgetConfig {
    /// Share of recent calls that may be retried (default 0.2).
    pub ratio: f64,
    /// Retries per second always allowed (default 10).
    pub min_per_sec: u32,
    /// Window the budget remembers (1–60 s, default 10 s).
    pub ttl: Duration,
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        RetryBudgetConfig {
            ratio: 0.2,
            min_per_sec: 10,
            ttl: Duration::from_secs(10),
        }
    }
}

/// gRFC A6 `retryThrottling`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryThrottleConfig {
    /// `maxTokens` (0 < value ≤ 1000).
    pub max_tokens: f64,
    /// `tokenRatio` (≥ 0.001).
    pub token_ratio: f64,
}

/// Active health checking (gRFC A17). gRPC configures it through the service config's
/// `healthCheckConfig.serviceName`, which xDS does not carry, so Meshwork takes it here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HealthCheckConfig {
    /// The service name sent in `grpc.health.v1.HealthCheckRequest` (`""` = the whole server).
    pub service_name: String,
}

/// The shared retry gates of one channel.
#[derive(Debug, Default)]
pub(crate) struct Resilience {
    /// The retry budget.
    pub(crate) budget: Option<RetryBudget>,
    /// A6 throttling.
    pub(crate) throttle: Option<RetryThrottle>,
}

impl Resilience {
    /// Builds the gates `options` ask for.
    pub(crate) fn new(options: &ChannelOptions, clock: Clock) -> Result<Self, ChannelError> {
        let budget = match options.retry_budget {
            Some(b) => Some(
                RetryBudget::new(b.ttl, b.min_per_sec, b.ratio, clock).map_err(|e| {
                    ChannelError::InvalidOption {
                        option: "retry_budget",
                        message: e.to_string(),
                    }
                })?,
            ),
            None => None,
        };
        let throttle = match options.retry_throttle {
            Some(t) => Some(
                RetryThrottle::new(t.max_tokens, t.token_ratio).map_err(|e| {
                    ChannelError::InvalidOption {
                        option: "retry_throttle",
                        message: e.to_string(),
                    }
                })?,
            ),
            None => None,
        };
        Ok(Resilience { budget, throttle })
    }
}
