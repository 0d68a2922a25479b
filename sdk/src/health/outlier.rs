//! gRFC A50 outlier detection, sans-io: per-endpoint call counters in, eject / un-eject
//! decisions out.
//!
//! An [`OutlierDetector`] covers one set of endpoints (A50 runs one per priority; Envoy one per
//! cluster; the owner chooses). The request path records each finished call on the endpoint's
//! [`CallCounter`] (an atomic bump). The owner runs a timer: when [`OutlierDetector::next_sweep`]
//! is due it calls [`OutlierDetector::sweep`], which, as A50 specifies, records the time, swaps
//! every counter's buckets, runs success-rate then failure-percentage ejection (see
//! `algorithm.rs`), then for every endpoint decrements the ejection multiplier of those not
//! ejected and un-ejects those whose time is up: ejected at `t`, back at
//! `t + min(base_ejection_time × multiplier, max(base_ejection_time, max_ejection_time))`.
//! Ejecting sets the time and adds one to the multiplier. Each [`Decision`] is applied by the
//! owner with [`ClusterBalancer::set_usable`](crate::balancer::ClusterBalancer::set_usable)
//! (ejected = unusable, seen by the endpoint policy as TRANSIENT_FAILURE). Outliers a sweep
//! found but did not eject (enforcement draw, or `max_ejection_percent` reached) are kept for
//! [`OutlierDetector::take_unenforced`] (gRFC A91 metrics).
//!
//! Config changes follow A50: with an algorithm on, the first config starts the timer and zeroes
//! the counters, later ones keep the timer's start; with none on (or no `outlier_detection` at
//! all) the timer stops, everything is un-ejected, multipliers reset and counting stops.
//!
//! Extension, off by default ([`OutlierOptions::consecutive_failures`]): Envoy's
//! `consecutive_5xx` (which gRPC ignores) over gRPC codes, see [`is_server_error`]. When a
//! counter reports [`Recorded::StreakReached`] the owner calls
//! [`OutlierDetector::on_consecutive_failures`] to eject at once (within the same cap and
//! enforcement rules); sweeps also catch streaks the owner missed. Time (`tokio::time::Instant`)
//! and randomness ([`AtomicRng`]) are passed in; nothing here sleeps.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::balancer::{AtomicRng, EndpointId};
use crate::telemetry::UnenforcedReason;
use crate::xds::resource::cluster::OutlierDetection;

mod algorithm;
mod counter;

use algorithm::{Candidate, EjectionCap};
pub use counter::{CallCounter, Recorded, is_server_error};

/// Detector settings that are Meshwork's own, not from xDS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutlierOptions {
    /// Honour the cluster's `consecutive_5xx` / `enforcing_consecutive_5xx` (an Envoy feature
    /// gRPC does not implement). Off by default, so behaviour matches gRPC clients.
    pub consecutive_failures: bool,
}

/// What to do with an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Stop sending it traffic: `set_usable(id, false)`.
    Eject,
    /// Take it back: `set_usable(id, true)`.
    Uneject,
}

/// Why a decision was made (for logs, events and the admin view).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Its success rate fell below `mean − stdev × factor`.
    SuccessRate,
    /// Its failure percentage exceeded the threshold.
    FailurePercentage,
    /// It failed with a server error too many times in a row (Meshwork extension).
    ConsecutiveFailures,
    /// Its ejection time is over.
    EjectionExpired,
    /// Outlier detection was turned off for this cluster.
    Disabled,
}

/// One output of the detector, to apply to the balancer in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The endpoint.
    pub endpoint: EndpointId,
    /// Eject or un-eject.
    pub action: Action,
    /// Why.
    pub reason: Reason,
}

/// Outlier detection state of one set of endpoints.
#[derive(Debug, Default)]
pub struct OutlierDetector {
    config: Option<OutlierDetection>,
    options: OutlierOptions,
    /// Ordered so that a fixed seed gives the same decisions every run.
    entries: BTreeMap<EndpointId, Entry>,
    /// When the current interval started; `None` while disabled.
    timer_start: Option<Instant>,
    /// Outliers the sweeps found but did not eject, until taken (gRFC A91).
    unenforced: Vec<(Reason, UnenforcedReason)>,
}

#[derive(Debug, Default)]
struct Entry {
    counter: Arc<CallCounter>,
    ejected_at: Option<Instant>,
    multiplier: u32,
}

impl OutlierDetector {
    /// A detector with no config yet (disabled: nothing is counted or ejected).
    pub fn new(options: OutlierOptions) -> Self {
        OutlierDetector {
            options,
            ..OutlierDetector::default()
        }
    }

