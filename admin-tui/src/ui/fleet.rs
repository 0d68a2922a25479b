//! The fleet overview: one row per admin endpoint (service process) with its connection, targets,
//! requests/s, error %, p99, ejected endpoints and active faults; sortable and filterable; below
//! it, the selected service's connection detail and a sparkline of its traffic.
//!
//! Reads state only; sorting and filtering are [`App::fleet_rows`].

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Sparkline, Table, Wrap};

use super::{scroll_offset, theme};
use crate::app::{App, SortKey};
use crate::model::Conn;

fn areas(body: Rect) -> [Rect; 3] {
    let spark = if body.height >= 16 { 5 } else { 3 };
    Layout::vertical([
        Constraint::Min(4),
        Constraint::Length(3),
        Constraint::Length(spark),
    ])
    .areas(body)
}

/// Rows of the table visible in `table` (minus borders and header).
fn visible_rows(table: Rect) -> usize {
    usize::from(table.height.saturating_sub(3))
}

/// The fleet row under screen row `y`, if any (for mouse clicks).
pub fn row_at(app: &App, y: u16) -> Option<usize> {
    let body = Rect::new(0, 1, app.size.0, app.size.1.saturating_sub(2));
    let [table, _, _] = areas(body);
    let first = table.y + 2;
    let height = visible_rows(table);
    if y < first || usize::from(y - first) >= height {
        return None;
    }
    let row = scroll_offset(app.fleet_sel, height) + usize::from(y - first);
    (row < app.fleet_rows().len()).then_some(row)
}

/// Draws the fleet overview into `area`.
pub fn render(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let [table_area, detail_area, spark_area] = areas(area);
    let rows = app.fleet_rows();
    let wide = area.width >= 110;
    let arrow = if app.sort_desc { "▼" } else { "▲" };
    let head = |label: &str, key: SortKey| {
        if app.sort == key {
            format!("{label}{arrow}")
        } else {
            label.to_owned()
        }
    };
    let mut header = vec![head("Service", SortKey::Name)];
    if wide {
        header.push("Admin".to_owned());
    }
    header.extend([
        "Conn".to_owned(),
        "Tgt".to_owned(),
        head("req/s", SortKey::Rps),
        head("err%", SortKey::Errors),
        head("p99 ms", SortKey::P99),
        head("Ejct", SortKey::Ejected),
        "Flt".to_owned(),
    ]);
    let height = visible_rows(table_area);
    let offset = scroll_offset(app.fleet_sel, height);
    let body: Vec<Row<'_>> = rows
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(i, r)| {
            let ep = &app.endpoints[r.index];
            let (cstyle, clabel) = if r.instances > 1 {
                let style = match r.up {
                    0 => theme::bad(),
                    up if up == r.instances => theme::good(),
                    _ => theme::warn(),
                };
                (style, format!("{}/{} up", r.up, r.instances))
            } else {
                theme::conn(&ep.conn)
            };
            let mut cells = vec![Cell::from(r.name.clone())];
            if wide {
                cells.push(Cell::from(if r.instances > 1 {
                    format!("{} instances", r.instances)
                } else {
                    ep.addr.clone()
                }));
            }
            cells.extend([
                Cell::from(clabel).style(cstyle),
                Cell::from(r.targets.to_string()),
                Cell::from(format!("{:.1}", r.rps)),
                Cell::from(format!("{:.2}", r.error_pct)).style(theme::error_pct(r.error_pct)),
                Cell::from(format!("{:.1}", r.p99_ms)),
                Cell::from(r.ejected.to_string()).style(if r.ejected > 0 {
                    theme::warn()
                } else {
                    Style::default()
                }),
                Cell::from(r.faults.to_string()).style(if r.faults > 0 {
                    theme::warn()
                } else {
                    Style::default()
                }),
            ]);
            let row = Row::new(cells);
            if i == app.fleet_sel {
                row.style(theme::selected())
            } else {
                row
            }
        })
        .collect();
    let mut widths = vec![Constraint::Fill(1)];
    if wide {
        widths.push(Constraint::Length(22));
    }
    widths.extend([
        Constraint::Length(10),
        Constraint::Length(4),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Length(4),
    ]);
    let title = if app.by_instance {
        format!(
            " Fleet: {} instances (s sort, S reverse, i services) ",
            rows.len()
        )
    } else {
        format!(
            " Fleet: {} services (s sort, S reverse, i instances) ",
            rows.len()
        )
    };
    let table = Table::new(body, widths)
        .header(Row::new(header).style(theme::header()))
        .block(Block::default().borders(Borders::ALL).title(title));
    frame.render_widget(table, table_area);

    let selected = rows.get(app.fleet_sel).map(|r| &app.endpoints[r.index]);
    let detail = match selected {
        None if app.endpoints.is_empty() => Line::from(app.notice.clone().unwrap_or_else(|| {
            "no admin endpoints given: run meshtop ADDR... or meshtop --demo".to_owned()
        })),
        None => Line::from(Span::styled("no service matches the filter", theme::dim())),
        Some(ep) => match &ep.conn {
            Conn::Failed { error, .. } => Line::from(Span::styled(error.clone(), theme::bad())),
            Conn::Connecting { attempt } => {
                Line::from(format!("{}: connecting (attempt {attempt})", ep.addr))
            }
            Conn::Connected => {
                let info = ep.info.as_ref();
                let version = info.map_or("", |i| i.version.as_str());
                let node = info.map_or("", |i| i.node_id.as_str());
                Line::from(format!(
                    "{} · node {} · meshwork {} · Enter for detail",
                    ep.addr,
                    if node.is_empty() { "-" } else { node },
                    version
                ))
            }
        },
    };
    frame.render_widget(
        Paragraph::new(detail)
            .wrap(Wrap { trim: true })
            .block(Block::default().borders(Borders::LEFT | Borders::RIGHT | Borders::BOTTOM)),
        detail_area,
    );

    let (data, name): (Vec<u64>, &str) = selected.map_or((Vec::new(), ""), |ep| {
        let w = usize::from(spark_area.width.saturating_sub(2));
        let h = &ep.rps_history;
        (
            h.iter().skip(h.len().saturating_sub(w)).copied().collect(),
            ep.name(),
        )
    });
    let now = data.last().copied().unwrap_or(0);
    frame.render_widget(
        Sparkline::default().data(&data).style(theme::good()).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" traffic {name}: {now} req/s ")),
        ),
        spark_area,
    );
}
