//! `update()` tests: navigation, filter, sorting, the fault form and its validation, toggling,
//! data ingestion and mouse.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use meshwork_proto::admin::v1::fault_scope::Scope;

use super::*;
use crate::fixtures;
use crate::model::Conn;

fn key(app: &mut App, code: KeyCode) -> Option<Command> {
    update(app, Action::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

#[test]
fn tab_and_digits_switch_views_and_wrap() {
    let mut app = fixtures::app((80, 24));
    let mut seen = vec![app.view];
    for _ in 0..5 {
        key(&mut app, KeyCode::Tab);
        seen.push(app.view);
    }
    assert_eq!(
        seen,
        [
            View::Fleet,
            View::Service,
            View::Xds,
            View::Faults,
            View::Events,
            View::Fleet
        ]
    );
    key(&mut app, KeyCode::BackTab);
    assert_eq!(app.view, View::Events);
    key(&mut app, KeyCode::Char('3'));
    assert_eq!(app.view, View::Xds);
}

#[test]
fn selection_moves_with_arrows_and_vim_keys_and_stays_in_bounds() {
    let mut app = fixtures::app((80, 24));
    key(&mut app, KeyCode::Char('k'));
    assert_eq!(app.fleet_sel, 0);
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    assert_eq!(app.fleet_sel, 2, "three services, so the last row is 2");
    key(&mut app, KeyCode::Char('g'));
    assert_eq!(app.fleet_sel, 0);
    key(&mut app, KeyCode::Char('G'));
    assert_eq!(app.fleet_sel, 2);
}

#[test]
fn enter_opens_the_service_under_the_cursor_in_sorted_order() {
    let mut app = fixtures::app((80, 24));
    // Sorted by name: 10.0.0.7:9901 (no info yet), billing, frontend.
    let names: Vec<_> = app.fleet_rows().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["10.0.0.7:9901", "billing", "frontend"]);
    key(&mut app, KeyCode::Char('s')); // by req/s ascending
    key(&mut app, KeyCode::Char('S')); // descending: frontend first
    assert_eq!(app.sort, SortKey::Rps);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Service);
    assert_eq!(app.current_endpoint().map(|e| e.name()), Some("frontend"));
    key(&mut app, KeyCode::Char('h'));
    assert_eq!(app.view, View::Fleet);
}

#[test]
fn filter_narrows_fleet_and_events_and_esc_clears_it() {
    let mut app = fixtures::app((80, 24));
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "bill");
    assert!(app.filter_editing);
    key(&mut app, KeyCode::Enter);
    assert!(!app.filter_editing);
    let names: Vec<_> = app.fleet_rows().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["billing"]);
    // q typed into the filter is text, not quit.
    key(&mut app, KeyCode::Char('/'));
    assert_eq!(key(&mut app, KeyCode::Char('q')), None);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.filter, "");
    app.filter = "nack".into();
    assert_eq!(app.log.filtered(&app.filter).count(), 1);
}

#[test]
fn q_quits_and_ctrl_c_quits_even_inside_the_form() {
    let mut app = fixtures::app((80, 24));
    assert_eq!(key(&mut app, KeyCode::Char('q')), Some(Command::Quit));
    key(&mut app, KeyCode::Char('4'));
    key(&mut app, KeyCode::Char('n'));
    assert!(app.form.is_some());
    assert_eq!(
        key(&mut app, KeyCode::Char('q')),
        None,
        "q is text in the form"
    );
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(update(&mut app, Action::Key(ctrl_c)), Some(Command::Quit));
}

#[test]
fn help_opens_with_question_mark_and_any_key_closes_it() {
    let mut app = fixtures::app((80, 24));
    key(&mut app, KeyCode::Char('?'));
    assert!(app.help);
    key(&mut app, KeyCode::Char('j'));
    assert!(!app.help);
    assert_eq!(app.fleet_sel, 0, "the closing key does nothing else");
}

fn open_form(app: &mut App) {
    key(app, KeyCode::Char('4'));
    key(app, KeyCode::Char('n'));
}

fn fill(app: &mut App, field_texts: [&str; 5]) {
    // Focus starts on the scope kind; each text goes into the next field.
    for text in field_texts {
        key(app, KeyCode::Tab);
        let form = app.form.as_mut().unwrap();
        while form.text(form.focus).is_some_and(|t| !t.is_empty()) {
            form.backspace();
        }
        typed(app, text);
    }
}

