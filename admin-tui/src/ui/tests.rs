//! Snapshot tests of every view at 80×24 and 160×48 with ratatui's `TestBackend`, from the
//! recorded admin data in [`crate::fixtures`].

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::app::{App, FaultForm, FormError, View};
use crate::fixtures;

use super::render;

fn draw(app: &App) -> TestBackend {
    let (w, h) = app.size;
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| render(app, f)).unwrap();
    terminal.backend().clone()
}

fn views(size: (u16, u16)) -> Vec<(&'static str, App)> {
    let mut out = Vec::new();
    for (name, view) in [
        ("fleet", View::Fleet),
        ("service", View::Service),
        ("xds", View::Xds),
        ("faults", View::Faults),
        ("events", View::Events),
    ] {
        let mut app = fixtures::app(size);
        app.view = view;
        out.push((name, app));
    }
    let mut help = fixtures::app(size);
    help.help = true;
    out.push(("help", help));
    let mut form = fixtures::app(size);
    form.view = View::Faults;
    let mut f = FaultForm::new(0);
    f.scope = "xds:///greeter:50051".into();
    f.percent = "150".into();
    f.error = Some(FormError::BadPercent("150".into()));
    form.form = Some(f);
    out.push(("fault_form", form));
    let mut down = fixtures::app(size);
    down.fleet_sel = 0; // the endpoint refusing the token
    down.filter = "0.7".into();
    out.push(("fleet_filtered_down", down));
    // `meshtop --demo` right after start: the demo services' endpoints, still connecting.
    let mut demo = App::new((0..5).map(|i| format!("127.0.0.1:4100{i}")));
    demo.size = size;
    demo.notice = Some(
        "demo mesh running: control plane 127.0.0.1:18000, 5 services with admin endpoints; q stops it".into(),
    );
    out.push(("fleet_demo_starting", demo));
    out
}

#[test]
fn every_view_at_80x24() {
    for (name, app) in views((80, 24)) {
        insta::assert_snapshot!(format!("{name}_80x24"), draw(&app));
    }
}

#[test]
fn every_view_at_160x48() {
    for (name, app) in views((160, 48)) {
        insta::assert_snapshot!(format!("{name}_160x48"), draw(&app));
    }
}

#[test]
fn tiny_terminals_do_not_panic() {
    for size in [(1, 1), (20, 5), (40, 10)] {
        for (_, app) in views(size) {
            draw(&app);
        }
    }
}

#[test]
fn a_fleet_of_50_services_and_2000_endpoints_renders_every_view() {
    let mut app = App::new((0..50).map(|i| format!("10.1.0.{i}:9901")));
    app.size = (160, 48);
    for i in 0..50 {
        let mut snap = fixtures::quiet_snapshot(0);
        let cluster = &mut snap.targets[0].clusters[0];
        cluster.endpoints = (0..40)
            .map(|e| fixtures::endpoint(&format!("10.2.{i}.{e}:7000"), "z", 1.0, 0.0, 1.0, 2.0))
            .collect();
        crate::app::update(
            &mut app,
            crate::app::Action::Data {
                endpoint: i,
                event: crate::app::DataEvent::Snapshot(Box::new(snap)),
            },
        );
    }
    let endpoints: usize = app
        .endpoints
        .iter()
        .map(|e| super::service::rows(e).len())
        .sum();
    assert_eq!(endpoints, 50 * 42);
    for view in View::ALL {
        app.view = view;
        let out = draw(&app);
        assert!(format!("{out}").contains(view.title()));
    }
}
