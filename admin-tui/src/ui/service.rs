//! Service detail: one admin endpoint's targets → clusters → endpoints, with health and why (EDS,
//! health check, outlier ejection and until when), in-flight, requests/s, errors, p50/p99; each
//! cluster's LB policy and circuit-breaker usage (gRFC A32); a latency history chart; and the
//! route table of the selected target.
//!
//! Reads state only. Field meanings: `meshwork.admin.v1.Target`/`Cluster`/`Endpoint`.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Borders, Cell, Chart, Dataset, GraphType, Paragraph, Row, Table,
};

use meshwork_proto::admin::v1::{Endpoint, HealthSource, HealthState, Snapshot, Target};

use super::{scroll_offset, theme};
use crate::app::App;
use crate::app::form::human_ms;
use crate::model::EndpointState;

/// One line of the detail tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetailRow {
    /// A target (index).
    Target(usize),
    /// A cluster (target, cluster).
    Cluster(usize, usize),
    /// An endpoint (target, cluster, endpoint).
    Endpoint(usize, usize, usize),
}

/// The tree of the latest snapshot, flattened in display order.
pub fn rows(ep: &EndpointState) -> Vec<DetailRow> {
    let mut out = Vec::new();
    let Some(snap) = &ep.snapshot else {
        return out;
    };
    for (t, target) in snap.targets.iter().enumerate() {
        out.push(DetailRow::Target(t));
        for (c, cluster) in target.clusters.iter().enumerate() {
            out.push(DetailRow::Cluster(t, c));
            out.extend((0..cluster.endpoints.len()).map(|e| DetailRow::Endpoint(t, c, e)));
        }
    }
    out
}

/// Draws the service detail of the current endpoint into `area`.
pub fn render(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let Some(ep) = app.current_endpoint() else {
        frame.render_widget(Paragraph::new("no admin endpoints"), area);
        return;
    };
    let lower = if area.height >= 30 { 12 } else { 8 };
    let [table_area, lower_area] =
        Layout::vertical([Constraint::Min(5), Constraint::Length(lower)]).areas(area);
    let [chart_area, routes_area] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
            .areas(lower_area);

    let all = rows(ep);
    let height = usize::from(table_area.height.saturating_sub(3));
    let offset = scroll_offset(app.row_sel, height);
    let wide = area.width >= 100;
    let body: Vec<Row<'_>> = match &ep.snapshot {
        Some(snap) => all
            .iter()
            .enumerate()
            .skip(offset)
            .take(height)
            .map(|(i, r)| {
                let row = detail_row(snap, *r, wide);
                if i == app.row_sel {
                    row.style(theme::selected())
                } else {
                    row
                }
            })
            .collect(),
        None => Vec::new(),
    };
    let (cstyle, clabel) = theme::conn(&ep.conn);
    let title = Line::from(vec![
        Span::raw(format!(" {} ({}) ", ep.name(), ep.addr)),
        Span::styled(clabel, cstyle),
        Span::raw(" [ ] other service "),
    ]);
    let wide = area.width >= 100;
    let widths: Vec<Constraint> = if wide {
        vec![
            Constraint::Fill(1),
            Constraint::Fill(1),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(6),
        ]
    } else {
        vec![
            Constraint::Fill(1),
            Constraint::Length(21),
            Constraint::Length(7),
            Constraint::Length(6),
            Constraint::Length(5),
            Constraint::Length(6),
        ]
    };
    let mut header = vec![
        "Target / cluster / endpoint",
        "State",
        "inflt",
        "req/s",
        "err%",
    ];
    if wide {
        header.push("p50");
    }
    header.push("p99");
    let table = Table::new(body, widths)
        .header(Row::new(header).style(theme::header()))
        .block(Block::default().borders(Borders::ALL).title(title));
    if ep.snapshot.is_none() {
        let msg = match &ep.conn {
            crate::model::Conn::Failed { error, .. } => error.clone(),
            _ => "waiting for the first snapshot…".to_owned(),
        };
        frame.render_widget(table, table_area);
        let inner = Rect::new(
            table_area.x + 1,
            table_area.y + 2,
            table_area.width.saturating_sub(2),
            2,
        );
        frame.render_widget(Paragraph::new(msg).style(theme::dim()), inner);
    } else {
        frame.render_widget(table, table_area);
    }
    render_chart(ep, frame, chart_area);
    let target = match all.get(app.row_sel) {
        Some(DetailRow::Target(t) | DetailRow::Cluster(t, _) | DetailRow::Endpoint(t, _, _)) => *t,
        None => 0,
    };
    let target = ep.snapshot.as_ref().and_then(|s| s.targets.get(target));
    render_routes(target, frame, routes_area);
}

