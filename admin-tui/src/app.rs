//! The application core: [`App`] (all state), [`Action`] (everything that can happen: keys, mouse,
//! resizes, ticks, data from admin endpoints) and the pure [`update`] that applies an action and
//! may ask the shell for a [`Command`] (an admin RPC or quitting).
//!
//! No I/O and no clock here (STYLE.md rule 13): the terminal shell ([`crate::shell`]) feeds actions
//! and runs commands; the views ([`crate::ui`]) read the state.

use std::time::Duration;

use crossterm::event::{KeyEvent, MouseEvent};
use meshwork_proto::admin::v1::{
    ConfigDump, Event, FaultRuleSpec, Info, ListFaultsResponse, Snapshot,
};

use crate::model::{EndpointState, FleetRow};

pub mod form;
mod ingest;
mod input;
pub mod log;

pub use form::{FaultForm, Field, FormError, ScopeKind};
pub use log::{EventLog, LogKind, LogLine};

/// The views, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// One row per service.
    Fleet,
    /// Targets → clusters → endpoints of one service.
    Service,
    /// xDS resources and the control-plane connection of one service.
    Xds,
    /// Runtime fault rules of one service.
    Faults,
    /// The event log of the whole fleet.
    Events,
}

/// Fleet overview sort keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// By name.
    Name,
    /// By requests/s.
    Rps,
    /// By error share.
    Errors,
    /// By p99 latency.
    P99,
    /// By ejected endpoints.
    Ejected,
}

/// Something that happened, for [`update`].
#[derive(Debug, Clone)]
pub enum Action {
    /// A key press.
    Key(KeyEvent),
    /// A mouse event.
    Mouse(MouseEvent),
    /// The terminal was resized to (columns, rows).
    Resize(u16, u16),
    /// Periodic tick (nothing animates yet; kept for relative times).
    Tick,
    /// News from the data task of endpoint `endpoint`.
    Data {
        /// Index into [`App::endpoints`].
        endpoint: usize,
        /// What it reports.
        event: DataEvent,
    },
    /// A message for the status line (e.g. from `--demo`).
    Notice(String),
}

/// What a data task reports about its admin endpoint.
#[derive(Debug, Clone)]
pub enum DataEvent {
    /// Dialling; `attempt` is 1 for the first try.
    Connecting {
        /// Attempt number since the last success.
        attempt: u32,
    },
    /// `GetInfo` answered.
    Connected(Box<Info>),
    /// A snapshot from the Watch stream.
    Snapshot(Box<Snapshot>),
    /// An event from the Watch stream.
    Event(Box<Event>),
    /// The connection failed or dropped; retrying after `retry_in`.
    Failed {
        /// What went wrong and what to do.
        error: String,
        /// Backoff before the next attempt.
        retry_in: Duration,
    },
    /// The fault rules, freshly listed.
    Faults(ListFaultsResponse),
    /// The xDS config dump, freshly fetched.
    ConfigDump(ConfigDump),
    /// A command finished; the text says how.
    CommandResult(Result<String, String>),
}

/// What the shell should do for [`update`].
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Restore the terminal and exit.
    Quit,
    /// Install a fault rule on an endpoint.
    SetFault {
        /// Index into [`App::endpoints`].
        endpoint: usize,
        /// The rule.
        spec: FaultRuleSpec,
    },
    /// Remove a fault rule.
    ClearFault {
        /// Index into [`App::endpoints`].
        endpoint: usize,
        /// The rule id.
        id: u64,
    },
    /// Fetch the fault list and config dump again.
    Refresh {
        /// Index into [`App::endpoints`].
        endpoint: usize,
    },
}

/// A fault rule switched off with toggle: meshtop cleared it and keeps its spec to set it again.
#[derive(Debug, Clone, PartialEq)]
pub struct PausedFault {
    /// Index into [`App::endpoints`].
    pub endpoint: usize,
    /// The rule as it was.
    pub spec: FaultRuleSpec,
}

/// All of meshtop's state.
#[derive(Debug, Clone)]
pub struct App {
    /// One per admin endpoint, in command-line order.
    pub endpoints: Vec<EndpointState>,
    /// The view shown.
    pub view: View,
    /// Whether the help overlay is open.
    pub help: bool,
    /// Selected row of the fleet overview (index into [`App::fleet_rows`]).
    pub fleet_sel: usize,
    /// The endpoint the service, xDS and faults views show.
    pub current: usize,
    /// Selected row in the current view other than the fleet.
    pub row_sel: usize,
    /// Events view: lines scrolled up from the newest (0 = follow).
    pub events_scroll: usize,
    /// Fleet sort key.
    pub sort: SortKey,
    /// Sort descending.
    pub sort_desc: bool,
    /// Fleet: one row per admin endpoint instead of one per service (replicas merged).
    pub by_instance: bool,
    /// Filter text (fleet names and event lines).
    pub filter: String,
    /// Whether keys go to the filter.
    pub filter_editing: bool,
    /// The open fault form.
    pub form: Option<FaultForm>,
    /// The event log.
    pub log: EventLog,
    /// Rules switched off with toggle.
    pub paused: Vec<PausedFault>,
    /// A message for the status line.
    pub notice: Option<String>,
    /// Terminal size (columns, rows) as last reported.
    pub size: (u16, u16),
}

