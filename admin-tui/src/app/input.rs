//! Keyboard and mouse handling: maps key presses and clicks to state changes, depending on what
//! has focus (the fault form, the filter prompt, the help overlay, or the view).
//!
//! Pure. Key bindings are listed in the help view ([`crate::ui::help`]); keep the two in step.

use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

use super::form::{FaultForm, Field};
use super::{App, Command, PausedFault, View};
use crate::ui;

/// Handles a key press.
pub(super) fn on_key(app: &mut App, key: KeyEvent) -> Option<Command> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        return Some(Command::Quit);
    }
    if app.form.is_some() {
        return on_form_key(app, key);
    }
    if app.filter_editing {
        on_filter_key(app, key);
        return None;
    }
    if app.help {
        app.help = false;
        return (key.code == KeyCode::Char('q')).then_some(Command::Quit);
    }
    match key.code {
        KeyCode::Char('q') => return Some(Command::Quit),
        KeyCode::Char('?') => app.help = true,
        KeyCode::Tab => switch_view(app, app.view.cycle(false)),
        KeyCode::BackTab => switch_view(app, app.view.cycle(true)),
        KeyCode::Char(c @ '1'..='5') => {
            let i = c as usize - '1' as usize;
            switch_view(app, View::ALL[i]);
        }
        KeyCode::Char('/') => {
            app.filter_editing = true;
            app.notice = None;
        }
        KeyCode::Esc => {
            app.filter.clear();
            app.notice = None;
            clamp(app);
        }
        KeyCode::Down | KeyCode::Char('j') => move_sel(app, 1),
        KeyCode::Up | KeyCode::Char('k') => move_sel(app, -1),
        KeyCode::PageDown => move_sel(app, page(app)),
        KeyCode::PageUp => move_sel(app, -page(app)),
        KeyCode::Home | KeyCode::Char('g') => move_sel(app, isize::MIN / 2),
        KeyCode::End | KeyCode::Char('G') => move_sel(app, isize::MAX / 2),
        KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') if app.view == View::Fleet => {
            open_selected(app);
        }
        KeyCode::Left | KeyCode::Char('h') if app.view != View::Fleet => {
            switch_view(app, View::Fleet);
        }
        KeyCode::Char(']') => step_endpoint(app, 1),
        KeyCode::Char('[') => step_endpoint(app, -1),
        KeyCode::Char('s') if app.view == View::Fleet => app.sort = app.sort.next(),
        KeyCode::Char('S') if app.view == View::Fleet => app.sort_desc = !app.sort_desc,
        KeyCode::Char('i') if app.view == View::Fleet => {
            app.by_instance = !app.by_instance;
            app.fleet_sel = 0;
        }
        KeyCode::Char('r') => {
            return Some(Command::Refresh {
                endpoint: app.current,
            });
        }
        KeyCode::Char('n') if app.view == View::Faults && !app.endpoints.is_empty() => {
            app.form = Some(FaultForm::new(app.current));
        }
        KeyCode::Char('d') | KeyCode::Delete if app.view == View::Faults => {
            return clear_selected(app);
        }
        KeyCode::Char(' ') | KeyCode::Char('t') if app.view == View::Faults => {
            return toggle_selected(app);
        }
        _ => {}
    }
    None
}

fn on_form_key(app: &mut App, key: KeyEvent) -> Option<Command> {
    let form = app.form.as_mut()?;
    match key.code {
        KeyCode::Esc => app.form = None,
        KeyCode::Tab | KeyCode::Down => form.focus = form.focus.cycle(false),
        KeyCode::BackTab | KeyCode::Up => form.focus = form.focus.cycle(true),
        KeyCode::Left if form.focus == Field::ScopeKind => {
            form.scope_kind = form.scope_kind.cycle(true);
        }
        KeyCode::Right if form.focus == Field::ScopeKind => {
            form.scope_kind = form.scope_kind.cycle(false);
        }
        KeyCode::Backspace => form.backspace(),
        KeyCode::Char(c) => form.type_char(c),
        KeyCode::Enter => match form.validate() {
            Ok(spec) => {
                let endpoint = form.endpoint;
                app.form = None;
                app.notice = Some("setting fault rule…".to_owned());
                return Some(Command::SetFault { endpoint, spec });
            }
            Err(err) => form.error = Some(err),
        },
        _ => {}
    }
    None
}

fn on_filter_key(app: &mut App, key: KeyEvent) {
    match key.code {
        KeyCode::Enter => app.filter_editing = false,
        KeyCode::Esc => {
            app.filter_editing = false;
            app.filter.clear();
        }
        KeyCode::Backspace => {
            app.filter.pop();
        }
        KeyCode::Char(c) if !c.is_control() && app.filter.len() < 100 => app.filter.push(c),
        _ => {}
    }
    app.fleet_sel = 0;
    app.events_scroll = 0;
}

