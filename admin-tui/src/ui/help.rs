//! The help overlay: every key binding, drawn over the current view. Any key closes it.
//!
//! Keep it in step with [`crate::app`]'s input handling.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::theme;

const KEYS: [(&str, &str); 17] = [
    ("Tab / S-Tab, 1-5", "next / previous view, or jump to one"),
    ("↑↓ j k, PgUp PgDn", "move the selection"),
    ("g G, Home End", "first / last row"),
    ("Enter → l", "fleet: open the service"),
    ("← h", "back to the fleet"),
    ("[ ]", "previous / next service"),
    ("s S", "fleet: sort column / reverse"),
    ("i", "fleet: one row per service / per instance"),
    ("/", "filter services and events; Esc clears"),
    ("r", "refresh faults and xDS dump"),
    ("n", "faults: new rule (form)"),
    ("space t", "faults: switch a rule off / on"),
    ("d Del", "faults: clear a rule"),
    ("mouse", "click tabs and rows, wheel scrolls"),
    ("?", "this help"),
    ("q", "quit"),
    ("Ctrl-C", "quit from anywhere"),
];

/// Draws the help overlay centred in `area`.
pub fn render(frame: &mut Frame<'_>, area: Rect) {
    let height = (KEYS.len() as u16 + 2).min(area.height);
    let width = 64.min(area.width);
    let [row] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(width)])
        .flex(Flex::Center)
        .areas(row);
    let lines: Vec<Line<'_>> = KEYS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!("{k:>18}  "), theme::header()),
                Span::raw(*what),
            ])
        })
        .collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" keys (any key closes) "),
        ),
        popup,
    );
}
