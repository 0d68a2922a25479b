//! Instrument names, units, attribute keys and default histogram boundaries.
//!
//! Names, units and buckets are the gRFC ones (A66 per-call metrics, A78 xDS client and WRR
//! metrics, A91 outlier detection, A94 subchannel metrics, A96 retry metrics);
//! Meshwork's own instruments use the `meshwork.` prefix because A79 reserves `grpc.` for gRPC.
//! This module only holds constants; instruments are built in `instruments` and `mesh`.

/// `grpc.client.attempt.started` (Counter, `{attempt}`), gRFC A66.
pub const CLIENT_ATTEMPT_STARTED: &str = "grpc.client.attempt.started";
/// `grpc.client.attempt.duration` (Histogram, `s`), gRFC A66.
pub const CLIENT_ATTEMPT_DURATION: &str = "grpc.client.attempt.duration";
/// `grpc.client.attempt.sent_total_compressed_message_size` (Histogram, `By`), gRFC A66.
pub const CLIENT_ATTEMPT_SENT_SIZE: &str = "grpc.client.attempt.sent_total_compressed_message_size";
/// `grpc.client.attempt.rcvd_total_compressed_message_size` (Histogram, `By`), gRFC A66.
pub const CLIENT_ATTEMPT_RCVD_SIZE: &str = "grpc.client.attempt.rcvd_total_compressed_message_size";
/// `grpc.client.call.duration` (Histogram, `s`), gRFC A66.
pub const CLIENT_CALL_DURATION: &str = "grpc.client.call.duration";
/// `grpc.server.call.started` (Counter, `{call}`), gRFC A66.
pub const SERVER_CALL_STARTED: &str = "grpc.server.call.started";
/// `grpc.server.call.duration` (Histogram, `s`), gRFC A66.
pub const SERVER_CALL_DURATION: &str = "grpc.server.call.duration";
/// `grpc.server.call.sent_total_compressed_message_size` (Histogram, `By`), gRFC A66.
pub const SERVER_CALL_SENT_SIZE: &str = "grpc.server.call.sent_total_compressed_message_size";
/// `grpc.server.call.rcvd_total_compressed_message_size` (Histogram, `By`), gRFC A66.
pub const SERVER_CALL_RCVD_SIZE: &str = "grpc.server.call.rcvd_total_compressed_message_size";