#[test]
fn a_valid_form_sends_set_fault_with_the_typed_rule() {
    let mut app = fixtures::app((80, 24));
    open_form(&mut app);
    key(&mut app, KeyCode::Right); // client cluster
    fill(&mut app, ["greeter", "200", "unavailable", "50", "30s"]);
    let cmd = key(&mut app, KeyCode::Enter);
    let Some(Command::SetFault { endpoint, spec }) = cmd else {
        panic!("expected SetFault, got {cmd:?}");
    };
    assert_eq!(endpoint, 0);
    assert_eq!(
        spec.scope.unwrap().scope,
        Some(Scope::ClientCluster("greeter".into()))
    );
    assert_eq!(
        (spec.delay_ms, spec.abort_code, spec.percentage, spec.ttl_ms),
        (200, Some(14), 50.0, Some(30_000))
    );
    assert!(app.form.is_none());
}

#[test]
fn invalid_fields_keep_the_form_open_with_a_message() {
    let cases: [([&str; 5], FormError); 6] = [
        (
            ["", "200", "", "100", ""],
            FormError::EmptyScope("target like xds:///greeter:50051"),
        ),
        (
            ["xds:///a", "soon", "", "100", ""],
            FormError::BadDelay("soon".into()),
        ),
        (
            ["xds:///a", "3600001", "", "100", ""],
            FormError::BadDelay("3600001".into()),
        ),
        (
            ["xds:///a", "", "17", "100", ""],
            FormError::BadAbort("17".into()),
        ),
        (
            ["xds:///a", "10", "", "101", ""],
            FormError::BadPercent("101".into()),
        ),
        (["xds:///a", "", "", "100", ""], FormError::NoEffect),
    ];
    for (fields, want) in cases {
        let mut app = fixtures::app((80, 24));
        open_form(&mut app);
        fill(&mut app, fields);
        assert_eq!(key(&mut app, KeyCode::Enter), None, "{fields:?}");
        assert_eq!(app.form.as_ref().and_then(|f| f.error.clone()), Some(want));
    }
}

#[test]
fn ttl_codes_and_methods_parse_as_operators_write_them() {
    assert_eq!(form::parse_duration_ms("500ms"), Some(500));
    assert_eq!(form::parse_duration_ms("5m"), Some(300_000));
    assert_eq!(form::parse_duration_ms("2"), Some(2_000));
    assert_eq!(form::parse_duration_ms("0s"), None);
    assert_eq!(form::parse_duration_ms("fast"), None);
    assert_eq!(form::parse_code("deadline-exceeded"), Some(4));
    assert_eq!(form::parse_code("OK"), None, "OK is not an abort");
    assert_eq!(form::parse_code("0"), None);
    let mut f = FaultForm::new(0);
    f.scope_kind = ScopeKind::ServerMethod;
    f.abort = "13".into();
    for (method, ok) in [
        ("/helloworld.Greeter/SayHello", true),
        ("helloworld.Greeter/*", true),
        ("SayHello", false),
        ("a/b/c", false),
    ] {
        f.scope = method.into();
        assert_eq!(f.validate().is_ok(), ok, "{method}");
    }
}

#[test]
fn esc_cancels_the_form_without_a_command() {
    let mut app = fixtures::app((80, 24));
    open_form(&mut app);
    assert_eq!(key(&mut app, KeyCode::Esc), None);
    assert!(app.form.is_none());
    assert_eq!(app.view, View::Faults);
}

#[test]
fn toggle_clears_a_rule_and_keeps_it_to_set_again() {
    let mut app = fixtures::app((80, 24));
    key(&mut app, KeyCode::Char('4'));
    assert_eq!(
        key(&mut app, KeyCode::Char(' ')),
        Some(Command::ClearFault { endpoint: 0, id: 7 })
    );
    assert_eq!(app.paused.len(), 1);
    // The server confirms: the rule is gone from the list; the paused copy is row 0 now.
    let mut empty = fixtures::faults();
    empty.rules.clear();
    update(
        &mut app,
        Action::Data {
            endpoint: 0,
            event: DataEvent::Faults(empty),
        },
    );
    assert_eq!(
        key(&mut app, KeyCode::Char('t')),
        Some(Command::SetFault {
            endpoint: 0,
            spec: fixtures::fault_spec()
        })
    );
    assert!(app.paused.is_empty());
    assert_eq!(
        key(&mut app, KeyCode::Char('d')),
        None,
        "nothing left to clear"
    );
}

#[test]
fn clear_asks_for_the_selected_rule() {
    let mut app = fixtures::app((80, 24));
    key(&mut app, KeyCode::Char('4'));
    assert_eq!(
        key(&mut app, KeyCode::Char('d')),
        Some(Command::ClearFault { endpoint: 0, id: 7 })
    );
}

