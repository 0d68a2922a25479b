//! Rendering: the pure `render(&App, &mut Frame)` that draws the tab bar, the current view, the
//! status line and any overlay (help, fault form). Works from 80×24 up and uses only the 16 base
//! colours plus bold/reverse, so it reads on any terminal.
//!
//! No state changes here; views are separate modules, one per tab.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::{App, View};
use crate::model::Conn;

pub mod events;
pub mod faults;
pub mod fleet;
pub mod help;
pub mod service;
pub mod theme;
pub mod xds;

/// Draws the whole screen.
pub fn render(app: &App, frame: &mut Frame<'_>) {
    let [tabs, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    render_tabs(app, frame, tabs);
    match app.view {
        View::Fleet => fleet::render(app, frame, body),
        View::Service => service::render(app, frame, body),
        View::Xds => xds::render(app, frame, body),
        View::Faults => faults::render(app, frame, body),
        View::Events => events::render(app, frame, body),
    }
    render_status(app, frame, status);
    if let Some(form) = &app.form {
        faults::render_form(form, frame, body);
    }
    if app.help {
        help::render(frame, body);
    }
}

/// The label of a tab as drawn (its width decides [`tab_at`]).
fn tab_label(i: usize, view: View) -> String {
    format!(" {} {} ", i + 1, view.title())
}

/// The view whose tab covers column `x` of the top line.
pub fn tab_at(x: u16) -> Option<View> {
    let mut start = 0u16;
    for (i, view) in View::ALL.iter().enumerate() {
        let w = tab_label(i, *view).chars().count() as u16;
        if x >= start && x < start + w {
            return Some(*view);
        }
        start += w + 1;
    }
    None
}

fn render_tabs(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let mut spans = Vec::new();
    for (i, view) in View::ALL.iter().enumerate() {
        let style = if *view == app.view {
            theme::selected()
        } else {
            Style::default()
        };
        spans.push(Span::styled(tab_label(i, *view), style));
        spans.push(Span::raw("│"));
    }
    let connected = app
        .endpoints
        .iter()
        .filter(|e| e.conn == Conn::Connected)
        .count();
    spans.push(Span::styled(
        format!(" meshtop · {connected}/{} up", app.endpoints.len()),
        Style::default().add_modifier(Modifier::BOLD),
    ));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_status(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let line = if app.filter_editing {
        Line::from(vec![
            Span::styled("filter: ", Style::default().fg(Color::Yellow)),
            Span::raw(app.filter.clone()),
            Span::styled("▏", Style::default().fg(Color::Yellow)),
            Span::styled("  Enter keep · Esc clear", theme::dim()),
        ])
    } else if let Some(notice) = &app.notice {
        Line::from(Span::styled(
            notice.clone(),
            Style::default().fg(Color::Yellow),
        ))
    } else {
        let mut spans = vec![Span::styled(
            "? help  Tab view  ↑↓/jk move  Enter open  / filter  q quit",
            theme::dim(),
        )];
        if !app.filter.is_empty() {
            spans.push(Span::styled(
                format!("  filter: {}", app.filter),
                Style::default().fg(Color::Yellow),
            ));
        }
        Line::from(spans)
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// The first row to draw so that `selected` stays visible in `height` rows.
pub fn scroll_offset(selected: usize, height: usize) -> usize {
    if height == 0 {
        0
    } else {
        selected.saturating_sub(height - 1)
    }
}

#[cfg(test)]
mod tests;
