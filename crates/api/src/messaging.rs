//! Keys, contacts and conversations (docs/api.md "Messaging").

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// `POST /api/keys`: the identity public key, base64 of the 97-byte uncompressed P-384 point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublishKey {
    pub public_key: String,
}

/// The answer to `POST /api/keys`: `true` (201) for a key never published before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Published {
    pub published: bool,
}

/// One published identity key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublicKeyRecord {
    pub public_key: String,
    pub created_at: i64,
}

/// `GET /api/users/{id}/keys`: the current key and every key ever published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Keys {
    pub current: Option<PublicKeyRecord>,
    pub history: Vec<PublicKeyRecord>,
}

/// The query of `GET /api/users?username=…`: an exact username, never a search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FindUser {
    #[schema(min_length = 3, max_length = 32)]
    #[param(min_length = 3, max_length = 32)]
    pub username: String,
}

/// The answer to `GET /api/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FoundUser {
    pub id: String,
    pub username: String,
    pub keys: Keys,
}

/// One conversation of the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Conversation {
    pub peer_id: String,
    pub peer_username: String,
    /// The peer deleted their account: history stays, sending does not.
    pub peer_deleted: bool,
    pub last_activity: i64,
    pub last_id: i64,
    pub unread: i64,
}

/// `GET /api/conversations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Conversations {
    pub conversations: Vec<Conversation>,
}

/// A stored message. The server cannot read `payload`; it checked only its shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub id: i64,
    pub sender_id: String,
    pub recipient_id: String,
    /// `msg`, `ecdh` or `change`.
    pub kind: String,
    /// The sender's JSON, verbatim.
    pub payload: Value,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
    pub read_at: Option<i64>,
}

/// `POST /api/conversations/{peer}/messages`: an `ecdh`, `msg` or `change` payload
/// (docs/protocol.md §5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SendMessage {
    pub payload: Value,
}

/// The answer to a send: the message as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Sent {
    pub message: Message,
}

/// The query of `GET /api/conversations/{peer}/messages`: messages after or before an id, or the
/// newest; `limit` defaults to [`PAGE_DEFAULT`](crate::limits::PAGE_DEFAULT) and is clamped to
/// 1 … [`PAGE_MAX`](crate::limits::PAGE_MAX).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// A page of a conversation, oldest first, and the limit applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MessagePage {
    pub messages: Vec<Message>,
    pub limit: i64,
}

/// `GET /api/keysets/{key_set}/last-iv`: the highest IV counter the user stored under that key
/// set (0 if none), and whether a `change` from it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LastIv {
    pub key_set: String,
    pub last_iv: i64,
    pub closed: bool,
}

/// `POST /api/conversations/{peer}/read`: everything from the peer up to this id is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MarkRead {
    pub up_to: i64,
}

/// The answer to a read mark: how many messages it marked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Marked {
    pub marked: u64,
}
