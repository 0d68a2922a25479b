//! Reconnect backoff for the ADS stream: gRPC connection backoff
//! (grpc/grpc `doc/connection-backoff.md`: 1 s base, ×1.6, ±20 % jitter, 120 s cap), as gRFC A57
//! asks for a stream that fails before any response.
//!
//! Pure arithmetic over a seeded RNG; the caller sleeps. Resetting after a stream that received a
//! response is the caller's decision (A57).

use std::time::Duration;

/// Parameters of the exponential backoff.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BackoffConfig {
    /// First delay.
    pub base: Duration,
    /// Growth factor per failed attempt.
    pub multiplier: f64,
    /// Relative jitter applied to each delay (0.2 = ±20 %).
    pub jitter: f64,
    /// Upper bound of the un-jittered delay.
    pub max: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            base: Duration::from_secs(1),
            multiplier: 1.6,
            jitter: 0.2,
            max: Duration::from_secs(120),
        }
    }
}

/// Backoff state: the next un-jittered delay and the RNG used for jitter.
#[derive(Debug)]
pub struct Backoff {
    config: BackoffConfig,
    next: Duration,
    rng: fastrand::Rng,
}

impl Backoff {
    /// A backoff at its base delay, jittered by `rng`.
    pub fn new(config: BackoffConfig, rng: fastrand::Rng) -> Self {
        Backoff {
            config,
            next: config.base,
            rng,
        }
    }

    /// The delay to wait before the next attempt; grows the following one.
    pub fn next_delay(&mut self) -> Duration {
        let current = self.next;
        let grown = current.as_secs_f64() * self.config.multiplier;
        self.next = Duration::from_secs_f64(grown.min(self.config.max.as_secs_f64()));
        let factor = 1.0 + self.config.jitter * (self.rng.f64() * 2.0 - 1.0);
        Duration::from_secs_f64((current.as_secs_f64() * factor).max(0.0))
    }

    /// Back to the base delay (after a stream that received a response).
    pub fn reset(&mut self) {
        self.next = self.config.base;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within(d: Duration, nominal: f64) -> bool {
        let s = d.as_secs_f64();
        s >= nominal * 0.8 - 1e-9 && s <= nominal * 1.2 + 1e-9
    }

    #[test]
    fn grows_by_1_6_with_jitter_and_caps_at_120s() {
        let mut b = Backoff::new(BackoffConfig::default(), fastrand::Rng::with_seed(7));
        let mut nominal = 1.0_f64;
        for _ in 0..20 {
            let d = b.next_delay();
            assert!(within(d, nominal), "{d:?} not within 20% of {nominal}s");
            nominal = (nominal * 1.6).min(120.0);
        }
        assert!(within(b.next_delay(), 120.0));
    }

    #[test]
    fn reset_returns_to_base() {
        let mut b = Backoff::new(BackoffConfig::default(), fastrand::Rng::with_seed(1));
        for _ in 0..5 {
            b.next_delay();
        }
        b.reset();
        assert!(within(b.next_delay(), 1.0));
    }

    #[test]
    fn jitter_varies_between_attempts() {
        let mut b = Backoff::new(BackoffConfig::default(), fastrand::Rng::with_seed(3));
        let delays: Vec<_> = (0..4)
            .map(|_| {
                let d = b.next_delay();
                b.reset();
                d
            })
            .collect();
        assert!(delays.windows(2).any(|w| w[0] != w[1]), "{delays:?}");
    }
}
