//! Event log view: ejections, NACKs, breaker overflows, fault changes and xDS updates from every
//! service, newest at the bottom, filtered by the `/` filter, scrollable (it follows new lines
//! while scrolled to the bottom).
//!
//! Reads state only; lines are made by [`crate::app::log`].

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::theme;
use crate::app::App;
use crate::app::log::kind_label;

/// Draws the event log into `area`.
pub fn render(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let lines: Vec<_> = app.log.filtered(&app.filter).collect();
    let height = usize::from(area.height.saturating_sub(2));
    let end = lines.len().saturating_sub(app.events_scroll);
    let start = end.saturating_sub(height);
    let shown: Vec<Line<'_>> = lines[start..end]
        .iter()
        .map(|l| {
            Line::from(vec![
                Span::styled(format!("{:8} ", l.at), theme::dim()),
                Span::styled(
                    format!("{:7} ", kind_label(l.kind)),
                    theme::log_kind(l.kind),
                ),
                Span::raw(format!("{}: ", l.source)),
                Span::raw(l.text.clone()),
            ])
        })
        .collect();
    let follow = if app.events_scroll == 0 {
        "following"
    } else {
        "scrolled"
    };
    let filter = if app.filter.is_empty() {
        String::new()
    } else {
        format!(" matching \"{}\"", app.filter)
    };
    let title = format!(
        " events: {} of {}{filter} ({follow}) ",
        lines.len(),
        app.log.len()
    );
    let body = if shown.is_empty() {
        vec![Line::from(Span::styled("no events yet", theme::dim()))]
    } else {
        shown
    };
    frame.render_widget(
        Paragraph::new(body).block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
}
