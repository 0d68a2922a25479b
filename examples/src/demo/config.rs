//! [`DemoConfig`] and [`BackendSpec`]: what the demo starts, with defaults chosen so routing,
//! retries and failover are visible at once (a fast, a slow and a flaky backend in two localities,
//! plus a canary reached by header).
//!
//! Plain data and its checks only; starting things is [`super::Demo::start`]'s job.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::DemoError;

/// Everything the demo starts and how the client behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoConfig {
    /// Where the control plane listens (default `127.0.0.1:0`: a free port).
    pub control_plane: SocketAddr,
    /// The greeter backends, in display order. At least one must not be a canary.
    pub backends: Vec<BackendSpec>,
    /// Client RPCs started per second (default 50).
    pub rate: f64,
    /// Most client RPCs in flight; a tick with none free is counted as shed (default 64).
    pub max_in_flight: usize,
    /// Deadline of each client RPC (default 2 s).
    pub rpc_timeout: Duration,
    /// Fraction (0..=1) of RPCs sent with `x-canary: yes`, which routes them to the canary
    /// cluster (default 0.1).
    pub canary_fraction: f64,
    /// Seed of the client's draws and of every backend's error sequence (default 1).
    pub seed: u64,
    /// Bearer token of every demo admin endpoint (default `None`: a random one per run).
    pub admin_token: Option<String>,
}

/// One greeter backend of the demo.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendSpec {
    /// Name carried in replies (`backend` field) and shown in the stats.
    pub name: String,
    /// Where it listens (default `127.0.0.1:0`).
    pub listen: SocketAddr,
    /// Locality zone (region is always `local`).
    pub zone: String,
    /// Serves the canary cluster (reached with `x-canary: yes`) instead of the main one.
    pub canary: bool,
    /// Latency added before every answer.
    pub latency: Duration,
    /// Fraction (0..=1) of calls failed with `UNAVAILABLE`.
    pub error_rate: f64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            control_plane: loopback(),
            backends: vec![
                BackendSpec::new("b0", "zone-a"),
                BackendSpec::new("b1", "zone-a").with_latency(Duration::from_millis(20)),
                BackendSpec::new("b2", "zone-b").with_error_rate(0.1),
                BackendSpec::new("canary", "zone-b").into_canary(),
            ],
            rate: 50.0,
            max_in_flight: 64,
            rpc_timeout: Duration::from_secs(2),
            canary_fraction: 0.1,
            seed: 1,
            admin_token: None,
        }
    }
}

impl DemoConfig {
    /// Checks the knobs; the error names the field, what it holds and what would do.
    pub fn validate(&self) -> Result<(), DemoError> {
        let invalid = |what: String| Err(DemoError::InvalidConfig(what));
        if !self.backends.iter().any(|b| !b.canary) {
            return invalid(
                "backends: expected at least one non-canary backend for the main cluster, \
                 found none; add one with `canary: false`"
                    .to_owned(),
            );
        }
        if !(self.rate.is_finite() && self.rate > 0.0 && self.rate <= 100_000.0) {
            return invalid(format!(
                "rate: expected RPCs per second in (0, 100000], found {}",
                self.rate
            ));
        }
        if self.max_in_flight == 0 {
            return invalid("max_in_flight: expected at least 1, found 0".to_owned());
        }
        if self.rpc_timeout.is_zero() {
            return invalid("rpc_timeout: expected a positive deadline, found 0".to_owned());
        }
        if !(0.0..=1.0).contains(&self.canary_fraction) {
            return invalid(format!(
                "canary_fraction: expected a fraction in 0..=1, found {}",
                self.canary_fraction
            ));
        }
        let mut names = HashSet::new();
        for backend in &self.backends {
            if !is_plain_name(&backend.name) || !is_plain_name(&backend.zone) {
                return invalid(format!(
                    "backend `{}` (zone `{}`): names and zones must be non-empty ASCII letters, \
                     digits, `-` or `_`",
                    backend.name, backend.zone
                ));
            }
            if !names.insert(backend.name.as_str()) {
                return invalid(format!(
                    "backends: name `{}` is used twice; replies are told apart by name",
                    backend.name
                ));
            }
            if !(0.0..=1.0).contains(&backend.error_rate) {
                return invalid(format!(
                    "backend `{}`: error_rate expected in 0..=1, found {}",
                    backend.name, backend.error_rate
                ));
            }
        }
        Ok(())
    }

    /// The interval between two client RPCs.
    pub fn tick(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.rate)
    }
}

impl BackendSpec {
    /// A fast, error-free backend of the main cluster on a free loopback port.
    pub fn new(name: impl Into<String>, zone: impl Into<String>) -> Self {
        BackendSpec {
            name: name.into(),
            listen: loopback(),
            zone: zone.into(),
            canary: false,
            latency: Duration::ZERO,
            error_rate: 0.0,
        }
    }

    /// The same backend with `latency` added to every answer.
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// The same backend failing a fraction `rate` of calls with `UNAVAILABLE`.
    pub fn with_error_rate(mut self, rate: f64) -> Self {
        self.error_rate = rate;
        self
    }

    /// The same backend serving the canary cluster.
    pub fn into_canary(mut self) -> Self {
        self.canary = true;
        self
    }
}

fn loopback() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// Names end up inside the generated mesh YAML unquoted: keep them plain.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_has_the_advertised_shape() {
        let config = DemoConfig::default();
        assert!(config.validate().is_ok());
        let main: Vec<_> = config.backends.iter().filter(|b| !b.canary).collect();
        assert_eq!(main.len(), 3);
        let zones: HashSet<_> = main.iter().map(|b| b.zone.as_str()).collect();
        assert_eq!(zones.len(), 2, "main cluster spans two localities");
        assert_eq!(config.tick(), Duration::from_millis(20));
    }

    #[test]
    fn rejects_what_would_break_the_demo() {
        let bad = [
            DemoConfig {
                rate: 0.0,
                ..DemoConfig::default()
            },
            DemoConfig {
                backends: vec![BackendSpec::new("c", "z").into_canary()],
                ..DemoConfig::default()
            },
            DemoConfig {
                backends: vec![BackendSpec::new("b", "z"), BackendSpec::new("b", "z")],
                ..DemoConfig::default()
            },
            DemoConfig {
                backends: vec![BackendSpec::new("b: x", "z")],
                ..DemoConfig::default()
            },
            DemoConfig {
                canary_fraction: 1.5,
                ..DemoConfig::default()
            },
        ];
        for config in bad {
            let err = config.validate().err();
            assert!(
                matches!(err, Some(DemoError::InvalidConfig(_))),
                "{config:?}"
            );
        }
    }
}