    /// Applies the cluster's `outlier_detection` (`None` = the A50 no-op config) at `now`.
    /// Returns un-ejections when detection is turned off.
    pub fn update_config(
        &mut self,
        config: Option<&OutlierDetection>,
        now: Instant,
    ) -> Vec<Decision> {
        self.config = config.cloned();
        let (counting, streak) = (self.is_enabled(), self.streak_threshold());
        for entry in self.entries.values() {
            entry.counter.configure(counting, streak);
        }
        if counting {
            if self.timer_start.is_none() {
                self.timer_start = Some(now);
                self.entries.values().for_each(|e| e.counter.reset());
            }
            return Vec::new();
        }
        self.timer_start = None;
        let mut decisions = Vec::new();
        for (id, entry) in &mut self.entries {
            entry.multiplier = 0;
            if entry.ejected_at.take().is_some() {
                decisions.push(decision(*id, Action::Uneject, Reason::Disabled));
            }
        }
        decisions
    }

    /// Replaces the endpoint set: new ids get fresh counters, missing ids are forgotten (their
    /// balancer entries are gone too, so no decision is needed).
    pub fn update_endpoints(&mut self, ids: impl IntoIterator<Item = EndpointId>) {
        let (counting, streak) = (self.is_enabled(), self.streak_threshold());
        let mut next = BTreeMap::new();
        for id in ids {
            let entry = self.entries.remove(&id).unwrap_or_else(|| {
                let entry = Entry::default();
                entry.counter.configure(counting, streak);
                entry
            });
            next.insert(id, entry);
        }
        self.entries = next;
    }

    /// The counter the request path bumps for `id`.
    pub fn counter(&self, id: EndpointId) -> Option<Arc<CallCounter>> {
        self.entries.get(&id).map(|e| Arc::clone(&e.counter))
    }

    /// Whether any algorithm (or the opted-in consecutive-failure extension) is on.
    pub fn is_enabled(&self) -> bool {
        self.config
            .as_ref()
            .is_some_and(OutlierDetection::is_enabled)
            || self.streak_threshold() > 0
    }

    /// When the next sweep is due; `None` while disabled.
    pub fn next_sweep(&self) -> Option<Instant> {
        let interval = self.config.as_ref()?.interval;
        Some(self.timer_start? + interval)
    }

    /// Whether `id` is currently ejected.
    pub fn is_ejected(&self, id: EndpointId) -> bool {
        self.entries
            .get(&id)
            .is_some_and(|e| e.ejected_at.is_some())
    }

    /// Until when `id` stays ejected (`None` when it is not ejected or detection is off).
    pub fn ejected_until(&self, id: EndpointId) -> Option<Instant> {
        let config = self.config.as_ref()?;
        let entry = self.entries.get(&id)?;
        entry
            .ejected_at
            .map(|at| at + ejection_time(config, entry.multiplier))
    }

    /// The ejection time multiplier of `id` (0 = never ejected or fully decayed).
    pub fn multiplier(&self, id: EndpointId) -> Option<u32> {
        self.entries.get(&id).map(|e| e.multiplier)
    }

    /// Endpoints ejected now.
    pub fn ejected_count(&self) -> usize {
        self.entries
            .values()
            .filter(|e| e.ejected_at.is_some())
            .count()
    }

    /// Runs one interval of A50 at `now` (call it when [`OutlierDetector::next_sweep`] is due).
    pub fn sweep(&mut self, now: Instant, rng: &AtomicRng) -> Vec<Decision> {
        let Some(config) = self.config.clone().filter(|_| self.is_enabled()) else {
            return Vec::new();
        };
        self.timer_start = Some(now);
        let mut candidates: Vec<Candidate> = self
            .entries
            .iter()
            .map(|(id, e)| {
                let (successes, failures) = e.counter.take();
                let ejected = e.ejected_at.is_some();
                Candidate {
                    id: *id,
                    successes,
                    failures,
                    ejected,
                }
            })
            .collect();
        let mut cap = self.cap(config.max_ejection_percent);
        let mut ejected = Vec::new();
        if let Some(sr) = &config.success_rate {
            let v = algorithm::success_rate(sr, &mut candidates, &mut cap, rng);
            ejected.extend(v.ejected.into_iter().map(|id| (id, Reason::SuccessRate)));
            let missed = v.unenforced.into_iter().map(|r| (Reason::SuccessRate, r));
            self.unenforced.extend(missed);
        }
        if let Some(fp) = &config.failure_percentage {
            let v = algorithm::failure_percentage(fp, &mut candidates, &mut cap, rng);
            ejected.extend(
                v.ejected
                    .into_iter()
                    .map(|id| (id, Reason::FailurePercentage)),
            );
            let missed = v
                .unenforced
                .into_iter()
                .map(|r| (Reason::FailurePercentage, r));
            self.unenforced.extend(missed);
        }
        let mut decisions: Vec<Decision> = ejected
            .into_iter()
            .map(|(id, reason)| self.eject(id, now, reason))
            .collect();
        decisions.extend(self.missed_streaks(now, rng));
        decisions.extend(self.expire(now, &config));
        decisions
    }