/// Handles a mouse event: wheel scrolls, a click on the tab bar switches view, a click on a
/// list row selects it.
pub(super) fn on_mouse(app: &mut App, mouse: MouseEvent) -> Option<Command> {
    match mouse.kind {
        MouseEventKind::ScrollDown => move_sel(app, 3),
        MouseEventKind::ScrollUp => move_sel(app, -3),
        MouseEventKind::Down(MouseButton::Left) if app.form.is_none() => {
            if mouse.row == 0 {
                if let Some(view) = ui::tab_at(mouse.column) {
                    switch_view(app, view);
                }
            } else if app.view == View::Fleet
                && let Some(row) = ui::fleet::row_at(app, mouse.row)
            {
                if row == app.fleet_sel {
                    open_selected(app);
                } else {
                    app.fleet_sel = row;
                }
            }
        }
        _ => {}
    }
    None
}

fn switch_view(app: &mut App, view: View) {
    if app.view != view {
        app.view = view;
        app.row_sel = 0;
        app.events_scroll = 0;
    }
}

fn open_selected(app: &mut App) {
    if let Some(row) = app.fleet_rows().get(app.fleet_sel) {
        app.current = row.index;
        switch_view(app, View::Service);
    }
}

fn step_endpoint(app: &mut App, delta: isize) {
    let n = app.endpoints.len();
    if n > 0 {
        app.current = (app.current as isize + delta).rem_euclid(n as isize) as usize;
        app.row_sel = 0;
    }
}

/// Rows in the current view's list.
fn row_count(app: &App) -> usize {
    let ep = app.current_endpoint();
    match app.view {
        View::Fleet => app.fleet_rows().len(),
        View::Service => ep.map_or(0, |e| ui::service::rows(e).len()),
        View::Xds => ep
            .and_then(|e| e.config_dump.as_ref())
            .map_or(0, |d| d.entries.len()),
        View::Faults => {
            ep.and_then(|e| e.faults.as_ref())
                .map_or(0, |f| f.rules.len())
                + app.current_paused().count()
        }
        View::Events => app.log.filtered(&app.filter).count(),
    }
}

fn page(app: &App) -> isize {
    app.size.1.saturating_sub(8).max(1) as isize
}

fn move_sel(app: &mut App, delta: isize) {
    let n = row_count(app);
    let last = n.saturating_sub(1) as isize;
    if app.view == View::Events {
        // Scrolling counts up from the newest line; "down" goes towards it.
        let s = (app.events_scroll as isize - delta).clamp(0, last);
        app.events_scroll = s as usize;
        return;
    }
    let sel = if app.view == View::Fleet {
        &mut app.fleet_sel
    } else {
        &mut app.row_sel
    };
    *sel = (*sel as isize + delta).clamp(0, last) as usize;
}

fn clamp(app: &mut App) {
    move_sel(app, 0);
}

fn clear_selected(app: &mut App) -> Option<Command> {
    let endpoint = app.current;
    let rules = app
        .current_endpoint()?
        .faults
        .as_ref()
        .map_or(&[][..], |f| &f.rules[..]);
    if let Some(rule) = rules.get(app.row_sel) {
        return Some(Command::ClearFault {
            endpoint,
            id: rule.id,
        });
    }
    // A paused rule: forget it.
    let k = app.row_sel - rules.len();
    let idx = app
        .paused
        .iter()
        .enumerate()
        .filter(|(_, p)| p.endpoint == endpoint)
        .nth(k)
        .map(|(i, _)| i)?;
    app.paused.remove(idx);
    clamp(app);
    None
}

fn toggle_selected(app: &mut App) -> Option<Command> {
    let endpoint = app.current;
    let rules = app
        .current_endpoint()?
        .faults
        .as_ref()
        .map_or(&[][..], |f| &f.rules[..]);
    if let Some(rule) = rules.get(app.row_sel) {
        let id = rule.id;
        if let Some(spec) = rule.spec.clone() {
            app.paused.push(PausedFault { endpoint, spec });
        }
        return Some(Command::ClearFault { endpoint, id });
    }
    let k = app.row_sel - rules.len();
    let idx = app
        .paused
        .iter()
        .enumerate()
        .filter(|(_, p)| p.endpoint == endpoint)
        .nth(k)
        .map(|(i, _)| i)?;
    let paused = app.paused.remove(idx);
    Some(Command::SetFault {
        endpoint,
        spec: paused.spec,
    })
}
