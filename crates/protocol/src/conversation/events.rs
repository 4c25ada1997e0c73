//! What the state machine reports (state.js's event typedefs), and its errors.

use core::fmt;

use super::json::Json;
use crate::error::{ProtocolError, Reason};

/// The payload type an event is about (`keys`: the key directory; `unknown`: unreadable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemType {
    /// `ecdh`.
    Ecdh,
    /// `msg`.
    Msg,
    /// `change`.
    Change,
    /// A contact key change.
    Keys,
    /// Not one of the three payload types.
    Unknown,
}

impl ItemType {
    /// The browser's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ItemType::Ecdh => "ecdh",
            ItemType::Msg => "msg",
            ItemType::Change => "change",
            ItemType::Keys => "keys",
            ItemType::Unknown => "unknown",
        }
    }
}

/// What happened, by kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A message decrypted (or sent).
    Message {
        /// The text.
        text: String,
        /// Its key set.
        key_set_id: String,
        /// Its IV counter.
        iv: u64,
    },
    /// A `change` accepted (or sent).
    KeysChanged {
        /// The new key set.
        key_set_id: String,
        /// The old key set.
        old_key_set_id: String,
        /// It did not move the chain.
        superseded: bool,
        /// It arrived fresh.
        fresh: bool,
    },
    /// An `ecdh`, accepted (`ok`) or not (`reason`).
    Exchange {
        /// Its key set (empty when malformed).
        key_set_id: String,
        /// Fresh.
        fresh: bool,
        /// Engaged.
        engaged: bool,
        /// Accepted.
        ok: bool,
        /// Why not.
        reason: Option<Reason>,
    },
    /// A `msg` refused as a replay.
    ReplayRejected {
        /// Its key set.
        key_set_id: String,
        /// Its IV counter.
        iv: u64,
    },
    /// A `msg` or `change` refused.
    Undecryptable {
        /// Why.
        reason: Reason,
        /// The key set concerned, when known.
        key_set_id: Option<String>,
    },
    /// The contact's key changed (X3): the user should compare safety numbers.
    PeerKeyChanged {
        /// The key before (empty if none).
        old_key: String,
        /// The new key.
        new_key: String,
    },
}

/// One event: the server item it is about, and what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The server id (0 for the key directory).
    pub id: i64,
    /// Sent by this user.
    pub mine: bool,
    /// The server's `created_at`.
    pub created_at: i64,
    /// The payload type.
    pub ty: ItemType,
    /// What happened.
    pub kind: EventKind,
}

/// An unsigned counter as a JSON number.
fn num(n: u64) -> Json {
    Json::int(i64::try_from(n).unwrap_or(i64::MAX))
}

impl Event {
    /// The event as the browser module reports it (same field names), for logs and the traces.
    pub fn to_json(&self) -> Json {
        let mut f: Vec<(String, Json)> = vec![
            ("id".into(), Json::int(self.id)),
            ("mine".into(), Json::Bool(self.mine)),
            ("created_at".into(), Json::int(self.created_at)),
            ("type".into(), Json::str(self.ty.as_str())),
        ];
        let mut add = |k: &str, v: Json| f.push((k.to_owned(), v));
        match &self.kind {
            EventKind::Message {
                text,
                key_set_id,
                iv,
            } => {
                add("kind", Json::str("message"));
                add("text", Json::str(text.clone()));
                add("keySetId", Json::str(key_set_id.clone()));
                add("iv", num(*iv));
            }
            EventKind::KeysChanged {
                key_set_id,
                old_key_set_id,
                superseded,
                fresh,
            } => {
                add("kind", Json::str("keys_changed"));
                add("keySetId", Json::str(key_set_id.clone()));
                add("oldKeySetId", Json::str(old_key_set_id.clone()));
                add("superseded", Json::Bool(*superseded));
                add("fresh", Json::Bool(*fresh));
            }
            EventKind::Exchange {
                key_set_id,
                fresh,
                engaged,
                ok,
                reason,
            } => {
                add("kind", Json::str("exchange"));
                add("keySetId", Json::str(key_set_id.clone()));
                add("fresh", Json::Bool(*fresh));
                add("engaged", Json::Bool(*engaged));
                add("ok", Json::Bool(*ok));
                if let Some(r) = reason {
                    add("reason", Json::str(r.as_str()));
                }
            }
            EventKind::ReplayRejected { key_set_id, iv } => {
                add("kind", Json::str("replay_rejected"));
                add("keySetId", Json::str(key_set_id.clone()));
                add("iv", num(*iv));
            }
            EventKind::Undecryptable { reason, key_set_id } => {
                add("kind", Json::str("undecryptable"));
                add("reason", Json::str(reason.as_str()));
                if let Some(k) = key_set_id {
                    add("keySetId", Json::str(k.clone()));
                }
            }
            EventKind::PeerKeyChanged { old_key, new_key } => {
                add("kind", Json::str("peer_key_changed"));
                add("oldKey", Json::str(old_key.clone()));
                add("newKey", Json::str(new_key.clone()));
            }
        }
        Json::Obj(f)
    }
}

/// Why a side must start a fresh exchange before sending (§9.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExchangeReason {
    /// No key set yet.
    NoKeySet,
    /// The current key set came from a stale exchange.
    StaleExchange,
    /// The current key set is legacy.
    LegacyKeySet,
    /// The current key set is not stored.
    MissingKeySet,
    /// Own identity key changed.
    OwnKeyChanged,
    /// The contact's pinned key is not the key set's.
    PeerKeyChanged,
    /// The own counter is closed (refreshed away).
    Closed,
    /// The contact asked for one.
    Requested,
}

impl ExchangeReason {
    /// The browser's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ExchangeReason::NoKeySet => "no_key_set",
            ExchangeReason::StaleExchange => "stale_exchange",
            ExchangeReason::LegacyKeySet => "legacy_key_set",
            ExchangeReason::MissingKeySet => "missing_key_set",
            ExchangeReason::OwnKeyChanged => "own_key_changed",
            ExchangeReason::PeerKeyChanged => "peer_key_changed",
            ExchangeReason::Closed => "closed",
            ExchangeReason::Requested => "requested",
        }
    }
}

/// The server refused or failed a post (e.g. 409 `iv_reused`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostError {
    /// The error code (`iv_reused`, or the caller's).
    pub code: String,
}

/// Why an own action (send, Refresh, exchange) failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConversationError {
    /// A protocol rule (e.g. `key_change_unconfirmed`, `too_long`).
    Protocol(ProtocolError),
    /// The post failed.
    Post(PostError),
}

impl ConversationError {
    /// The code, as the browser's `error.code`.
    pub fn code(&self) -> &str {
        match self {
            ConversationError::Protocol(e) => e.code(),
            ConversationError::Post(e) => &e.code,
        }
    }
}

impl From<ProtocolError> for ConversationError {
    fn from(e: ProtocolError) -> Self {
        ConversationError::Protocol(e)
    }
}

impl fmt::Display for ConversationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::error::Error for ConversationError {}
