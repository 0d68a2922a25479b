//! What meshtop knows about each admin endpoint: its connection, the latest `Info`, `Snapshot`,
//! fault list and config dump, plus short histories for the charts, and the figures derived from
//! them for the fleet overview.
//!
//! Plain data, no I/O: the data tasks ([`crate::data`]) fill it through [`crate::app::Action`]s and
//! the views read it. Field meanings follow `meshwork.admin.v1` (proto/proto/meshwork/admin/v1).

use std::collections::VecDeque;
use std::time::Duration;

use meshwork_proto::admin::v1::{
    ConfigDump, HealthState, Info, ListFaultsResponse, Snapshot, TargetState,
};

/// How many snapshots the traffic and latency histories keep.
pub const HISTORY_LEN: usize = 120;

/// The connection from meshtop to one admin endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum Conn {
    /// Dialling (the first time, or again after a failure).
    Connecting {
        /// 1 for the first attempt.
        attempt: u32,
    },
    /// `GetInfo` answered and the Watch stream is open.
    Connected,
    /// The last attempt failed; the next one starts after `retry_in`.
    Failed {
        /// What went wrong and what to do, in words.
        error: String,
        /// Wait before the next attempt.
        retry_in: Duration,
    },
}

/// Everything meshtop holds about one admin endpoint.
#[derive(Debug, Clone)]
pub struct EndpointState {
    /// The admin address as given on the command line.
    pub addr: String,
    /// The connection.
    pub conn: Conn,
    /// The process info (kept after a disconnect).
    pub info: Option<Info>,
    /// The last failure reported, until the next successful connection (so a repeated failure
    /// is logged once).
    pub last_error: Option<String>,
    /// The latest snapshot (kept after a disconnect).
    pub snapshot: Option<Snapshot>,
    /// The fault rules, as last listed.
    pub faults: Option<ListFaultsResponse>,
    /// The xDS config dump, as last fetched.
    pub config_dump: Option<ConfigDump>,
    /// Total requests/s of each snapshot, oldest first.
    pub rps_history: VecDeque<u64>,
    /// Worst endpoint p99 (ms) of each snapshot, oldest first.
    pub p99_history: VecDeque<f64>,
}

/// One line of the fleet overview.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetRow {
    /// Index into [`crate::app::App::endpoints`].
    pub index: usize,
    /// The service name (or the address until `GetInfo` answered).
    pub name: String,
    /// Targets the process has channels for.
    pub targets: usize,
    /// Requests/s over all endpoints.
    pub rps: f64,
    /// Failed share, in percent.
    pub error_pct: f64,
    /// Worst endpoint p99 in ms.
    pub p99_ms: f64,
    /// Endpoints ejected by outlier detection now.
    pub ejected: usize,
    /// Active runtime fault rules.
    pub faults: usize,
    /// Admin endpoints (processes) in this row: 1, or the replicas of a service merged.
    pub instances: usize,
    /// Of those, the ones meshtop is connected to.
    pub up: usize,
}

impl FleetRow {
    /// Adds another instance of the same service: request rates, ejections and rules add up, the
    /// error share is request-weighted, p99 and targets are the worst / largest.
    pub fn absorb(&mut self, other: &FleetRow) {
        let errors = self.rps * self.error_pct + other.rps * other.error_pct;
        self.rps += other.rps;
        self.error_pct = if self.rps > 0.0 {
            errors / self.rps
        } else {
            self.error_pct.max(other.error_pct)
        };
        self.p99_ms = self.p99_ms.max(other.p99_ms);
        self.targets = self.targets.max(other.targets);
        self.ejected += other.ejected;
        self.faults += other.faults;
        self.instances += other.instances;
        self.up += other.up;
    }
}

/// Totals over one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Totals {
    /// Requests/s.
    pub rps: f64,
    /// Failed share, in percent (request-weighted).
    pub error_pct: f64,
    /// Worst p99 in ms.
    pub p99_ms: f64,
    /// Ejected endpoints.
    pub ejected: usize,
    /// Targets not READY.
    pub unhealthy_targets: usize,
}

impl EndpointState {
    /// A fresh endpoint, about to dial.
    pub fn new(addr: impl Into<String>) -> Self {
        EndpointState {
            addr: addr.into(),
            conn: Conn::Connecting { attempt: 1 },
            info: None,
            last_error: None,
            snapshot: None,
            faults: None,
            config_dump: None,
            rps_history: VecDeque::new(),
            p99_history: VecDeque::new(),
        }
    }

    /// The service name when known, else the address.
    pub fn name(&self) -> &str {
        match &self.info {
            Some(info) if !info.service_name.is_empty() => &info.service_name,
            _ => &self.addr,
        }
    }

    /// Takes a new snapshot and extends the histories.
    pub fn apply_snapshot(&mut self, snapshot: Snapshot) {
        let totals = totals(&snapshot);
        push_bounded(&mut self.rps_history, totals.rps.round().max(0.0) as u64);
        push_bounded(&mut self.p99_history, totals.p99_ms);
        self.snapshot = Some(snapshot);
    }

    /// Totals over the latest snapshot (zero before the first one).
    pub fn totals(&self) -> Totals {
        self.snapshot.as_ref().map(totals).unwrap_or_default()
    }

    /// The fleet line for this endpoint.
    pub fn fleet_row(&self, index: usize) -> FleetRow {
        let t = self.totals();
        FleetRow {
            index,
            name: self.name().to_owned(),
            targets: self.snapshot.as_ref().map_or(0, |s| s.targets.len()),
            rps: t.rps,
            error_pct: t.error_pct,
            p99_ms: t.p99_ms,
            ejected: t.ejected,
            faults: self.faults.as_ref().map_or(0, |f| f.rules.len()),
            instances: 1,
            up: usize::from(self.conn == Conn::Connected),
        }
    }
}

/// Sums a snapshot over every endpoint of every cluster of every target.
pub fn totals(snapshot: &Snapshot) -> Totals {
    let mut t = Totals::default();
    let mut errors = 0.0;
    for target in &snapshot.targets {
        if target.state() != TargetState::Ready {
            t.unhealthy_targets += 1;
        }
        for ep in target.clusters.iter().flat_map(|c| &c.endpoints) {
            t.rps += ep.requests_per_sec;
            errors += ep.requests_per_sec * ep.error_rate;
            t.p99_ms = t.p99_ms.max(ep.latency_p99_ms);
            if ep.health_state() == HealthState::Ejected {
                t.ejected += 1;
            }
        }
    }
    if t.rps > 0.0 {
        t.error_pct = 100.0 * errors / t.rps;
    }
    t
}

fn push_bounded<T>(history: &mut VecDeque<T>, value: T) {
    if history.len() == HISTORY_LEN {
        history.pop_front();
    }
    history.push_back(value);
}
