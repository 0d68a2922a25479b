//! `client_side_weighted_round_robin` (gRFC A58): round robin over READY endpoints, weighted by
//! what the backends report about their own load ([`super::weight`]).
//!
//! The policy reads every READY endpoint's current weight when it builds a picker, and the
//! cluster rebuilds the picker every `weight_update_period` (1 s) so new reports take effect.
//! Endpoints without a weight get the mean of the others; with fewer than two weights every
//! endpoint counts the same and the picker is plain round robin, as A58 requires.
//!
//! A58 describes an EDF scheduler behind a lock; Meshwork uses a lock-free static stride
//! scheduler instead (as gRPC C-core does): weights are scaled to 1..=65535, and slot `seq` of a
//! shared atomic sequence goes to endpoint `seq % n` in generation `seq / n` when that endpoint's
//! accumulated weight crosses a multiple of 65535 (plus a seeded per-endpoint offset). Over a
//! window every endpoint is picked in exact proportion to its scaled weight. Weights below 10 %
//! of the largest are raised to 10 %, which bounds the expected slots tried per pick to 10.
//!
//! Each build records gRFC A78's WRR metrics when enabled (`grpc.lb.wrr.rr_fallback`,
//! `endpoint_weight_not_yet_usable`, `endpoint_weight_stale`, `endpoint_weights`); picks never
//! record anything.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::telemetry::{WrrMetrics, WrrUpdate};
use crate::xds::resource::cluster::WrrConfig;

use super::endpoint::{Connectivity, EndpointHandle, Member, aggregate};
use super::ewma::Clock;
use super::picker::{PickRequest, PickResult, Picker};
use super::rng::AtomicRng;
use super::weight::{WeightRules, WeightState};
use super::{Built, no_ready};

const MAX_WEIGHT: u64 = u16::MAX as u64;
const MIN_RATIO: f64 = 0.1;

/// Builds weighted round-robin pickers.
#[derive(Debug)]
pub(crate) struct Wrr {
    rules: WeightRules,
    clock: Clock,
    metrics: WrrMetrics,
}

impl Wrr {
    /// A policy with these A58 settings reading time from `clock`.
    pub fn new(config: &WrrConfig, clock: Clock) -> Self {
        Wrr {
            rules: WeightRules {
                blackout: config.blackout_period,
                expiration: config.weight_expiration_period,
                error_penalty: f64::from(config.error_utilization_penalty),
            },
            clock,
            metrics: WrrMetrics::default(),
        }
    }

    /// Records each scheduler update into `metrics` (gRFC A78).
    pub fn with_metrics(mut self, metrics: WrrMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// A picker over the READY members with their current weights.
    pub fn build(&mut self, members: &[Member], seed: &AtomicRng, fail: &PickResult) -> Built {
        let state = aggregate(members.iter().map(|m| m.state));
        let ready: Vec<EndpointHandle> = members
            .iter()
            .filter(|m| m.state == Connectivity::Ready)
            .map(|m| m.handle.clone())
            .collect();
        if ready.is_empty() {
            return no_ready(state, members, fail);
        }
        let now = self.clock.now_nanos();
        let looked_up: Vec<(f64, WeightState)> = ready
            .iter()
            .map(|h| h.backend_weight().weight_state(now, &self.rules))
            .collect();
        let weights: Vec<f64> = looked_up.iter().map(|(w, _)| *w).collect();
        if self.metrics.is_enabled() {
            record(&self.metrics, &looked_up, &weights);
        }
        let schedule = scale(&weights).map(|scaled| {
            scaled
                .into_iter()
                .map(|w| (w, seed.below(MAX_WEIGHT)))
                .collect()
        });
        Built::new(
            state,
            WrrPicker {
                ready: ready.into_boxed_slice(),
                schedule,
                seq: AtomicU64::new(seed.next_u64() >> 1),
            },
        )
    }
}

/// One scheduler update's A78 metrics. Falling back means fewer than two usable weights, as
/// in [`scale`] (equal weights are not a fallback).
fn record(metrics: &WrrMetrics, looked_up: &[(f64, WeightState)], weights: &[f64]) {
    let count = |state: WeightState| looked_up.iter().filter(|(_, s)| *s == state).count() as u64;
    let usable = weights
        .iter()
        .filter(|w| w.is_finite() && **w > 0.0)
        .count();
    metrics.record(&WrrUpdate {
        rr_fallback: usable < 2,
        not_yet_usable: count(WeightState::NotYetUsable),
        stale: count(WeightState::Stale),
        weights,
    });
}

/// Scaled weights for the stride scheduler, or `None` when every endpoint weighs the same.
fn scale(weights: &[f64]) -> Option<Vec<u64>> {
    let known: Vec<f64> = weights
        .iter()
        .copied()
        .filter(|w| w.is_finite() && *w > 0.0)
        .collect();
    if known.len() < 2 {
        return None;
    }
    let mean = known.iter().sum::<f64>() / known.len() as f64;
    let filled = |w: f64| if w.is_finite() && w > 0.0 { w } else { mean };
    let max = weights.iter().map(|&w| filled(w)).fold(0.0, f64::max);
    let floor = (MAX_WEIGHT as f64 * MIN_RATIO).round() as u64;
    let scaled: Vec<u64> = weights
        .iter()
        .map(|&w| ((filled(w) / max * MAX_WEIGHT as f64).round() as u64).clamp(floor, MAX_WEIGHT))
        .collect();
    let first = scaled[0];
    if scaled.iter().all(|&w| w == first) {
        None
    } else {
        Some(scaled)
    }
}

/// Stride-scheduled weighted round robin (see module docs).
#[derive(Debug)]
pub(crate) struct WrrPicker {
    ready: Box<[EndpointHandle]>,
    /// (scaled weight, offset) per endpoint; `None` = plain round robin.
    schedule: Option<Box<[(u64, u64)]>>,
    seq: AtomicU64,
}

impl Picker for WrrPicker {
    fn pick(&self, _: &PickRequest) -> PickResult {
        let n = self.ready.len() as u64;
        let Some(schedule) = &self.schedule else {
            let seq = self.seq.fetch_add(1, Ordering::Relaxed);
            return PickResult::Pick(self.ready[(seq % n) as usize].clone());
        };
        // Terminates within one generation: the heaviest endpoint (weight 65535) always passes.
        loop {
            let seq = self.seq.fetch_add(1, Ordering::Relaxed);
            let i = (seq % n) as usize;
            let (weight, offset) = schedule[i];
            let generation = seq / n;
            // (weight × generation + offset) mod 65535, without overflow.
            let acc = (weight * (generation % MAX_WEIGHT) + offset) % MAX_WEIGHT;
            if acc >= MAX_WEIGHT - weight {
                return PickResult::Pick(self.ready[i].clone());
            }
        }
    }
}

#[cfg(test)]
mod tests;
