//! The full-screen chat (ratatui + crossterm): `parley-chat chat`, the default command.
//!
//! | file | what |
//! |---|---|
//! | `backend.rs` | [`Backend`]: the engine methods the chat uses (a fake in the tests) |
//! | `app.rs` | [`App`]: state and key handling, no terminal |
//! | `view.rs` | draws the state |
//! | `glue.rs` | `Backend for Engine` |
//!
//! The passphrase is asked before the alternate screen is entered; the terminal is restored on
//! exit, on error and on panic.

pub mod app;
pub mod backend;
mod glue;
pub mod view;

#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use std::io::IsTerminal;

use anyhow::{Result, bail};
use ratatui::Terminal;
use ratatui::crossterm::event::{self, DisableBracketedPaste, EnableBracketedPaste, Event};
use ratatui::crossterm::execute;

pub use app::App;
pub use backend::Backend;

use crate::engine::Engine;
use crate::profile::Profile;

/// How long one turn of the loop waits for a key.
const TICK: Duration = Duration::from_millis(100);
/// How long a notice (not an error) stays in the status bar.
const NOTICE_FOR: Duration = Duration::from_secs(6);

/// `parley-chat chat` (the default command).
pub fn run(profile: &Profile) -> Result<()> {
    if !std::io::stdout().is_terminal() {
        bail!(
            "the chat needs a terminal; for scripts use `parley-chat send`, `read --json` or `watch --json`"
        );
    }
    // The passphrase prompt (and any sign-in error) happens on the normal screen.
    let mut engine = Engine::open(profile)?;
    engine.connect()?;
    let mut terminal = ratatui::try_init()?;
    // Restores the terminal however this function ends (the panic hook covers panics).
    let _restore = Restore;
    // A paste arrives as one event: its line breaks do not send it line by line.
    execute!(std::io::stdout(), EnableBracketedPaste)?;
    let result = run_loop(&mut terminal, &mut engine);
    // A last save and a clean close happen when the engine drops, on the normal screen.
    drop(terminal);
    result
}

/// Leaves raw mode and the alternate screen when dropped.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        // Nothing more can be done if the terminal refuses; ratatui::restore reports its own.
        let _ = execute!(std::io::stdout(), DisableBracketedPaste);
        ratatui::restore();
    }
}

/// The event loop: keys from the terminal, events from the backend, a redraw after each,
/// until Ctrl-Q / Ctrl-C.
pub fn run_loop<B: Backend, T: ratatui::backend::Backend>(
    terminal: &mut Terminal<T>,
    backend: &mut B,
) -> Result<()>
where
    T::Error: Send + Sync + 'static,
{
    let mut app = App::new(backend);
    // Drawn after a key, a paste, a resize or an engine event, and once a second (the times).
    let mut dirty = true;
    let mut drawn = Instant::now();
    // A notice (not an error) goes after a while; an error stays until the next key.
    let mut notice: Option<(app::Notice, Instant)> = None;
    loop {
        match (&app.notice, &notice) {
            (Some(n), Some((seen, _))) if n == seen => {}
            (Some(n), _) => notice = Some((n.clone(), Instant::now())),
            (None, _) => notice = None,
        }
        if let Some((n, since)) = &notice
            && !n.error
            && since.elapsed() >= NOTICE_FOR
        {
            app.notice = None;
            notice = None;
            dirty = true;
        }
        if dirty || drawn.elapsed() >= Duration::from_secs(1) {
            terminal.draw(|frame| view::draw(frame, &mut app))?;
            dirty = false;
            drawn = Instant::now();
        }
        if app.quit {
            return Ok(());
        }
        if event::poll(TICK)? {
            dirty = true;
            match event::read()? {
                Event::Key(key) => app.on_key(backend, key),
                Event::Paste(text) => app.paste(&text),
                _ => {}
            }
            // Keys typed quickly are handled before the next draw.
            while event::poll(Duration::ZERO)? {
                match event::read()? {
                    Event::Key(key) => app.on_key(backend, key),
                    Event::Paste(text) => app.paste(&text),
                    _ => {}
                }
            }
        }
        dirty |= app.poll(backend, Duration::ZERO);
    }
}