/// `grpc.xds_client.connected` (Gauge, `{bool}`), gRFC A78.
pub const XDS_CLIENT_CONNECTED: &str = "grpc.xds_client.connected";
/// `grpc.xds_client.resource_updates_valid` (Counter, `{resource}`), gRFC A78.
pub const XDS_CLIENT_UPDATES_VALID: &str = "grpc.xds_client.resource_updates_valid";
/// `grpc.xds_client.resource_updates_invalid` (Counter, `{resource}`), gRFC A78.
pub const XDS_CLIENT_UPDATES_INVALID: &str = "grpc.xds_client.resource_updates_invalid";
/// `grpc.xds_client.server_failure` (Counter, `{failure}`), gRFC A78: xDS servers going from
/// healthy to unhealthy (a stream that failed or closed before any response, gRFC A57).
pub const XDS_CLIENT_SERVER_FAILURE: &str = "grpc.xds_client.server_failure";
/// `grpc.xds_client.resources` (Gauge, `{resource}`), gRFC A78/A88: cached resources by state.
pub const XDS_CLIENT_RESOURCES: &str = "grpc.xds_client.resources";
/// `grpc.lb.outlier_detection.ejections_enforced` (Counter, `{ejection}`), gRFC A91.
pub const OUTLIER_EJECTIONS_ENFORCED: &str = "grpc.lb.outlier_detection.ejections_enforced";
/// `grpc.lb.outlier_detection.ejections_unenforced` (Counter, `{ejection}`), gRFC A91.
pub const OUTLIER_EJECTIONS_UNENFORCED: &str = "grpc.lb.outlier_detection.ejections_unenforced";
/// `grpc.client.call.retries` (Histogram, `{retry}`, buckets [`RETRY_BUCKETS`]), gRFC A96:
/// retries of one call, transparent retries excluded; calls without retries record nothing.
/// Off by default ([`TelemetryBuilder::enable_metric`](super::TelemetryBuilder::enable_metric)).
pub const CLIENT_CALL_RETRIES: &str = "grpc.client.call.retries";
/// `grpc.client.call.transparent_retries` (Histogram, `{transparent_retry}`, buckets
/// [`TRANSPARENT_RETRY_BUCKETS`]), gRFC A96. Off by default.
pub const CLIENT_CALL_TRANSPARENT_RETRIES: &str = "grpc.client.call.transparent_retries";
/// `grpc.client.call.hedges` (Histogram, `{hedge}`), gRFC A96. Meshwork never hedges, so every
/// call has 0 hedges, which A96 does not record: enabling it is accepted and records nothing.
pub const CLIENT_CALL_HEDGES: &str = "grpc.client.call.hedges";
/// `grpc.client.call.retry_delay` (Histogram, `s`, A66 latency buckets), gRFC A96: the time a
/// call spent with no attempt in flight (backoff). Off by default.
pub const CLIENT_CALL_RETRY_DELAY: &str = "grpc.client.call.retry_delay";
/// `grpc.subchannel.disconnections` (Counter, `{disconnection}`), gRFC A94. Off by default.
pub const SUBCHANNEL_DISCONNECTIONS: &str = "grpc.subchannel.disconnections";
/// `grpc.subchannel.connection_attempts_succeeded` (Counter, `{attempt}`), gRFC A94. Off by
/// default.
pub const SUBCHANNEL_ATTEMPTS_SUCCEEDED: &str = "grpc.subchannel.connection_attempts_succeeded";
/// `grpc.subchannel.connection_attempts_failed` (Counter, `{attempt}`), gRFC A94. Off by
/// default.
pub const SUBCHANNEL_ATTEMPTS_FAILED: &str = "grpc.subchannel.connection_attempts_failed";
/// `grpc.subchannel.open_connections` (UpDownCounter, `{connection}`), gRFC A94. Off by default.
pub const SUBCHANNEL_OPEN_CONNECTIONS: &str = "grpc.subchannel.open_connections";
/// `grpc.lb.wrr.rr_fallback` (Counter, `{update}`), gRFC A78: scheduler updates with fewer than
/// two usable weights, which fall back to round robin. Off by default.
pub const WRR_RR_FALLBACK: &str = "grpc.lb.wrr.rr_fallback";
/// `grpc.lb.wrr.endpoint_weight_not_yet_usable` (Counter, `{endpoint}`), gRFC A78: endpoints
/// without a usable weight yet (no report, or in blackout) per scheduler update. Off by default.
pub const WRR_WEIGHT_NOT_YET_USABLE: &str = "grpc.lb.wrr.endpoint_weight_not_yet_usable";
/// `grpc.lb.wrr.endpoint_weight_stale` (Counter, `{endpoint}`), gRFC A78: endpoints whose last
/// report is older than the expiration period, per scheduler update. Off by default.
pub const WRR_WEIGHT_STALE: &str = "grpc.lb.wrr.endpoint_weight_stale";
/// `grpc.lb.wrr.endpoint_weights` (Histogram, `{weight}`), gRFC A78: every endpoint's weight
/// (0 when unusable) per scheduler update. Off by default.
pub const WRR_ENDPOINT_WEIGHTS: &str = "grpc.lb.wrr.endpoint_weights";

