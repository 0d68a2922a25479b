//! Styles shared by the views, limited to the 16 base colours and text modifiers so meshtop reads
//! on 16-colour terminals and in monochrome (selection is reverse video, not a colour).
//!
//! Colours only; layout belongs to each view.

use ratatui::style::{Color, Modifier, Style};

use meshwork_proto::admin::v1::{HealthState, ResourceStatus, TargetState};

use crate::app::LogKind;
use crate::model::Conn;

/// The selected row or tab.
pub fn selected() -> Style {
    Style::default().add_modifier(Modifier::REVERSED)
}

/// Secondary text.
pub fn dim() -> Style {
    Style::default().fg(Color::DarkGray)
}

/// Table headers.
pub fn header() -> Style {
    Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
}

/// Good.
pub fn good() -> Style {
    Style::default().fg(Color::Green)
}

/// Needs attention.
pub fn warn() -> Style {
    Style::default().fg(Color::Yellow)
}

/// Broken.
pub fn bad() -> Style {
    Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
}

/// A connection state's style and short label.
pub fn conn(conn: &Conn) -> (Style, String) {
    match conn {
        Conn::Connected => (good(), "up".to_owned()),
        Conn::Connecting { attempt: 1 } => (warn(), "connecting".to_owned()),
        Conn::Connecting { attempt } => (warn(), format!("retry #{attempt}")),
        Conn::Failed { .. } => (bad(), "down".to_owned()),
    }
}

/// An endpoint health state's style and label.
pub fn health(state: HealthState) -> (Style, &'static str) {
    match state {
        HealthState::Healthy => (good(), "healthy"),
        HealthState::Unhealthy => (bad(), "unhealthy"),
        HealthState::Draining => (warn(), "draining"),
        HealthState::Ejected => (bad(), "ejected"),
        HealthState::Connecting => (warn(), "connecting"),
        HealthState::Unknown => (dim(), "unknown"),
    }
}

/// A target state's style and label.
pub fn target(state: TargetState) -> (Style, &'static str) {
    match state {
        TargetState::Ready => (good(), "ready"),
        TargetState::Resolving => (warn(), "resolving"),
        TargetState::Stale => (warn(), "stale"),
        TargetState::Failed => (bad(), "failed"),
        TargetState::Unspecified => (dim(), "?"),
    }
}

/// A resource status's style and label.
pub fn resource(status: ResourceStatus) -> (Style, &'static str) {
    match status {
        ResourceStatus::Acked => (good(), "ACKED"),
        ResourceStatus::Nacked => (bad(), "NACKED"),
        ResourceStatus::Requested => (warn(), "REQUESTED"),
        ResourceStatus::DoesNotExist => (bad(), "DOES_NOT_EXIST"),
        ResourceStatus::ReceivedError => (bad(), "ERROR"),
        ResourceStatus::Timeout => (bad(), "TIMEOUT"),
        ResourceStatus::Unknown => (dim(), "UNKNOWN"),
    }
}

/// A log line kind's style.
pub fn log_kind(kind: LogKind) -> Style {
    match kind {
        LogKind::Xds => good(),
        LogKind::Nack => bad(),
        LogKind::Ejection => warn(),
        LogKind::Breaker => Style::default().fg(Color::Magenta),
        LogKind::Fault => Style::default().fg(Color::Cyan),
        LogKind::Conn => Style::default().fg(Color::Blue),
    }
}

/// Error share in percent: green under 1 %, yellow under 5 %, red above.
pub fn error_pct(pct: f64) -> Style {
    if pct < 1.0 {
        Style::default()
    } else if pct < 5.0 {
        warn()
    } else {
        bad()
    }
}