impl App {
    /// A new app watching `addrs`.
    pub fn new<S: Into<String>>(addrs: impl IntoIterator<Item = S>) -> Self {
        App {
            endpoints: addrs.into_iter().map(EndpointState::new).collect(),
            view: View::Fleet,
            help: false,
            fleet_sel: 0,
            current: 0,
            row_sel: 0,
            events_scroll: 0,
            sort: SortKey::Name,
            sort_desc: false,
            by_instance: false,
            filter: String::new(),
            filter_editing: false,
            form: None,
            log: EventLog::default(),
            paused: Vec::new(),
            notice: None,
            size: (80, 24),
        }
    }

    /// The fleet rows, filtered by name, one per service (its instances merged, the first one
    /// opened on Enter) unless [`App::by_instance`], and sorted.
    pub fn fleet_rows(&self) -> Vec<FleetRow> {
        let needle = self.filter.to_lowercase();
        let rows: Vec<FleetRow> = self
            .endpoints
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                needle.is_empty()
                    || e.name().to_lowercase().contains(&needle)
                    || e.addr.to_lowercase().contains(&needle)
            })
            .map(|(i, e)| e.fleet_row(i))
            .collect();
        let mut rows = if self.by_instance {
            rows
        } else {
            let mut services: Vec<FleetRow> = Vec::with_capacity(rows.len());
            for row in rows {
                match services.iter_mut().find(|s| s.name == row.name) {
                    Some(service) => service.absorb(&row),
                    None => services.push(row),
                }
            }
            services
        };
        rows.sort_by(|a, b| {
            let ord = match self.sort {
                SortKey::Name => a.name.cmp(&b.name),
                SortKey::Rps => a.rps.total_cmp(&b.rps),
                SortKey::Errors => a.error_pct.total_cmp(&b.error_pct),
                SortKey::P99 => a.p99_ms.total_cmp(&b.p99_ms),
                SortKey::Ejected => a.ejected.cmp(&b.ejected),
            }
            .then(a.index.cmp(&b.index));
            if self.sort_desc { ord.reverse() } else { ord }
        });
        rows
    }

    /// The endpoint the per-service views show, if any.
    pub fn current_endpoint(&self) -> Option<&EndpointState> {
        self.endpoints.get(self.current)
    }

    /// Paused rules of the current endpoint.
    pub fn current_paused(&self) -> impl Iterator<Item = &PausedFault> {
        self.paused.iter().filter(|p| p.endpoint == self.current)
    }
}

impl View {
    /// Every view in Tab order.
    pub const ALL: [View; 5] = [
        View::Fleet,
        View::Service,
        View::Xds,
        View::Faults,
        View::Events,
    ];

    /// The tab title.
    pub fn title(self) -> &'static str {
        match self {
            View::Fleet => "Fleet",
            View::Service => "Service",
            View::Xds => "xDS",
            View::Faults => "Faults",
            View::Events => "Events",
        }
    }

    /// The next view (wrapping), or the previous one with `back`.
    pub fn cycle(self, back: bool) -> View {
        let i = Self::ALL.iter().position(|v| *v == self).unwrap_or(0);
        let n = Self::ALL.len();
        Self::ALL[if back { (i + n - 1) % n } else { (i + 1) % n }]
    }
}

impl SortKey {
    /// The next key (wrapping).
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Name => SortKey::Rps,
            SortKey::Rps => SortKey::Errors,
            SortKey::Errors => SortKey::P99,
            SortKey::P99 => SortKey::Ejected,
            SortKey::Ejected => SortKey::Name,
        }
    }
}

/// Applies `action` to `app`; returns what the shell must do, if anything.
pub fn update(app: &mut App, action: Action) -> Option<Command> {
    match action {
        Action::Key(key) => input::on_key(app, key),
        Action::Mouse(mouse) => input::on_mouse(app, mouse),
        Action::Resize(w, h) => {
            app.size = (w, h);
            None
        }
        Action::Tick => None,
        Action::Data { endpoint, event } => {
            ingest::on_data(app, endpoint, event);
            None
        }
        Action::Notice(text) => {
            app.notice = Some(text);
            None
        }
    }
}

#[cfg(test)]
mod tests;
