//! The opt-in switch for instruments that are off by default (gRFC A79: experimental metrics
//! start off and users enable them by name).
//!
//! The A66 per-call metrics, the A78 xDS client metrics, the A91 outlier-detection metrics and
//! Meshwork's own `meshwork.*` counters are always recorded when telemetry is on. The A96 retry,
//! A94 subchannel and A78 weighted-round-robin instruments ([`OPTIONAL_METRICS`]) are recorded
//! only when enabled with [`TelemetryBuilder::enable_metric`] or
//! [`TelemetryBuilder::enable_metrics`]; an instrument that is off is never built, and the code
//! that would record it pays one branch. Optional labels stay a separate switch
//! ([`TelemetryBuilder::optional_label`]).

use super::builder::TelemetryBuilder;
use super::error::TelemetryError;
use super::names::OPTIONAL_METRICS;

/// Which of [`OPTIONAL_METRICS`] are on (bit `i` = `OPTIONAL_METRICS[i]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct EnabledMetrics(u32);

impl EnabledMetrics {
    /// Turns `name` on; `None` when it is not one of [`OPTIONAL_METRICS`].
    pub(crate) fn enable(&mut self, name: &str) -> Option<()> {
        let i = OPTIONAL_METRICS.iter().position(|m| *m == name)?;
        self.0 |= 1 << i;
        Some(())
    }

    /// Whether `name` is on.
    pub(crate) fn is_on(self, name: &str) -> bool {
        OPTIONAL_METRICS
            .iter()
            .position(|m| *m == name)
            .is_some_and(|i| self.0 & (1 << i) != 0)
    }

    /// Whether any of `names` is on.
    pub(crate) fn any(self, names: &[&str]) -> bool {
        names.iter().any(|n| self.is_on(n))
    }
}

impl TelemetryBuilder {
    /// Records the off-by-default instrument `name` (gRFC A79: experimental metrics are
    /// enabled by name), one of [`OPTIONAL_METRICS`]:
    /// - A96 retries: `grpc.client.call.retries`, `grpc.client.call.transparent_retries`,
    ///   `grpc.client.call.retry_delay` (and `grpc.client.call.hedges`, accepted but never
    ///   recorded: Meshwork does not hedge, and A96 does not record a count of 0);
    /// - A94 subchannels: `grpc.subchannel.disconnections`,
    ///   `grpc.subchannel.connection_attempts_succeeded` / `_failed`,
    ///   `grpc.subchannel.open_connections`;
    /// - A78 weighted round robin: `grpc.lb.wrr.rr_fallback`,
    ///   `grpc.lb.wrr.endpoint_weight_not_yet_usable` / `_stale`, `grpc.lb.wrr.endpoint_weights`.
    ///
    /// Enabling an instrument that is always on, or twice, is not an error. An unknown name is
    /// [`TelemetryError::UnknownMetric`], which lists the known ones.
    ///
    /// ```
    /// # fn main() -> Result<(), meshwork::telemetry::TelemetryError> {
    /// use meshwork::telemetry::Telemetry;
    /// let telemetry = Telemetry::builder()
    ///     .enable_metric("grpc.client.call.retries")?
    ///     .enable_metrics(["grpc.subchannel.open_connections", "grpc.lb.wrr.rr_fallback"])?
    ///     .build()?;
    /// # let _ = telemetry;
    /// assert!(Telemetry::builder().enable_metric("grpc.client.call.retry").is_err());
    /// # Ok(()) }
    /// ```
    pub fn enable_metric(mut self, name: &str) -> Result<Self, TelemetryError> {
        if self.enabled_metrics.enable(name).is_none() && !always_on(name) {
            return Err(TelemetryError::UnknownMetric {
                name: name.to_owned(),
                known: OPTIONAL_METRICS.join(", "),
            });
        }
        Ok(self)
    }

    /// [`TelemetryBuilder::enable_metric`] for each of `names`; stops at the first unknown one.
    pub fn enable_metrics<I, S>(self, names: I) -> Result<Self, TelemetryError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        names
            .into_iter()
            .try_fold(self, |b, name| b.enable_metric(name.as_ref()))
    }
}

/// Instruments recorded whenever telemetry is on: enabling them changes nothing.
fn always_on(name: &str) -> bool {
    use super::names::*;
    [
        CLIENT_ATTEMPT_STARTED,
        CLIENT_ATTEMPT_DURATION,
        CLIENT_ATTEMPT_SENT_SIZE,
        CLIENT_ATTEMPT_RCVD_SIZE,
        CLIENT_CALL_DURATION,
        SERVER_CALL_STARTED,
        SERVER_CALL_DURATION,
        SERVER_CALL_SENT_SIZE,
        SERVER_CALL_RCVD_SIZE,
        XDS_CLIENT_CONNECTED,
        XDS_CLIENT_UPDATES_VALID,
        XDS_CLIENT_UPDATES_INVALID,
        XDS_CLIENT_SERVER_FAILURE,
        XDS_CLIENT_RESOURCES,
        OUTLIER_EJECTIONS_ENFORCED,
        OUTLIER_EJECTIONS_UNENFORCED,
        BREAKER_OVERFLOWS,
        OUTLIER_EJECTIONS,
        FAULT_INJECTED,
        RETRY_BUDGET_EXHAUSTED,
    ]
    .contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::names::{CLIENT_CALL_DURATION, CLIENT_CALL_RETRIES, WRR_RR_FALLBACK};

    #[test]
    fn known_names_turn_on_one_instrument_each() {
        let mut on = EnabledMetrics::default();
        assert!(!on.is_on(CLIENT_CALL_RETRIES));
        assert_eq!(on.enable(CLIENT_CALL_RETRIES), Some(()));
        assert!(on.is_on(CLIENT_CALL_RETRIES));
        assert!(!on.is_on(WRR_RR_FALLBACK));
        assert!(on.any(&[WRR_RR_FALLBACK, CLIENT_CALL_RETRIES]));
        assert_eq!(on.enable("grpc.client.call.retry"), None);
    }

    #[test]
    fn an_unknown_name_is_an_error_listing_the_known_ones() {
        let err = TelemetryBuilder::new()
            .enable_metrics([CLIENT_CALL_RETRIES, "grpc.lb.wrr.fallback"])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("`grpc.lb.wrr.fallback`"), "{err}");
        assert!(err.contains(WRR_RR_FALLBACK), "{err}");
        assert!(
            TelemetryBuilder::new()
                .enable_metric(CLIENT_CALL_DURATION)
                .is_ok(),
            "always-on instruments are accepted"
        );
    }
}
