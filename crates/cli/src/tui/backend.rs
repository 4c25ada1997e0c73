//! What the full-screen chat needs from the engine: exactly the [`crate::engine::Engine`]
//! methods it calls, with the same names and signatures, so that the app can be driven by an
//! in-memory fake in tests and by the real engine in `parley-chat chat` (see `glue.rs`).

use std::time::Duration;

use anyhow::Result;

use crate::events::{ChatEvent, ConversationSummary};

/// The engine as the chat sees it (docs: /work/coord/engine-api.md, `crate::engine::Engine`).
pub trait Backend {
    /// The signed-in user's name.
    fn username(&self) -> &str;
    /// The conversations list.
    fn conversations(&mut self) -> Result<Vec<ConversationSummary>>;
    /// A user's id by exact username; "no user named …" when there is none.
    fn start_chat(&mut self, username: &str) -> Result<String>;
    /// A page of history, oldest first: the newest `limit` when `before` is None, else the
    /// `limit` before message id `before`.
    fn history(&mut self, peer: &str, before: Option<i64>, limit: usize) -> Result<Vec<ChatEvent>>;
    /// Encrypt and send (refused when the verified contact's key changed).
    fn send(&mut self, peer: &str, text: &str) -> Result<Vec<ChatEvent>>;
    /// Refresh keys (E6).
    fn refresh_keys(&mut self, peer: &str) -> Result<Vec<ChatEvent>>;
    /// The safety number as the browser shows it (groups of digits).
    fn safety_number(&mut self, peer: &str) -> Result<String>;
    fn mark_verified(&mut self, peer: &str) -> Result<()>;
    fn accept_key(&mut self, peer: &str) -> Result<()>;
    fn is_verified(&self, peer: &str) -> bool;
    /// Sending is held back: a verified contact's key changed.
    fn send_blocked(&self, peer: &str) -> bool;
    /// Read receipt up to message id `up_to`.
    fn mark_read(&mut self, peer: &str, up_to: i64) -> Result<()>;
    /// Live events since the last call, waiting at most `timeout` for the first.
    fn poll(&mut self, timeout: Duration) -> Vec<ChatEvent>;
}
