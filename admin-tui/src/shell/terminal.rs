//! Puts the real terminal into TUI mode (raw mode, alternate screen, mouse capture) and takes it
//! back out on every exit path: normal return (the guard's `Drop`), panic (a hook that restores
//! before the default report), and Ctrl-C (a key in raw mode, handled as quit by the app).
//!
//! Only the crossterm terminal; tests use ratatui's `TestBackend` and never come here.

use std::io::stdout;

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use ratatui::DefaultTerminal;

/// Restores the terminal when dropped.
#[derive(Debug)]
pub struct TerminalGuard {
    _private: (),
}

/// Enters TUI mode and returns the terminal with its restore guard.
pub fn enter() -> std::io::Result<(DefaultTerminal, TerminalGuard)> {
    // ratatui's init installs a panic hook that restores raw mode and the screen; ours goes in
    // front of it to release the mouse too.
    let terminal = ratatui::try_init()?;
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(stdout(), DisableMouseCapture);
        previous(info);
    }));
    execute!(stdout(), EnableMouseCapture)?;
    Ok((terminal, TerminalGuard { _private: () }))
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = execute!(stdout(), DisableMouseCapture);
        ratatui::restore();
    }
}
