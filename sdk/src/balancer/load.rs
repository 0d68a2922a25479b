//! Live per-endpoint load shared lock-free between the channel (writer, on the request path) and
//! pickers (readers): the in-flight request count used by least_request (gRFC A48) and p2c, and the
//! peak-EWMA latency used by p2c.
//!
//! The channel calls [`EndpointLoad::start`] when it sends an RPC to a picked endpoint and keeps
//! the returned [`InFlight`] until the RPC ends; it records the round-trip time with
//! [`InFlight::finish`]; the channel also counts each finished request in [`EndpointStats`]
//! (rates and latency quantiles for the admin endpoint). Nothing here allocates or locks on the
//! request path. This module does not pick.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::endpoint::EndpointHandle;
use super::ewma::{Clock, PeakEwma};
use super::stats::EndpointStats;

/// Load counters of one endpoint.
#[derive(Debug, Default)]
pub struct EndpointLoad {
    in_flight: AtomicU32,
    latency: PeakEwma,
    stats: EndpointStats,
}

impl EndpointLoad {
    /// Requests currently outstanding on the endpoint.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// The peak-EWMA latency estimator.
    pub fn latency(&self) -> &PeakEwma {
        &self.latency
    }

    /// Completed requests, errors and latencies, for the admin endpoint.
    pub fn stats(&self) -> &EndpointStats {
        &self.stats
    }

    /// Counts one more outstanding request, returning a guard that counts it down when dropped.
    pub fn start<'a>(&'a self) -> InFlight<'a> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight { load: self }
    }

    /// Counts one more outstanding request; pair with [`EndpointLoad::end`].
    pub fn begin(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one request as finished (saturating at zero).
    pub fn end(&self) {
        let _ = self
            .in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }
}

/// One outstanding request on an endpoint; dropping it counts the request as finished.
#[derive(Debug)]
pub struct InFlight<'a> {
    load: &'a EndpointLoad,
}

impl InFlight<'_> {
    /// Ends the request and folds its round-trip time into the endpoint's latency estimate.
    pub fn finish(self, rtt: Duration, clock: &Clock, decay: Duration) {
        self.load.latency.observe(rtt, clock.now_nanos(), decay);
        // Drop counts the request down.
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.load.end();
    }
}

/// An owned in-flight guard: keeps the endpoint handle alive for a request that outlives the
/// picker it came from (for example inside a response future).
#[derive(Debug)]
pub struct OwnedInFlight {
    endpoint: EndpointHandle,
}

impl OwnedInFlight {
    /// Counts one more outstanding request on `endpoint`.
    pub fn new(endpoint: EndpointHandle) -> Self {
        endpoint.load().begin();
        OwnedInFlight { endpoint }
    }

    /// The endpoint the request went to.
    pub fn endpoint(&self) -> &EndpointHandle {
        &self.endpoint
    }

    /// Ends the request and records its round-trip time.
    pub fn finish(self, rtt: Duration, clock: &Clock, decay: Duration) {
        self.endpoint
            .load()
            .latency()
            .observe(rtt, clock.now_nanos(), decay);
    }
}

impl Drop for OwnedInFlight {
    fn drop(&mut self) {
        self.endpoint.load().end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balancer::endpoint::EndpointId;

    #[test]
    fn guards_count_requests_up_and_down() {
        let h = EndpointHandle::new(EndpointId(1), "10.0.0.1:80".parse().unwrap());
        let a = h.load().start();
        let b = OwnedInFlight::new(h.clone());
        assert_eq!(h.load().in_flight(), 2);
        drop(a);
        let clock = Clock::manual();
        b.finish(Duration::from_millis(7), &clock, Duration::from_secs(10));
        assert_eq!(h.load().in_flight(), 0);
        let est = h
            .load()
            .latency()
            .estimate(0, Duration::from_secs(10), Duration::ZERO);
        assert_eq!(est, 7_000_000.0);
        h.load().end();
        assert_eq!(h.load().in_flight(), 0, "never underflows");
    }
}
