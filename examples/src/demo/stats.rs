//! [`DemoStats`]: a snapshot of what the demo's client saw, per backend and in total, and its
//! one-line rendering (`t=3s  b0 21/s 0 err p99 2ms | ... | client ok 50/s fail 0`), printed
//! every second until `meshtop` shows the same live.
//!
//! Plain data and formatting only; [`super::recorder`] fills it in.

use std::fmt;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use tonic::Code;

/// What the client saw, as of one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoStats {
    /// Time since the demo started.
    pub elapsed: Duration,
    /// Per backend, in configuration order.
    pub backends: Vec<BackendStats>,
    /// The client as a whole.
    pub client: ClientStats,
}

/// What the client saw of one backend (replies name it; failures are attributed by their
/// status message, `backend <name>: ...`), plus what the backend itself counted.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendStats {
    /// Backend name.
    pub name: String,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Over the last second.
    pub last_second: Tally,
    /// Since the start.
    pub total: Tally,
    /// Failures attributed to it since the start, by code (code order).
    pub errors_by_code: Vec<(Code, u64)>,
    /// Calls the backend answered OK (server side, every attempt, retries included).
    pub served_ok: u64,
    /// Calls the backend failed or that were abandoned (server side).
    pub served_failed: u64,
}

/// The client as a whole: final outcomes of its RPCs, after any retries.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientStats {
    /// Over the last second.
    pub last_second: Tally,
    /// Since the start.
    pub total: Tally,
    /// Failures since the start, by code (code order).
    pub errors_by_code: Vec<(Code, u64)>,
    /// Failures not attributable to a backend (no route, no endpoint, deadline, ...).
    pub unattributed_errors: u64,
    /// RPCs not sent because `max_in_flight` were already open.
    pub shed: u64,
}

/// Counts and latency quantiles of a set of RPCs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    /// Succeeded.
    pub ok: u64,
    /// Failed.
    pub errors: u64,
    /// Median latency (`None` without samples).
    pub p50: Option<Duration>,
    /// 99th percentile latency.
    pub p99: Option<Duration>,
}

impl Tally {
    /// All RPCs, whatever the outcome.
    pub fn requests(&self) -> u64 {
        self.ok + self.errors
    }

    /// Fraction of RPCs that succeeded (1 when there were none).
    pub fn success_ratio(&self) -> f64 {
        match self.requests() {
            0 => 1.0,
            n => self.ok as f64 / n as f64,
        }
    }
}

impl DemoStats {
    /// The stats of backend `name`.
    pub fn backend(&self, name: &str) -> Option<&BackendStats> {
        self.backends.iter().find(|b| b.name == name)
    }

    /// The compact live line: per backend requests/s, errors/s and p99 over the last second,
    /// then the client's successes and failures per second.
    pub fn line(&self) -> String {
        let mut line = format!("t={}s ", self.elapsed.as_secs());
        for backend in &self.backends {
            let s = &backend.last_second;
            let _ = write!(
                line,
                " {} {}/s {} err p99 {} |",
                backend.name,
                s.requests(),
                s.errors,
                Latency(s.p99)
            );
        }
        let c = &self.client;
        let _ = write!(
            line,
            " client ok {}/s fail {}",
            c.last_second.ok, c.last_second.errors
        );
        if c.shed > 0 {
            let _ = write!(line, " shed {}", c.shed);
        }
        line
    }

    /// A few lines summing up the whole run (totals, whole-run p50/p99, errors by code).
    pub fn summary(&self) -> String {
        let c = &self.client;
        let mut text = format!(
            "after {:.1}s: client {} ok, {} failed ({:.2}% ok), p50 {} p99 {}, shed {}\n",
            self.elapsed.as_secs_f64(),
            c.total.ok,
            c.total.errors,
            c.total.success_ratio() * 100.0,
            Latency(c.total.p50),
            Latency(c.total.p99),
            c.shed
        );
        for b in &self.backends {
            let _ = writeln!(
                text,
                "  {:<8} {:<21} replies {:>6}  p50 {:>7} p99 {:>7}  client-seen errors {:?}  \
                 served ok {} failed {}",
                b.name,
                b.addr,
                b.total.ok,
                Latency(b.total.p50).to_string(),
                Latency(b.total.p99).to_string(),
                b.errors_by_code,
                b.served_ok,
                b.served_failed
            );
        }
        if c.unattributed_errors > 0 {
            let _ = writeln!(text, "  unattributed errors {}", c.unattributed_errors);
        }
        text
    }
}

impl fmt::Display for DemoStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line())
    }
}

/// A latency for humans: `850us`, `2.4ms`, `23ms`, `1.2s`, or `-` without samples.
struct Latency(Option<Duration>);

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(d) = self.0 else {
            return f.write_str("-");
        };
        let ms = d.as_secs_f64() * 1000.0;
        if ms < 1.0 {
            write!(f, "{}us", d.as_micros())
        } else if ms < 10.0 {
            write!(f, "{ms:.1}ms")
        } else if ms < 1000.0 {
            write!(f, "{ms:.0}ms")
        } else {
            write!(f, "{:.1}s", d.as_secs_f64())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(ok: u64, errors: u64, p99_ms: u64) -> Tally {
        Tally {
            ok,
            errors,
            p50: Some(Duration::from_millis(p99_ms / 2)),
            p99: Some(Duration::from_millis(p99_ms)),
        }
    }

    fn backend(name: &str, last_second: Tally) -> BackendStats {
        BackendStats {
            name: name.to_owned(),
            addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            last_second,
            total: last_second,
            errors_by_code: Vec::new(),
            served_ok: last_second.ok,
            served_failed: last_second.errors,
        }
    }

    #[test]
    fn line_shows_rate_errors_and_p99_per_backend_then_the_client() {
        let stats = DemoStats {
            elapsed: Duration::from_millis(3_400),
            backends: vec![
                backend("b0", tally(21, 0, 2)),
                backend("b1", tally(19, 0, 23)),
                backend("b2", tally(9, 1, 3)),
            ],
            client: ClientStats {
                last_second: tally(49, 1, 23),
                total: tally(149, 1, 23),
                errors_by_code: vec![(Code::Unavailable, 1)],
                unattributed_errors: 0,
                shed: 0,
            },
        };
        assert_eq!(
            stats.line(),
            "t=3s  b0 21/s 0 err p99 2.0ms | b1 19/s 0 err p99 23ms | b2 10/s 1 err p99 3.0ms \
             | client ok 49/s fail 1"
        );
        assert!(stats.summary().contains("149 ok, 1 failed (99.33% ok)"));
    }

    #[test]
    fn latency_formatting_covers_every_scale() {
        let f = |d: Option<Duration>| Latency(d).to_string();
        assert_eq!(f(None), "-");
        assert_eq!(f(Some(Duration::from_micros(850))), "850us");
        assert_eq!(f(Some(Duration::from_micros(2_460))), "2.5ms");
        assert_eq!(f(Some(Duration::from_millis(1_234))), "1.2s");
    }
}