/// The instruments that are off until enabled by name (gRFC A79: experimental metrics start
/// off), in the order [`TelemetryError::UnknownMetric`](super::TelemetryError::UnknownMetric)
/// lists them.
pub const OPTIONAL_METRICS: [&str; 12] = [
    CLIENT_CALL_RETRIES,
    CLIENT_CALL_TRANSPARENT_RETRIES,
    CLIENT_CALL_HEDGES,
    CLIENT_CALL_RETRY_DELAY,
    SUBCHANNEL_DISCONNECTIONS,
    SUBCHANNEL_ATTEMPTS_SUCCEEDED,
    SUBCHANNEL_ATTEMPTS_FAILED,
    SUBCHANNEL_OPEN_CONNECTIONS,
    WRR_RR_FALLBACK,
    WRR_WEIGHT_NOT_YET_USABLE,
    WRR_WEIGHT_STALE,
    WRR_ENDPOINT_WEIGHTS,
];
/// `meshwork.breaker.overflows` (Counter, `{request}`): requests refused by a circuit breaker.
pub const BREAKER_OVERFLOWS: &str = "meshwork.breaker.overflows";
/// `meshwork.outlier.ejections` (Counter, `{ejection}`): endpoints ejected by outlier detection.
pub const OUTLIER_EJECTIONS: &str = "meshwork.outlier.ejections";
/// `meshwork.fault.injected` (Counter, `{fault}`): delays and aborts injected into RPCs.
pub const FAULT_INJECTED: &str = "meshwork.fault.injected";
/// `meshwork.retry.budget_exhausted` (Counter, `{retry}`): retries refused by the retry budget.
pub const RETRY_BUDGET_EXHAUSTED: &str = "meshwork.retry.budget_exhausted";

/// Attribute `grpc.method`: `package.Service/Method`, or [`OTHER_METHOD`].
pub const ATTR_METHOD: &str = "grpc.method";
/// Attribute `grpc.target`: the canonical channel target (`dns:///host:port`, `xds:///name`).
pub const ATTR_TARGET: &str = "grpc.target";
/// Attribute `grpc.status`: the status code name (`OK`, `UNAVAILABLE`, ...).
pub const ATTR_STATUS: &str = "grpc.status";
/// Optional attribute `grpc.lb.locality`: `{region="R", zone="Z", sub_zone="S"}`.
pub const ATTR_LOCALITY: &str = "grpc.lb.locality";
/// Optional attribute `grpc.lb.backend_service`: the xDS cluster name (gRFC A89).
pub const ATTR_BACKEND_SERVICE: &str = "grpc.lb.backend_service";
/// Attribute `grpc.lb.outlier_detection.detection_method`: `success_rate` or
/// `failure_percentage` (gRFC A91).
pub const ATTR_DETECTION_METHOD: &str = "grpc.lb.outlier_detection.detection_method";
/// Attribute `grpc.lb.outlier_detection.unenforced_reason`: `enforcement_percentage` or
/// `max_ejection_overflow` (gRFC A91).
pub const ATTR_UNENFORCED_REASON: &str = "grpc.lb.outlier_detection.unenforced_reason";
/// Attribute `grpc.xds.authority`: the xDS authority, [`XDS_OLD_AUTHORITY`] for non-`xdstp`
/// names (gRFC A78).
pub const ATTR_XDS_AUTHORITY: &str = "grpc.xds.authority";
/// Attribute `grpc.xds.cache_state`: `requested`, `acked`, `nacked_but_cached`, ... (A78, A88).
pub const ATTR_XDS_CACHE_STATE: &str = "grpc.xds.cache_state";
/// Attribute `grpc.xds.server`: the xDS server URI (A78).
pub const ATTR_XDS_SERVER: &str = "grpc.xds.server";
/// Attribute `grpc.xds.resource_type`: e.g. `envoy.config.listener.v3.Listener` (A78).
pub const ATTR_XDS_RESOURCE_TYPE: &str = "grpc.xds.resource_type";
/// Optional attribute `grpc.disconnect_error` on `grpc.subchannel.disconnections` (gRFC A94):
/// `GOAWAY <CODE>`, `subchannel shutdown`, `connection reset`, `connection timed out`,
/// `connection aborted`, `socket error` or `unknown`.
pub const ATTR_DISCONNECT_ERROR: &str = "grpc.disconnect_error";
/// Optional attribute `grpc.security_level` on `grpc.subchannel.open_connections` (gRFC A94):
/// `none`, `integrity_only` or `privacy_and_integrity`.
pub const ATTR_SECURITY_LEVEL: &str = "grpc.security_level";
/// Attribute `meshwork.cluster`: the xDS cluster name on Meshwork's own instruments.
pub const ATTR_CLUSTER: &str = "meshwork.cluster";
/// Attribute `meshwork.fault.kind`: `delay` or `abort`.
pub const ATTR_FAULT_KIND: &str = "meshwork.fault.kind";

