//! [`Recorder`]: the client's tally of RPC outcomes, per backend and in total: counts, errors by
//! code, a whole-run latency histogram and a one-second window of raw samples for the live line.
//!
//! Sans-io: every call takes `now`, so tests drive it with made-up instants. Attribution: a reply
//! names its backend (`HelloReply.backend`); a failure is attributed when its status message starts
//! `backend <name>:` (how the greeter reports injected failures), otherwise it is the client's
//! alone (no route, no endpoint, deadline). One short mutex per RPC; the request path of the SDK
//! is not involved.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;
use tonic::Code;

use super::histogram::LatencyHistogram;
use super::stats::{BackendStats, ClientStats, DemoStats, Tally};

/// The window of the live numbers.
pub const STATS_WINDOW: Duration = Duration::from_secs(1);

/// The number of gRPC status codes.
const CODES: usize = 17;

/// How one RPC ended, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A reply from backend `backend`.
    Reply {
        /// `HelloReply.backend`.
        backend: String,
    },
    /// A failure status.
    Failed {
        /// Its code.
        code: Code,
        /// Its message (parsed for the backend name).
        message: String,
    },
}

/// Shared tally of the demo client; clones record into the same state.
#[derive(Debug, Clone)]
pub struct Recorder {
    inner: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    started: Instant,
    backends: Vec<(String, SocketAddr, Totals)>,
    client: Totals,
    unattributed_errors: u64,
    shed: u64,
    window: VecDeque<Sample>,
}

#[derive(Debug, Default)]
struct Totals {
    ok: u64,
    errors: [u64; CODES],
    latency: LatencyHistogram,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    backend: Option<usize>,
    ok: bool,
    latency: Duration,
}

impl Recorder {
    /// A recorder for `backends` (name, address), counting time from `started`.
    pub fn new(started: Instant, backends: impl IntoIterator<Item = (String, SocketAddr)>) -> Self {
        let backends = backends
            .into_iter()
            .map(|(name, addr)| (name, addr, Totals::default()))
            .collect();
        Recorder {
            inner: Arc::new(Mutex::new(State {
                started,
                backends,
                client: Totals::default(),
                unattributed_errors: 0,
                shed: 0,
                window: VecDeque::new(),
            })),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records one finished RPC that took `latency`.
    pub fn record(&self, now: Instant, latency: Duration, outcome: &Outcome) {
        let mut state = self.state();
        let (name, ok, code) = match outcome {
            Outcome::Reply { backend } => (Some(backend.as_str()), true, Code::Ok),
            Outcome::Failed { code, message } => (backend_in_message(message), false, *code),
        };
        let backend = name.and_then(|n| state.backends.iter().position(|(b, _, _)| b == n));
        state.client.add(ok, code, latency);
        match backend {
            Some(i) => {
                if let Some((_, _, totals)) = state.backends.get_mut(i) {
                    totals.add(ok, code, latency);
                }
            }
            None if !ok => state.unattributed_errors += 1,
            None => {}
        }
        state.window.push_back(Sample {
            at: now,
            backend,
            ok,
            latency,
        });
        state.prune(now);
    }

    /// Records an RPC not sent because too many were in flight.
    pub fn shed(&self) {
        self.state().shed += 1;
    }

    /// The stats as of `now` (server-side `served_*` counts are left at 0 for the caller).
    pub fn snapshot(&self, now: Instant) -> DemoStats {
        let mut state = self.state();
        state.prune(now);
        let window: Vec<Sample> = state.window.iter().copied().collect();
        let backends = state
            .backends
            .iter()
            .enumerate()
            .map(|(i, (name, addr, totals))| BackendStats {
                name: name.clone(),
                addr: *addr,
                last_second: window_tally(window.iter().filter(|s| s.backend == Some(i))),
                total: totals.tally(),
                errors_by_code: totals.errors_by_code(),
                served_ok: 0,
                served_failed: 0,
            })
            .collect();
        DemoStats {
            elapsed: now.saturating_duration_since(state.started),
            backends,
            client: ClientStats {
                last_second: window_tally(window.iter()),
                total: state.client.tally(),
                errors_by_code: state.client.errors_by_code(),
                unattributed_errors: state.unattributed_errors,
                shed: state.shed,
            },
        }
    }
}

impl State {
    fn prune(&mut self, now: Instant) {
        while let Some(front) = self.window.front() {
            if now.saturating_duration_since(front.at) < STATS_WINDOW {
                break;
            }
            self.window.pop_front();
        }
    }
}

impl Totals {
    fn add(&mut self, ok: bool, code: Code, latency: Duration) {
        if ok {
            self.ok += 1;
        } else if let Some(count) = self.errors.get_mut(code as usize) {
            *count += 1;
        }
        self.latency.record(latency);
    }

    fn tally(&self) -> Tally {
        Tally {
            ok: self.ok,
            errors: self.errors.iter().sum(),
            p50: self.latency.quantile(0.5),
            p99: self.latency.quantile(0.99),
        }
    }

    fn errors_by_code(&self) -> Vec<(Code, u64)> {
        (0..CODES)
            .filter_map(|i| {
                let n = self.errors[i];
                let code = Code::from_i32(i32::try_from(i).ok()?);
                (n > 0).then_some((code, n))
            })
            .collect()
    }
}

/// Exact nearest-rank quantiles over a window's samples.
fn window_tally<'a>(samples: impl Iterator<Item = &'a Sample>) -> Tally {
    let mut tally = Tally::default();
    let mut latencies = Vec::new();
    for sample in samples {
        if sample.ok {
            tally.ok += 1;
        } else {
            tally.errors += 1;
        }
        latencies.push(sample.latency);
    }
    latencies.sort_unstable();
    let quantile = |q: f64| {
        let rank = (q * latencies.len() as f64).ceil() as usize;
        latencies.get(rank.saturating_sub(1)).copied()
    };
    tally.p50 = quantile(0.5);
    tally.p99 = quantile(0.99);
    tally
}

/// The backend named by a greeter failure message (`backend b2: injected ...`).
fn backend_in_message(message: &str) -> Option<&str> {
    let (name, _) = message.strip_prefix("backend ")?.split_once(':')?;
    (!name.is_empty() && !name.contains(' ')).then_some(name)
}

#[cfg(test)]
mod tests;