    /// The outliers the success-rate and failure-percentage algorithms found since the last
    /// call but did not eject, with the algorithm and why (gRFC A91 `ejections_unenforced`).
    pub fn take_unenforced(&mut self) -> Vec<(Reason, UnenforcedReason)> {
        std::mem::take(&mut self.unenforced)
    }

    /// Handles [`Recorded::StreakReached`] from `id`'s counter: ejects it now if the extension
    /// is on, it is not ejected, the cap allows and the enforcement draw says so.
    pub fn on_consecutive_failures(
        &mut self,
        id: EndpointId,
        now: Instant,
        rng: &AtomicRng,
    ) -> Option<Decision> {
        let threshold = self.streak_threshold();
        let enforcement = self.consecutive_enforcement();
        let max_percent = self.config.as_ref()?.max_ejection_percent;
        let entry = self.entries.get(&id)?;
        if threshold == 0 || entry.ejected_at.is_some() || entry.counter.streak() < threshold {
            return None;
        }
        entry.counter.reset_streak();
        let allowed = self.cap(max_percent).allows_one_more();
        (allowed && rng.below(100) < u64::from(enforcement))
            .then(|| self.eject(id, now, Reason::ConsecutiveFailures))
    }

    fn missed_streaks(&mut self, now: Instant, rng: &AtomicRng) -> Vec<Decision> {
        let threshold = self.streak_threshold();
        if threshold == 0 {
            return Vec::new();
        }
        let due: Vec<EndpointId> = self
            .entries
            .iter()
            .filter(|(_, e)| e.ejected_at.is_none() && e.counter.streak() >= threshold)
            .map(|(id, _)| *id)
            .collect();
        due.into_iter()
            .filter_map(|id| self.on_consecutive_failures(id, now, rng))
            .collect()
    }

    /// Step 5 of A50: decay multipliers of healthy endpoints, un-eject expired ones.
    fn expire(&mut self, now: Instant, config: &OutlierDetection) -> Vec<Decision> {
        let mut decisions = Vec::new();
        for (id, entry) in &mut self.entries {
            match entry.ejected_at {
                None => entry.multiplier = entry.multiplier.saturating_sub(1),
                Some(at) => {
                    if now >= at + ejection_time(config, entry.multiplier) {
                        entry.ejected_at = None;
                        decisions.push(decision(*id, Action::Uneject, Reason::EjectionExpired));
                    }
                }
            }
        }
        decisions
    }

    fn eject(&mut self, id: EndpointId, now: Instant, reason: Reason) -> Decision {
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.ejected_at = Some(now);
            entry.multiplier = entry.multiplier.saturating_add(1);
            entry.counter.reset_streak();
        }
        decision(id, Action::Eject, reason)
    }

    fn cap(&self, max_percent: u32) -> EjectionCap {
        EjectionCap {
            total: self.entries.len(),
            ejected: self.ejected_count(),
            max_percent,
        }
    }

    fn streak_threshold(&self) -> u32 {
        if !self.options.consecutive_failures {
            return 0;
        }
        self.config
            .as_ref()
            .and_then(|c| c.consecutive_5xx.as_ref())
            .map_or(0, |c| c.threshold)
    }

    fn consecutive_enforcement(&self) -> u32 {
        self.config
            .as_ref()
            .and_then(|c| c.consecutive_5xx.as_ref())
            .map_or(0, |c| c.enforcement_percentage)
    }
}

fn decision(endpoint: EndpointId, action: Action, reason: Reason) -> Decision {
    Decision {
        endpoint,
        action,
        reason,
    }
}

/// Base ejection time × multiplier, capped by `max(base, max_ejection_time)` (A50).
pub fn ejection_time(config: &OutlierDetection, multiplier: u32) -> Duration {
    config
        .base_ejection_time
        .saturating_mul(multiplier)
        .min(config.base_ejection_time.max(config.max_ejection_time))
}

#[cfg(test)]
mod tests;
