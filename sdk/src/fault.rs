//! Fault injection: delays and aborts injected into RPCs on purpose, to test how a system copes.
//!
//! Two sources decide faults, and one tower layer applies them:
//! - [`FaultPolicy`]: the xDS fault filter (`envoy.extensions.filters.http.fault.v3.HTTPFault`,
//!   gRFC A33 with the filter chain and per-route overrides of A39). Delay and abort are drawn
//!   independently with fractional percentages; aborts by HTTP status are mapped to gRPC codes;
//!   header-controlled faults apply only when the config asks for them; `max_active_faults` caps
//!   the RPCs under a fault at once, process-wide ([`ActiveFaults`]).
//! - [`FaultRegistry`]: runtime rules an operator sets through the admin endpoint, scoped to a
//!   client target, cluster, route or method, or a server method, each with an optional
//!   time-to-live. A matching runtime rule takes precedence over the xDS policy.
//! - [`FaultLayer`]: a generic tower layer over `http::Request` that sleeps for the delay, then
//!   answers with a trailers-only gRPC status for an abort, or passes the request on.
//!
//! [`wire`] converts rules to and from the admin API messages (`meshwork.admin.v1`).
//!
//! The deciding parts are sans-io: randomness comes from an injected
//! [`RandomSource`](crate::route::RandomSource) and time from `tokio::time`, so every behaviour
//! is reproducible with a seed and paused time. This module does not route, pick endpoints or
//! decode xDS (`xds::resource::listener::FaultConfig` does), and it does not serve the admin API
//! (the `admin` module exposes the registry).
//!
//! Not supported, as in A33: `response_rate_limit`, `upstream_cluster`, `downstream_nodes`,
//! runtime keys and the `x-envoy-fault-throughput-response*` headers. The `headers` selector,
//! deferred by A33, is honoured as Envoy does (all matchers must match).

use std::time::Duration;

pub mod active;
pub mod decision;
pub mod headers;
pub mod layer;
pub mod policy;
pub mod registry;
pub mod rule;
pub mod wire;

pub use active::{ActiveFault, ActiveFaults};
pub use decision::FaultDecision;
pub use layer::{FaultDecider, FaultLayer, FaultService, ResponseFuture};
pub use policy::FaultPolicy;
pub use registry::{DEFAULT_MAX_TTL, FaultEvent, FaultRegistry, FaultRegistryConfig};
pub use rule::{
    FaultRule, FaultRuleError, FaultRuleSpec, MethodPattern, RequestScope, RuleId, RuleScope,
};
pub use wire::WallClock;

/// The longest delay a header (`x-envoy-fault-delay-request`) or a runtime rule may ask for.
///
/// Longer values are clamped (header) or rejected (rule), so a typo cannot park RPCs for days.
pub const MAX_DELAY: Duration = Duration::from_secs(3600);
