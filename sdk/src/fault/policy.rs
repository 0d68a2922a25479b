//! The effective xDS fault config for an RPC and the draws that turn it into a [`FaultDecision`]
//! (gRFC A33, with the filter chain and overrides of A39).
//!
//! Each `HTTPFault` filter in the listener's HCM chain contributes its config, unless the route
//! overrides it: a `typed_per_filter_config` entry for the filter's instance name (already merged
//! virtual host → route → weighted cluster by [`RouteDecision`](crate::route::RouteDecision))
//! **replaces** the filter's config whole, and a `disabled` entry removes the filter for that
//! route. An override of another type under a fault filter's name is ignored (the listener's
//! config stays); the resolver reports such mismatches.
//!
//! Drawing follows A33: delay and abort each draw their own number in `0..1_000_000` against
//! their share (so 20 % delay + 5 % abort touches 24 % of RPCs); header-controlled values are read
//! only when the config says `header_delay` / `header_abort`; an HTTP status is mapped to a gRPC
//! code; and an RPC that would get a fault gets none when `max_active_faults` RPCs already have
//! one (`0` disables the filter). With several fault filters, delays add up and the first abort
//! ends the chain, as running the filters in order would.

use std::time::Duration;

use tonic::codegen::http::HeaderMap;

use super::active::ActiveFaults;
use super::decision::FaultDecision;
use super::headers;
use crate::route::RandomSource;
use crate::route::matcher::header_value;
use crate::xds::resource::common::Fraction;
use crate::xds::resource::listener::fault::{
    AbortSource, DelaySource, FaultConfig, http_status_to_code,
};
use crate::xds::resource::listener::{HttpFilter, HttpFilterConfig};
use crate::xds::resource::route::{FilterOverride, FilterOverrides};

/// The fault filters that apply to one route, in chain order, each with its effective config.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultPolicy {
    filters: Vec<NamedFault>,
}

#[derive(Clone, Debug, PartialEq)]
struct NamedFault {
    name: String,
    config: FaultConfig,
}

impl FaultPolicy {
    /// The policy for a route: the listener's fault filters with the route's overrides applied
    /// (an override replaces the filter's config; `disabled` drops the filter).
    pub fn new(filters: &[HttpFilter], overrides: &FilterOverrides) -> Self {
        let filters = filters
            .iter()
            .filter_map(|f| {
                let HttpFilterConfig::Fault(base) = &f.config else {
                    return None;
                };
                let config = match overrides.get(&f.name) {
                    Some(FilterOverride::Disabled) => return None,
                    Some(FilterOverride::Fault(over)) => over.clone(),
                    Some(FilterOverride::Opaque { .. }) | None => base.clone(),
                };
                Some(NamedFault {
                    name: f.name.clone(),
                    config,
                })
            })
            .collect();
        FaultPolicy { filters }
    }

    /// A policy with a single fault filter config (for callers without an xDS listener).
    pub fn single(name: impl Into<String>, config: FaultConfig) -> Self {
        FaultPolicy {
            filters: vec![NamedFault {
                name: name.into(),
                config,
            }],
        }
    }

    /// Whether no fault filter applies (nothing will ever be injected).
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }

    /// The effective configs, in chain order, by filter instance name.
    pub fn configs(&self) -> impl Iterator<Item = (&str, &FaultConfig)> {
        self.filters.iter().map(|f| (f.name.as_str(), &f.config))
    }

    /// Draws the faults for one RPC carrying `headers`. Faults that fire take a slot in
    /// `active` (released when the decision is dropped); at a filter's `max_active_faults` that
    /// filter injects nothing.
    pub fn decide(
        &self,
        headers: &HeaderMap,
        active: &ActiveFaults,
        rng: &mut impl RandomSource,
    ) -> FaultDecision {
        let mut decision = FaultDecision::none();
        for f in &self.filters {
            let next = decide_one(f, headers, active, decision.is_counted(), rng);
            decision = decision.then(next);
            if decision.abort.is_some() {
                break;
            }
        }
        decision
    }
}

fn decide_one(
    f: &NamedFault,
    headers: &HeaderMap,
    active: &ActiveFaults,
    already_counted: bool,
    rng: &mut impl RandomSource,
) -> FaultDecision {
    let c = &f.config;
    if c.max_active_faults == Some(0) || !headers_match(c, headers) {
        return FaultDecision::none();
    }
    let delay = c.delay.as_ref().and_then(|d| {
        let (length, share) = match d.source {
            DelaySource::Fixed(length) => (Some(length), d.percentage),
            DelaySource::Header => (
                headers::delay(headers),
                headers::percentage(headers, headers::DELAY_PERCENTAGE, d.percentage),
            ),
        };
        draw(share, rng).then_some(length).flatten()
    });
    let abort = c.abort.as_ref().and_then(|a| {
        let (code, share) = match a.source {
            AbortSource::HttpStatus(s) => (Some(http_status_to_code(s)), a.percentage),
            AbortSource::GrpcStatus(code) => (Some(code), a.percentage),
            AbortSource::Header => (
                headers::abort(headers),
                headers::percentage(headers, headers::ABORT_PERCENTAGE, a.percentage),
            ),
        };
        draw(share, rng).then_some(code).flatten()
    });
    let delay = delay.filter(|d| *d > Duration::ZERO);
    if delay.is_none() && abort.is_none() {
        return FaultDecision::none();
    }
    let status = abort.map(|code| {
        tonic::Status::new(
            code,
            format!("fault injected by xDS fault filter `{}`", f.name),
        )
    });
    let decision = FaultDecision::new(delay, status);
    if already_counted {
        // This RPC already holds a slot; it counts once, but this filter's cap still applies.
        let within = c
            .max_active_faults
            .is_none_or(|max| active.current() <= max);
        return if within {
            decision
        } else {
            FaultDecision::none()
        };
    }
    match active.try_acquire(c.max_active_faults) {
        Some(slot) => decision.holding(slot),
        None => FaultDecision::none(),
    }
}

/// One independent draw in `0..1_000_000` against `share`. Always consumes a number, so the
/// sequence of draws does not depend on earlier outcomes.
fn draw(share: Fraction, rng: &mut impl RandomSource) -> bool {
    share.admits(rng.below(Fraction::MILLION))
}

/// The `headers` selector: every matcher must match (`-bin` headers count as absent).
fn headers_match(c: &FaultConfig, headers: &HeaderMap) -> bool {
    c.headers.iter().all(|m| {
        let value = if m.name.ends_with("-bin") {
            None
        } else {
            header_value(headers, m.name.as_str())
        };
        m.matches(value.as_deref())
    })
}

#[cfg(test)]
mod tests;
