//! Instrument names, units, attribute keys and default histogram boundaries.
//!
//! Names, units and buckets are the gRFC ones (A66 per-call metrics, A78 xDS client metrics);
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