/// The `grpc.xds.authority` value of old-style (non-`xdstp`) resource names (gRFC A78).
pub const XDS_OLD_AUTHORITY: &str = "#old";

/// The `grpc.target` of the xDS client metrics a [`Mesh`](crate::Mesh) records.
///
/// gRFC A78 labels xDS client metrics with the target of the channel the client serves (or
/// `#server` for xDS-enabled servers), because gRFC A71 gives every channel target its own
/// client. Meshwork keeps one client per process (gRFC A27), shared by every channel, so no
/// single channel target names it: counting each update once per channel would multiply it,
/// and naming one channel would misattribute it. The shared client uses this value instead, a
/// `#`-prefixed name like `#server` that no channel target URI can take.
pub const XDS_SHARED_TARGET: &str = "#mesh";

/// The `grpc.method` value for methods that are not registered (A66 cardinality guard).
pub const OTHER_METHOD: &str = "other";

/// Span attribute `rpc.system.name` (OTel semantic conventions for RPC).
pub const SPAN_RPC_SYSTEM: &str = "rpc.system.name";
/// Span attribute `rpc.method` (OTel semantic conventions for RPC).
pub const SPAN_RPC_METHOD: &str = "rpc.method";
/// Span attribute holding the status code name (semconv v1.42–1.44 key).
pub const SPAN_RPC_STATUS: &str = "rpc.response.status_code";
/// Attempt span attribute `previous-rpc-attempts` (gRFC A72).
pub const SPAN_PREVIOUS_ATTEMPTS: &str = "previous-rpc-attempts";
/// Attempt span attribute `transparent-retry` (gRFC A72).
pub const SPAN_TRANSPARENT_RETRY: &str = "transparent-retry";

/// A66 latency buckets, in seconds.
pub const LATENCY_BUCKETS: [f64; 41] = [
    0.0, 0.00001, 0.00005, 0.0001, 0.0003, 0.0006, 0.0008, 0.001, 0.002, 0.003, 0.004, 0.005,
    0.006, 0.008, 0.01, 0.013, 0.016, 0.02, 0.025, 0.03, 0.04, 0.05, 0.065, 0.08, 0.1, 0.13, 0.16,
    0.2, 0.25, 0.3, 0.4, 0.5, 0.65, 0.8, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0,
];

/// A96 buckets of `grpc.client.call.retries`.
pub const RETRY_BUCKETS: [f64; 5] = [1.0, 2.0, 3.0, 4.0, 5.0];

/// A96 buckets of `grpc.client.call.transparent_retries`.
pub const TRANSPARENT_RETRY_BUCKETS: [f64; 6] = [1.0, 2.0, 3.0, 4.0, 5.0, 10.0];

/// A66 size buckets, in bytes.
pub const SIZE_BUCKETS: [f64; 14] = [
    0.0,
    1024.0,
    2048.0,
    4096.0,
    16384.0,
    65536.0,
    262144.0,
    1048576.0,
    4194304.0,
    16777216.0,
    67108864.0,
    268435456.0,
    1073741824.0,
    4294967296.0,
];
