//! Conversations over `parley_protocol::conversation` (no protocol logic here): the identity
//! key (made and published on first sign-in, like the browser's `web/chat/identity.js`), one
//! `Conversation` per peer over the stored `Store`, history pages, the WebSocket (backlog
//! catch-up, acks, reconnect), sending, Refresh, safety numbers, verification, and the events
//! the browser shows (ticks, "Keys changed", key warnings, lost local keys, rejected replays).
//!
//! CONTRACT (the skeleton's; the engine helper fills in):
//! - [`ensure_identity`]: after a sign-in, make the identity key if the state has none and
//!   publish it (`POST /api/keys`).

use anyhow::{Result, bail};

use crate::api::Api;
use crate::keystore::AccountState;

/// Make and publish the identity key if `state` has none; publish it again otherwise (a no-op
/// on the server when already published).
pub fn ensure_identity(_api: &Api, _state: &mut AccountState) -> Result<()> {
    bail!("not built yet")
}
