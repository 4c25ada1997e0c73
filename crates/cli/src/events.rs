//! What the chat shows, as one type shared by the engine (which makes them from the protocol's
//! events and the WebSocket's frames), the full-screen UI (which draws them) and the scriptable
//! mode (which prints them, one JSON object per line: `{"event": "message", …}`). The same
//! events the browser shows (web/chat/timeline.js).

use serde::{Deserialize, Serialize};

/// A tick of an own message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Stored by the server.
    Sent,
    /// Stored by the recipient's client.
    Delivered,
    /// Read by the recipient.
    Read,
}

/// How the connection to the server stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    Connected,
    Reconnecting,
    Offline,
}

/// One thing to show. `peer` is the contact's user id, `peer_username` their name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ChatEvent {
    /// A decrypted message (own or the contact's), from history, the backlog or live.
    Message {
        peer: String,
        peer_username: String,
        id: i64,
        mine: bool,
        text: String,
        created_at: i64,
        status: Status,
    },
    /// An own message reached the contact's client.
    Delivered { peer: String, id: i64 },
    /// The contact read up to `up_to`.
    Read { peer: String, up_to: i64 },
    /// A key exchange was accepted ("Secure session started"): the conversation's first
    /// message, or the first after a client lost its keys. `by_me`: this client's own.
    SessionStarted {
        peer: String,
        peer_username: String,
        by_me: bool,
        created_at: i64,
    },
    /// New keys for the conversation ("Keys changed"): `by_me` after this client's Refresh.
    KeysChanged {
        peer: String,
        peer_username: String,
        by_me: bool,
        created_at: i64,
    },
    /// The contact's identity key changed (X3). `verified`: the conversation was verified, and
    /// sending is held back until the user accepts the new key or verifies it again.
    PeerKeyChanged {
        peer: String,
        peer_username: String,
        verified: bool,
    },
    /// Messages under keys this client no longer holds (E5: local keys were lost).
    LocalKeysLost { peer: String, peer_username: String },
    /// A message that cannot be shown (`reason`: the protocol's, e.g. `replay`, `bad_mac`).
    Undecryptable {
        peer: String,
        id: i64,
        reason: String,
    },
    /// The contact deleted their account.
    PeerDeleted { peer: String, peer_username: String },
    /// The connection's state changed.
    Connection { state: Connection },
    /// Every message waiting while offline has been received.
    BacklogDone,
    /// Something failed (the server's code and message, or a local one).
    Error { code: String, message: String },
}

/// One row of the conversations list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub peer: String,
    pub peer_username: String,
    pub unread: i64,
    pub last_activity: i64,
    pub peer_deleted: bool,
    /// The contact's current key is the one the user verified.
    pub verified: bool,
    /// A contact key change is waiting for the user.
    pub key_warning: bool,
}
