//! The client fault layer (DESIGN.md data flow: "route match → fault (delay/abort) → deadline"):
//! decides each RPC's injected faults from the target's xDS fault filters (gRFC A33, with the
//! per-route overrides of A39) and the mesh's runtime rules, then applies them with the generic
//! [`FaultLayer`](crate::fault::FaultLayer): delay first, then abort, both before any traffic.
//!
//! The listener's fault filters are looked at once per configuration ([`ListenerFaults`]); a
//! route without overrides for them shares the precomputed policy, so most RPCs allocate nothing
//! here. A matching runtime rule ([`RequestScope::Client`]: target, cluster, route, method) takes
//! precedence over the xDS policy. An injected delay counts against the RPC's deadline (A33): a
//! delay that would outlast it ends at the deadline and the RPC fails `DEADLINE_EXCEEDED`.
//! Injections are counted per channel ([`FaultInjections`]). This layer does not route or pick.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::Request;
use tokio::time::Instant;
use tonic::body::Body;

use super::core::{ChannelCore, SharedRng};
use super::deadline::CallBound;
use super::error::RpcError;
use super::route::Routed;
use crate::fault::{
    ActiveFaults, FaultDecider, FaultDecision, FaultLayer, FaultPolicy, RequestScope,
};
use crate::telemetry::FaultKind;
use crate::xds::resource::listener::{HttpFilter, HttpFilterConfig};
use crate::xds::resource::route::FilterOverrides;

/// How many RPCs of a channel got an injected fault, since it was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultInjections {
    /// RPCs delayed.
    pub delayed: u64,
    /// RPCs aborted (a delay cut short by the deadline counts as an abort too).
    pub aborted: u64,
}

/// The counters behind [`FaultInjections`], shared by every clone of a channel.
#[derive(Debug, Default)]
pub(crate) struct FaultCounters {
    delayed: AtomicU64,
    aborted: AtomicU64,
}

/// The fault filters of a listener's HCM chain, with the policy of a route that overrides none.
#[derive(Debug)]
pub(crate) struct ListenerFaults {
    filters: Vec<HttpFilter>,
    base: FaultPolicy,
}

/// Decides a client RPC's faults; see the module docs.
#[derive(Clone, Debug)]
pub(crate) struct ClientFaults {
    core: Arc<ChannelCore>,
}

impl FaultCounters {
    /// The counts so far.
    pub(crate) fn get(&self) -> FaultInjections {
        FaultInjections {
            delayed: self.delayed.load(Ordering::Relaxed),
            aborted: self.aborted.load(Ordering::Relaxed),
        }
    }