#[test]
fn a_failed_endpoint_shows_why_and_logs_once() {
    let mut app = fixtures::app((80, 24));
    let before = app.log.len();
    let failed = || DataEvent::Failed {
        error: "cannot reach 10.0.0.5:9901 (refused)".into(),
        retry_in: Duration::from_millis(1600),
    };
    update(
        &mut app,
        Action::Data {
            endpoint: 0,
            event: failed(),
        },
    );
    update(
        &mut app,
        Action::Data {
            endpoint: 0,
            event: DataEvent::Connecting { attempt: 2 },
        },
    );
    update(
        &mut app,
        Action::Data {
            endpoint: 0,
            event: failed(),
        },
    );
    assert!(
        matches!(&app.endpoints[0].conn, Conn::Failed { error, .. } if error.contains("refused"))
    );
    assert_eq!(
        app.log.len(),
        before + 1,
        "the same error again is not logged twice"
    );
    assert!(
        app.endpoints[0].snapshot.is_some(),
        "the last snapshot stays on screen"
    );
}

#[test]
fn snapshots_feed_totals_and_histories() {
    let app = fixtures::app((80, 24));
    let t = app.endpoints[0].totals();
    assert_eq!((t.rps, t.ejected, t.unhealthy_targets), (40.5, 1, 1));
    assert_eq!(t.p99_ms, 180.0);
    assert_eq!(app.endpoints[0].rps_history.len(), 41);
    let row = app.endpoints[0].fleet_row(0);
    assert_eq!((row.targets, row.faults), (2, 1));
}

#[test]
fn clicking_a_tab_switches_view_and_the_wheel_scrolls() {
    let mut app = fixtures::app((80, 24));
    let click = |column, row| MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column,
        row,
        modifiers: KeyModifiers::NONE,
    };
    // " 1 Fleet " is columns 0-8, a divider, then " 2 Service " from 10.
    update(&mut app, Action::Mouse(click(12, 0)));
    assert_eq!(app.view, View::Service);
    update(&mut app, Action::Mouse(click(2, 0)));
    assert_eq!(app.view, View::Fleet);
    let wheel = MouseEvent {
        kind: MouseEventKind::ScrollDown,
        column: 5,
        row: 5,
        modifiers: KeyModifiers::NONE,
    };
    update(&mut app, Action::Mouse(wheel));
    assert_eq!(app.fleet_sel, 2);
    // A click on the first table row selects it; a second click opens it.
    update(&mut app, Action::Mouse(click(5, 3)));
    assert_eq!(app.fleet_sel, 0);
    update(&mut app, Action::Mouse(click(5, 3)));
    assert_eq!(app.view, View::Service);
}

#[test]
fn replicas_of_a_service_are_one_fleet_row_until_i_splits_them() {
    let mut app = fixtures::app((80, 24));
    let frontend = app
        .endpoints
        .iter()
        .position(|e| e.name() == "frontend")
        .expect("the fixture has a frontend");
    let mut replica = app.endpoints[frontend].clone();
    replica.addr = "10.0.0.9:9901".into();
    app.endpoints.push(replica);
    let one = app.endpoints[frontend].fleet_row(frontend);

    let rows = app.fleet_rows();
    let names: Vec<_> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["10.0.0.7:9901", "billing", "frontend"]);
    let merged = rows.iter().find(|r| r.name == "frontend").expect("row");
    assert_eq!((merged.instances, merged.index), (2, frontend));
    assert!((merged.rps - 2.0 * one.rps).abs() < 1e-9, "{merged:?}");
    assert!(
        (merged.error_pct - one.error_pct).abs() < 1e-9,
        "same share"
    );
    assert_eq!(merged.p99_ms, one.p99_ms);
    assert_eq!(merged.faults, 2 * one.faults);
    assert_eq!(merged.up, 2 * one.up);

    key(&mut app, KeyCode::Char('i'));
    assert!(app.by_instance);
    let rows = app.fleet_rows();
    assert_eq!(rows.len(), 4, "one row per admin endpoint");
    assert!(rows.iter().all(|r| r.instances == 1));
    key(&mut app, KeyCode::Char('i'));
    assert_eq!(app.fleet_rows().len(), 3);
}

#[test]
fn merged_error_share_is_weighted_by_requests() {
    let mut a = fixtures::app((80, 24)).endpoints[0].fleet_row(0);
    let mut b = a.clone();
    (a.rps, a.error_pct, a.p99_ms) = (300.0, 0.0, 10.0);
    (b.rps, b.error_pct, b.p99_ms) = (100.0, 20.0, 40.0);
    a.absorb(&b);
    assert_eq!(a.rps, 400.0);
    assert!((a.error_pct - 5.0).abs() < 1e-9, "{}", a.error_pct);
    assert_eq!(a.p99_ms, 40.0);
    assert_eq!(a.instances, 2);
}
