//! Faults view: the current service's runtime fault rules (active ones with their counters and
//! expiry, then those switched off in meshtop), and the form that creates a rule.
//!
//! Reads state only; validation lives in [`crate::app::form`], sending in [`crate::data`].

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};

use super::{scroll_offset, theme};
use crate::app::App;
use crate::app::form::{FaultForm, Field, describe_spec, human_ms};
use crate::app::log::clock;

/// Draws the fault list of the current endpoint into `area`.
pub fn render(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let Some(ep) = app.current_endpoint() else {
        frame.render_widget(Paragraph::new("no admin endpoints"), area);
        return;
    };
    let rules = ep.faults.as_ref().map_or(&[][..], |f| &f.rules[..]);
    let mut all: Vec<Row<'_>> = rules
        .iter()
        .map(|r| {
            let spec = r.spec.as_ref().map(describe_spec).unwrap_or_default();
            let expires = r
                .expires_at
                .as_ref()
                .map_or("until cleared".to_owned(), |t| {
                    format!("until {}", clock(t))
                });
            Row::new(vec![
                Cell::from(format!("#{}", r.id)),
                Cell::from("on").style(theme::warn()),
                Cell::from(spec),
                Cell::from(format!("{}/{}", r.injected, r.matched)),
                Cell::from(expires),
            ])
        })
        .collect();
    all.extend(app.current_paused().map(|p| {
        Row::new(vec![
            Cell::from("-"),
            Cell::from("off").style(theme::dim()),
            Cell::from(describe_spec(&p.spec)),
            Cell::from(""),
            Cell::from(""),
        ])
    }));
    let height = usize::from(area.height.saturating_sub(3));
    let offset = scroll_offset(app.row_sel, height);
    let count = all.len();
    let rows: Vec<Row<'_>> = all
        .into_iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(i, r)| {
            if i == app.row_sel {
                r.style(theme::selected())
            } else {
                r
            }
        })
        .collect();
    let cap = ep.faults.as_ref().map_or(String::new(), |f| {
        format!(
            "/{} (ttl ≤ {}), {} faulting",
            f.max_rules,
            human_ms(f.max_ttl_ms),
            f.active_faults
        )
    });
    let title = format!(
        " faults of {}: {}{cap} · n new, space on/off, d clear ",
        ep.name(),
        rules.len()
    );
    let table = Table::new(
        rows,
        [
            Constraint::Length(5),
            Constraint::Length(4),
            Constraint::Fill(1),
            Constraint::Length(11),
            Constraint::Length(15),
        ],
    )
    .header(Row::new(["Id", "", "Rule", "inj/match", "Expires"]).style(theme::header()))
    .block(Block::default().borders(Borders::ALL).title(title));
    frame.render_widget(table, area);
    if count == 0 {
        let inner = Rect::new(area.x + 1, area.y + 2, area.width.saturating_sub(2), 1);
        frame.render_widget(
            Paragraph::new(Span::styled(
                "no fault rules; press n to create one",
                theme::dim(),
            )),
            inner,
        );
    }
}

/// Draws the fault form as a popup centred in `area`.
pub fn render_form(form: &FaultForm, frame: &mut Frame<'_>, area: Rect) {
    let width = 70.min(area.width);
    let height = 12.min(area.height);
    let [row] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(width)])
        .flex(Flex::Center)
        .areas(row);
    let mut lines = Vec::new();
    for field in Field::all() {
        let (label, value, hint) = match field {
            Field::ScopeKind => (
                "scope",
                format!("◀ {} ▶", form.scope_kind.label()),
                "←/→ change",
            ),
            Field::Scope => (
                "applies to",
                form.scope.clone(),
                "target, cluster, route or method",
            ),
            Field::Delay => ("delay ms", form.delay.clone(), "0-3600000, empty = none"),
            Field::Abort => (
                "abort code",
                form.abort.clone(),
                "UNAVAILABLE or 14, empty = none",
            ),
            Field::Percent => ("percent", form.percent.clone(), "0-100"),
            Field::Ttl => ("ttl", form.ttl.clone(), "30s 5m 1h, empty = until cleared"),
        };
        let focused = form.focus == field;
        let cursor = if focused && field != Field::ScopeKind {
            "▏"
        } else {
            ""
        };
        let style = if focused {
            theme::selected()
        } else {
            ratatui::style::Style::default()
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{label:>11} "), theme::header()),
            Span::styled(format!("{value}{cursor}"), style),
            Span::styled(format!("  {hint}"), theme::dim()),
        ]));
    }
    lines.push(Line::from(""));
    match &form.error {
        Some(err) => lines.push(Line::from(Span::styled(err.to_string(), theme::bad()))),
        None => lines.push(Line::from(Span::styled(
            "Enter set · Tab/↑↓ field · Esc cancel",
            theme::dim(),
        ))),
    }
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" new fault rule "),
        ),
        popup,
    );
}
