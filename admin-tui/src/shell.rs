//! The terminal shell: one `tokio::select!` loop over terminal events, data from the endpoint
//! tasks and a slow tick; it applies each as an [`Action`] through the pure [`update`], runs the
//! resulting [`Command`], and redraws only when something changed (idle CPU stays near zero).
//! Data arriving in a burst is drained before one redraw, so 50 services stay responsive.
//!
//! Generic over the ratatui backend and the event stream, so tests drive it with `TestBackend`.
//! Terminal setup and restore (raw mode, alternate screen, mouse, panic hook) are in
//! [`terminal`].

use std::time::Duration;

use crossterm::event::{Event, KeyEventKind};
use futures::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc;

use crate::app::{Action, App, Command, update};
use crate::data::{EndpointHandle, Request};
use crate::ui::render;

pub mod terminal;

/// Largest number of queued data actions applied before a redraw.
const MAX_BATCH: usize = 512;

/// Runs the UI until quit, the event stream ends or a terminal error.
pub async fn run<B, S>(
    terminal: &mut Terminal<B>,
    mut app: App,
    mut events: S,
    mut data: mpsc::Receiver<Action>,
    handles: &[EndpointHandle],
    tick: Duration,
) -> anyhow::Result<App>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
    S: Stream<Item = std::io::Result<Event>> + Unpin,
{
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let size = terminal.size()?;
    update(&mut app, Action::Resize(size.width, size.height));
    let mut dirty = true;
    loop {
        if dirty {
            terminal.draw(|f| render(&app, f))?;
            dirty = false;
        }
        let action = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(ev)) => match to_action(ev) {
                    Some(a) => a,
                    None => continue,
                },
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(app),
            },
            Some(a) = data.recv() => a,
            _ = ticker.tick() => Action::Tick,
        };
        let is_tick = matches!(action, Action::Tick);
        if apply(&mut app, action, handles) {
            return Ok(app);
        }
        dirty |= !is_tick;
        for _ in 0..MAX_BATCH {
            let Ok(a) = data.try_recv() else { break };
            if apply(&mut app, a, handles) {
                return Ok(app);
            }
        }
    }
}

/// Applies one action and runs its command; `true` means quit.
fn apply(app: &mut App, action: Action, handles: &[EndpointHandle]) -> bool {
    let Some(cmd) = update(app, action) else {
        return false;
    };
    let (endpoint, request) = match cmd {
        Command::Quit => return true,
        Command::SetFault { endpoint, spec } => (endpoint, Request::SetFault(spec)),
        Command::ClearFault { endpoint, id } => (endpoint, Request::ClearFault(id)),
        Command::Refresh { endpoint } => (endpoint, Request::Refresh),
    };
    let sent = handles.get(endpoint).is_some_and(|h| h.request(request));
    if !sent {
        update(
            app,
            Action::Notice("request not sent: that endpoint is busy or gone; try again".to_owned()),
        );
    }
    false
}

/// Maps a terminal event to an action (`None` for the ones meshtop ignores).
pub fn to_action(event: Event) -> Option<Action> {
    match event {
        Event::Key(k) if k.kind != KeyEventKind::Release => Some(Action::Key(k)),
        Event::Mouse(m) => Some(Action::Mouse(m)),
        Event::Resize(w, h) => Some(Action::Resize(w, h)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::app::{DataEvent, View};
    use crate::fixtures;

    fn key(c: char) -> std::io::Result<Event> {
        Ok(Event::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::NONE,
        )))
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_applies_data_and_keys_draws_and_quits_on_q() {
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let (tx, rx) = mpsc::channel(8);
        tx.send(Action::Data {
            endpoint: 0,
            event: DataEvent::Connected(Box::new(fixtures::info("frontend"))),
        })
        .await
        .unwrap();
        // Data first, then Tab, then quit; the stream stays open after `q`.
        let keys = futures::stream::iter([key('2'), key('q')]).chain(futures::stream::pending());
        let app = App::new(["10.0.0.5:9901"]);
        let waited = tokio::time::timeout(
            Duration::from_secs(5),
            run(
                &mut terminal,
                app,
                Box::pin(keys),
                rx,
                &[],
                Duration::from_secs(1),
            ),
        )
        .await;
        let app = waited.expect("q quits").unwrap();
        assert_eq!(app.view, View::Service);
        assert_eq!(app.endpoints[0].name(), "frontend");
        let screen = format!("{}", terminal.backend());
        assert!(screen.contains("frontend (10.0.0.5:9901) up"), "{screen}");
    }
}