fn detail_row(snap: &Snapshot, row: DetailRow, wide: bool) -> Row<'static> {
    match row {
        DetailRow::Target(t) => {
            let target = &snap.targets[t];
            let (style, label) = theme::target(target.state());
            let state = if target.error.is_empty() {
                label.to_owned()
            } else {
                format!("{label}: {}", target.error)
            };
            Row::new(vec![
                Cell::from(target.name.clone()).style(theme::header()),
                Cell::from(state).style(style),
            ])
        }
        DetailRow::Cluster(t, c) => {
            let cluster = &snap.targets[t].clusters[c];
            let breaker = cluster.breaker.unwrap_or_default();
            let ejected = cluster.outlier_detection.map_or(0, |o| o.ejected);
            let over = if breaker.overflows > 0 {
                format!(" overflow {}", breaker.overflows)
            } else {
                String::new()
            };
            let state = format!(
                "{} ej {ejected}{over}",
                if cluster.lb_policy.is_empty() {
                    "-"
                } else {
                    &cluster.lb_policy
                }
            );
            let usage = if breaker.max_requests > 0 {
                f64::from(breaker.in_flight) / f64::from(breaker.max_requests)
            } else {
                0.0
            };
            let bstyle = if breaker.overflows > 0 || usage >= 0.9 {
                theme::bad()
            } else if usage >= 0.5 {
                theme::warn()
            } else {
                Style::default()
            };
            Row::new(vec![
                Cell::from(format!("  {}", cluster.name)),
                Cell::from(state).style(if breaker.overflows > 0 {
                    theme::warn()
                } else {
                    Style::default()
                }),
                Cell::from(format!("{}/{}", breaker.in_flight, breaker.max_requests)).style(bstyle),
            ])
        }
        DetailRow::Endpoint(t, c, e) => {
            let ep = &snap.targets[t].clusters[c].endpoints[e];
            let (style, state) = endpoint_state(snap, ep);
            let mut cells = vec![
                Cell::from(format!("    {}", ep.address)),
                Cell::from(state).style(style),
                Cell::from(ep.in_flight.to_string()),
                Cell::from(format!("{:.1}", ep.requests_per_sec)),
                Cell::from(format!("{:.1}", ep.error_rate * 100.0))
                    .style(theme::error_pct(ep.error_rate * 100.0)),
            ];
            if wide {
                cells.push(Cell::from(format!("{:.1}", ep.latency_p50_ms)));
            }
            cells.push(Cell::from(format!("{:.1}", ep.latency_p99_ms)));
            Row::new(cells)
        }
    }
}

/// Health in words with why: `healthy (EDS)`, `ejected 25s (outlier)`.
fn endpoint_state(snap: &Snapshot, ep: &Endpoint) -> (Style, String) {
    let (style, label) = theme::health(ep.health_state());
    let why = match ep.health_source() {
        HealthSource::Eds => "EDS",
        HealthSource::ActiveCheck => "hc",
        HealthSource::OutlierDetection => "outlier",
        HealthSource::Connectivity => "conn",
        HealthSource::Static => "static",
        HealthSource::Unspecified => "",
    };
    let until = match (ep.health_state(), &ep.ejected_until, &snap.taken_at) {
        (HealthState::Ejected, Some(until), Some(now)) => {
            let ms = (until.seconds - now.seconds) * 1000
                + i64::from(until.nanos - now.nanos) / 1_000_000;
            format!(" {}", human_ms(u64::try_from(ms).unwrap_or(0)))
        }
        _ => String::new(),
    };
    let why = if why.is_empty() {
        String::new()
    } else {
        format!(" ({why})")
    };
    (style, format!("{label}{until}{why}"))
}

fn render_chart(ep: &EndpointState, frame: &mut Frame<'_>, area: Rect) {
    let points: Vec<(f64, f64)> = ep
        .p99_history
        .iter()
        .enumerate()
        .map(|(i, v)| (i as f64, *v))
        .collect();
    let max = points.iter().map(|p| p.1).fold(1.0_f64, f64::max).ceil();
    let n = points.len().max(2) as f64;
    let now = points.last().map_or(0.0, |p| p.1);
    let chart = Chart::new(vec![
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(theme::warn())
            .data(&points),
    ])
    .block(
        Block::default()
            .borders(Borders::ALL)
            .title(format!(" p99 latency: {now:.1} ms ")),
    )
    .x_axis(Axis::default().bounds([0.0, n - 1.0]))
    .y_axis(
        Axis::default()
            .bounds([0.0, max])
            .labels([Line::from("0"), Line::from(format!("{max:.0}"))]),
    );
    frame.render_widget(chart, area);
}

fn render_routes(target: Option<&Target>, frame: &mut Frame<'_>, area: Rect) {
    let block = Block::default().borders(Borders::ALL);
    let Some(rt) = target.and_then(|t| t.route_table.as_ref()) else {
        frame.render_widget(
            Paragraph::new(Span::styled("no route table (static target)", theme::dim()))
                .block(block.title(" routes ")),
            area,
        );
        return;
    };
    let mut lines = vec![Line::from(Span::styled(
        format!("vhost {} · {}", rt.virtual_host, rt.route_config_name),
        theme::dim(),
    ))];
    for r in &rt.routes {
        let clusters = r
            .clusters
            .iter()
            .map(|c| {
                if r.clusters.len() > 1 {
                    format!("{}={}", c.name, c.weight)
                } else {
                    c.name.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(",");
        let mut extra = String::new();
        if !r.retry_policy.is_empty() {
            extra.push_str(&format!(" · retry {}", r.retry_policy));
        }
        if !r.fault.is_empty() {
            extra.push_str(&format!(" · fault {}", r.fault));
        }
        lines.push(Line::from(vec![
            Span::raw(format!("{} → ", r.r#match)),
            Span::styled(clusters, theme::good()),
            Span::styled(extra, theme::dim()),
        ]));
    }
    frame.render_widget(
        Paragraph::new(lines).block(block.title(format!(" routes of {} ", rt.listener_name))),
        area,
    );
}
