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
pub mod view;

#[cfg(test)]
mod tests;

use std::time::Duration;

use anyhow::{Result, bail};
use ratatui::Terminal;
use ratatui::crossterm::event::{self, Event};

pub use app::App;
pub use backend::Backend;

use crate::profile::Profile;

/// How long one turn of the loop waits for a key.
const TICK: Duration = Duration::from_millis(100);

/// `parley-chat chat` (the default command).
pub fn run(_profile: &Profile) -> Result<()> {
    bail!("not built yet")
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
    loop {
        terminal.draw(|frame| view::draw(frame, &mut app))?;
        if app.quit {
            return Ok(());
        }
        if event::poll(TICK)? {
            match event::read()? {
                Event::Key(key) => app.on_key(backend, key),
                Event::Paste(text) => {
                    for c in text.chars() {
                        app.on_key(
                            backend,
                            event::KeyEvent::new(
                                event::KeyCode::Char(c),
                                event::KeyModifiers::NONE,
                            ),
                        );
                    }
                }
                _ => {}
            }
            // Keys typed quickly are handled before the next draw.
            while event::poll(Duration::ZERO)? {
                if let Event::Key(key) = event::read()? {
                    app.on_key(backend, key);
                }
            }
        }
        app.poll(backend, Duration::ZERO);
    }
}