    fn count(&self, decision: &FaultDecision) {
        if decision.delay.is_some() {
            self.delayed.fetch_add(1, Ordering::Relaxed);
        }
        if decision.abort.is_some() {
            self.aborted.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl ListenerFaults {
    /// The fault filters of `filters`; `None` when there are none (nothing to decide per RPC).
    pub(crate) fn new(filters: &[HttpFilter]) -> Option<Self> {
        let filters: Vec<HttpFilter> = filters
            .iter()
            .filter(|f| matches!(f.config, HttpFilterConfig::Fault(_)))
            .cloned()
            .collect();
        if filters.is_empty() {
            return None;
        }
        let base = FaultPolicy::new(&filters, &FilterOverrides::new());
        Some(ListenerFaults { filters, base })
    }

    /// The effective policy for a route with `overrides` (A39: an override replaces the filter's
    /// config; `disabled` removes it).
    pub(crate) fn for_route(&self, overrides: &FilterOverrides) -> Cow<'_, FaultPolicy> {
        if self.filters.iter().any(|f| overrides.contains_key(&f.name)) {
            Cow::Owned(FaultPolicy::new(&self.filters, overrides))
        } else {
            Cow::Borrowed(&self.base)
        }
    }
}

impl ClientFaults {
    /// The fault layer of the channel `core`.
    pub(crate) fn layer(core: Arc<ChannelCore>) -> FaultLayer<ClientFaults> {
        FaultLayer::new(ClientFaults { core })
    }
}

impl FaultDecider<Body> for ClientFaults {
    fn decide(&self, request: &Request<Body>) -> FaultDecision {
        let core = &self.core;
        let Some(routed) = request.extensions().get::<Routed>() else {
            return FaultDecision::none();
        };
        let state = core.published.load();
        let policy = match (&state.faults, &routed.decision) {
            (Some(faults), Some(decision)) => Some(faults.for_route(decision.filter_overrides())),
            _ => None,
        };
        let policy = policy.as_deref().filter(|p| !p.is_empty());
        let route = routed.decision.as_ref().map_or("", |d| d.route_name());
        let scope = RequestScope::Client {
            target: &core.target,
            cluster: &routed.cluster,
            route,
            method: request.uri().path(),
        };
        let mut rng = SharedRng(&core.rng);
        let decision = match &core.options.fault_registry {
            Some(registry) => registry.decide(&scope, policy, request.headers(), &mut rng),
            None => match policy {
                Some(p) => p.decide(request.headers(), &ActiveFaults::process(), &mut rng),
                None => FaultDecision::none(),
            },
        };
        if decision.is_none() {
            return decision;
        }
        let decision = within_deadline(decision, request.extensions().get::<CallBound>(), core);
        core.fault_counters.count(&decision);
        let mesh = core.options.telemetry.mesh();
        if decision.delay.is_some() {
            mesh.fault_injected(&core.target, &routed.cluster, FaultKind::Delay);
        }
        if decision.abort.is_some() {
            mesh.fault_injected(&core.target, &routed.cluster, FaultKind::Abort);
        }
        tracing::debug!(
            target: "meshwork::fault",
            channel = %core.target,
            method = request.uri().path(),
            delay = ?decision.delay,
            abort = ?decision.abort.as_ref().map(tonic::Status::code),
            "fault injected"
        );
        decision
    }
}

/// Cuts a delay that would outlast the RPC's own deadline short: the RPC then fails
/// `DEADLINE_EXCEEDED` at its deadline, as it would had the delay happened on the wire.
fn within_deadline(
    mut decision: FaultDecision,
    bound: Option<&CallBound>,
    core: &ChannelCore,
) -> FaultDecision {
    let (Some(delay), Some(bound)) = (decision.delay, bound) else {
        return decision;
    };
    let now = Instant::now();
    let until = bound.until();
    if now + delay < until {
        return decision;
    }
    let error = bound.expired(&core.target, "an injected fault delay".to_string());
    if matches!(error, RpcError::DeadlineExceeded { .. }) {
        decision.delay = Some(until.saturating_duration_since(now));
        decision.abort = Some(tonic::Status::deadline_exceeded(format!(
            "deadline exceeded during an injected fault delay of {delay:?} on `{}`",
            core.target
        )));
    }
    decision
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xds::resource::listener::fault::FaultConfig;
    use crate::xds::resource::route::FilterOverride;

    fn fault_filter(name: &str) -> HttpFilter {
        HttpFilter {
            name: name.into(),
            config: HttpFilterConfig::Fault(FaultConfig::default()),
        }
    }

    #[test]
    fn routes_without_overrides_share_the_listener_policy() {
        let router = HttpFilter {
            name: "router".into(),
            config: HttpFilterConfig::Router,
        };
        assert!(ListenerFaults::new(std::slice::from_ref(&router)).is_none());
        let faults = ListenerFaults::new(&[fault_filter("fault"), router]).unwrap();
        assert!(matches!(
            faults.for_route(&FilterOverrides::new()),
            Cow::Borrowed(_)
        ));
        let mut overrides = FilterOverrides::new();
        overrides.insert("fault".into(), FilterOverride::Disabled);
        let policy = faults.for_route(&overrides);
        assert!(matches!(policy, Cow::Owned(_)));
        assert!(policy.is_empty(), "a disabled override removes the filter");
    }
}
