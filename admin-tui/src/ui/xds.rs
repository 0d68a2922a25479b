//! xDS view: the current service's connection to each xDS server (state, since when, last error)
//! and every subscribed resource with its version, status (ACKED/NACKED/…) and the NACK message,
//! as `GetConfigDump` reports them (shaped like CSDS, Envoy's `csds.proto`).
//!
//! Reads state only; the dump is fetched by the data task and on `r`.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};

use meshwork_proto::admin::v1::ConnectionState;

use super::{scroll_offset, theme};
use crate::app::App;
use crate::app::log::{clock, short_type};

/// Draws the xDS view of the current endpoint into `area`.
pub fn render(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let Some(ep) = app.current_endpoint() else {
        frame.render_widget(Paragraph::new("no admin endpoints"), area);
        return;
    };
    let servers = ep.info.as_ref().map_or(&[][..], |i| &i.xds_servers[..]);
    let top = (servers.len().max(1) + 2).min(6) as u16;
    let [cp_area, table_area] =
        Layout::vertical([Constraint::Length(top), Constraint::Min(4)]).areas(area);

    let cp_lines: Vec<Line<'_>> = if servers.is_empty() {
        vec![Line::from(Span::styled(
            "no xDS server in the bootstrap (static configuration)",
            theme::dim(),
        ))]
    } else {
        servers
            .iter()
            .map(|s| {
                let (style, label) = match s.state() {
                    ConnectionState::Connected => (theme::good(), "connected"),
                    ConnectionState::Connecting => (theme::warn(), "connecting"),
                    ConnectionState::Backoff => (theme::bad(), "backoff"),
                    ConnectionState::Idle => (theme::dim(), "idle"),
                    ConnectionState::Unspecified => (theme::dim(), "?"),
                };
                let since = s.state_since.as_ref().map(clock).unwrap_or_default();
                let mut spans = vec![
                    Span::raw(format!("{} ", s.server_uri)),
                    Span::styled(label, style),
                    Span::raw(format!(" since {since}")),
                ];
                if s.in_use {
                    spans.push(Span::raw(" (in use)"));
                }
                if !s.last_error.is_empty() {
                    spans.push(Span::styled(
                        format!(" last error: {}", s.last_error),
                        theme::warn(),
                    ));
                }
                Line::from(spans)
            })
            .collect()
    };
    frame.render_widget(
        Paragraph::new(cp_lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" control plane of {} ", ep.name())),
        ),
        cp_area,
    );

    let entries = ep.config_dump.as_ref().map_or(&[][..], |d| &d.entries[..]);
    let height = usize::from(table_area.height.saturating_sub(3));
    let offset = scroll_offset(app.row_sel, height);
    let rows: Vec<Row<'_>> = entries
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(i, e)| {
            let (style, label) = theme::resource(e.status());
            let detail = e
                .error
                .as_ref()
                .map(|f| format!("v{}: {}", f.version_info, f.details))
                .unwrap_or_default();
            let row = Row::new(vec![
                Cell::from(short_type(&e.type_url).to_owned()),
                Cell::from(e.name.clone()),
                Cell::from(e.version_info.clone()),
                Cell::from(label).style(style),
                Cell::from(detail).style(theme::bad()),
            ]);
            if i == app.row_sel {
                row.style(theme::selected())
            } else {
                row
            }
        })
        .collect();
    let title = if ep.config_dump.is_none() {
        " resources (not fetched yet; r refreshes) ".to_owned()
    } else {
        format!(" resources: {} ", entries.len())
    };
    let table = Table::new(
        rows,
        [
            Constraint::Length(22),
            Constraint::Fill(2),
            Constraint::Length(8),
            Constraint::Length(9),
            Constraint::Fill(3),
        ],
    )
    .header(Row::new(["Type", "Name", "Version", "Status", "NACK"]).style(theme::header()))
    .block(Block::default().borders(Borders::ALL).title(title));
    frame.render_widget(table, table_area);
}
