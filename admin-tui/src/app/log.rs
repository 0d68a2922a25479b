//! The event log: admin `Event`s (and meshtop's own connection changes) turned into lines of text,
//! kept in a bounded ring, filterable by substring.
//!
//! It does not fetch anything; events arrive on the Watch stream (`meshwork.admin.v1.Event`).

use std::collections::VecDeque;

use envoy_types::pb::google::protobuf::Timestamp;
use meshwork_proto::admin::v1::{Event, FaultRuleChange, event::Kind};

use super::form::describe_spec;

/// How many lines the log keeps.
pub const LOG_CAPACITY: usize = 2_000;

/// What kind of thing a log line reports (decides its colour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    /// Accepted xDS update.
    Xds,
    /// Rejected xDS update.
    Nack,
    /// Ejection or return of an endpoint.
    Ejection,
    /// Circuit breaker overflow.
    Breaker,
    /// Fault rule change.
    Fault,
    /// meshtop's own connection news.
    Conn,
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// `HH:MM:SS` (UTC) of the event, empty when unknown.
    pub at: String,
    /// The service (or address) it came from.
    pub source: String,
    /// Its kind.
    pub kind: LogKind,
    /// What happened, in words.
    pub text: String,
}

/// The bounded log.
#[derive(Debug, Clone, Default)]
pub struct EventLog {
    lines: VecDeque<LogLine>,
}

impl EventLog {
    /// Appends a line, dropping the oldest one when full.
    pub fn push(&mut self, line: LogLine) {
        if self.lines.len() == LOG_CAPACITY {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    /// Lines containing `filter` (case-insensitive), oldest first.
    pub fn filtered<'a>(&'a self, filter: &'a str) -> impl Iterator<Item = &'a LogLine> + 'a {
        let needle = filter.to_lowercase();
        self.lines.iter().filter(move |l| {
            needle.is_empty()
                || l.text.to_lowercase().contains(&needle)
                || l.source.to_lowercase().contains(&needle)
                || kind_label(l.kind).contains(&needle)
        })
    }

    /// Number of lines held.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// The short lower-case label shown for a kind (and matched by the filter).
pub fn kind_label(kind: LogKind) -> &'static str {
    match kind {
        LogKind::Xds => "xds",
        LogKind::Nack => "nack",
        LogKind::Ejection => "eject",
        LogKind::Breaker => "breaker",
        LogKind::Fault => "fault",
        LogKind::Conn => "conn",
    }
}

/// Turns an admin event into a log line; `None` for an event without a kind.
pub fn describe_event(source: &str, event: &Event) -> Option<LogLine> {
    let (kind, text) = match event.kind.as_ref()? {
        Kind::XdsUpdate(u) => {
            let verb = if u.removed { "removed" } else { "accepted" };
            (
                LogKind::Xds,
                format!(
                    "{verb} {} {} v{}",
                    short_type(&u.type_url),
                    u.name,
                    u.version
                ),
            )
        }
        Kind::XdsNack(n) => (
            LogKind::Nack,
            format!(
                "NACK {} {} v{}: {}",
                short_type(&n.type_url),
                n.name,
                n.version,
                n.message
            ),
        ),
        Kind::Ejection(e) => (
            LogKind::Ejection,
            format!("ejected {} from {}: {}", e.endpoint, e.cluster, e.reason),
        ),
        Kind::Unejection(u) => (
            LogKind::Ejection,
            format!("returned {} to {}", u.endpoint, u.cluster),
        ),
        Kind::BreakerOverflow(b) => (
            LogKind::Breaker,
            format!(
                "breaker {} refused {} (max_requests {})",
                b.cluster, b.refused, b.max_requests
            ),
        ),
        Kind::FaultRuleChanged(f) => {
            let verb = match f.change() {
                FaultRuleChange::Set => "set",
                FaultRuleChange::Cleared => "cleared",
                FaultRuleChange::Expired => "expired",
                FaultRuleChange::Unspecified => "changed",
            };
            let rule = f.rule.as_ref();
            let id = rule.map_or(0, |r| r.id);
            let spec = rule
                .and_then(|r| r.spec.as_ref())
                .map(describe_spec)
                .unwrap_or_default();
            (LogKind::Fault, format!("fault #{id} {verb}: {spec}"))
        }
        Kind::EventsDropped(d) => (
            LogKind::Conn,
            format!("fell behind: {} events dropped", d.count),
        ),
    };
    Some(LogLine {
        at: event.at.as_ref().map(clock).unwrap_or_default(),
        source: source.to_owned(),
        kind,
        text,
    })
}

/// `HH:MM:SS` (UTC) of a timestamp.
pub fn clock(ts: &Timestamp) -> String {
    let secs = ts.seconds.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// `type.googleapis.com/envoy.config.cluster.v3.Cluster` → `Cluster`.
pub fn short_type(type_url: &str) -> &str {
    type_url.rsplit(['.', '/']).next().unwrap_or(type_url)
}
