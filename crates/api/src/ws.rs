//! The frames of `GET /api/ws` (docs/api.md "Real time"): JSON text frames tagged by `type`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ErrorBody, Message};

/// Longest `tag` of a `send` frame, in characters.
pub const SEND_TAG_MAX_CHARS: usize = 64;

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// A message for this user (to acknowledge once stored) or sent from another of their tabs.
    Message { message: Message },
    /// Every message unacknowledged when the socket opened has been sent.
    BacklogDone,
    /// The recipient's client stored message `id`.
    Delivered { id: i64, at: i64 },
    /// `reader` read their conversation with `peer` up to message `up_to`.
    Read {
        reader: String,
        peer: String,
        up_to: i64,
        at: i64,
    },
    /// `user_id` published a new identity key: look again.
    Key { user_id: String },
    /// `user_id` deleted their account.
    AccountDeleted { user_id: String },
    /// Events may have been lost: fetch conversations again.
    Resync,
    /// The answer to the client's `send` frame with this `tag`: the message is stored (durably,
    /// as a `201` of `POST /api/conversations/{peer_id}/messages` means) with this id. The same
    /// body as that `201` (`{"message": …}`), plus the tag.
    Sent {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tag: Option<String>,
        message: Message,
    },
    /// The client's `send` frame with this `tag` was refused: nothing was stored. The same
    /// body as the error response of `POST /api/conversations/{peer_id}/messages` (same codes,
    /// e.g. `validation_failed`, `iv_reused`, `quota_exceeded`, `not_found`, `account_deleted`),
    /// plus the tag.
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tag: Option<String>,
        #[serde(flatten)]
        error: ErrorBody,
    },
}

impl ServerFrame {
    /// The frame's JSON text.
    pub fn to_text(&self) -> String {
        // A ServerFrame holds only strings, integers and JSON values: it always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What a client may send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// The client stored these messages (`id`, or up to
    /// [`ACK_IDS_MAX`](crate::limits::ACK_IDS_MAX) `ids`).
    Ack {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<i64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ids: Vec<i64>,
    },
    /// Send a message, as `POST /api/conversations/{peer_id}/messages` with body
    /// `{"payload": …}` does (issue 10): answered by `sent` or `error` with the same `tag`
    /// (at most [`SEND_TAG_MAX_CHARS`] characters; optional, echoed verbatim). Answers come in
    /// the order of the frames.
    Send {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tag: Option<String>,
        peer_id: String,
        payload: serde_json::Value,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn value(f: &ServerFrame) -> Value {
        serde_json::from_str(&f.to_text()).unwrap_or_default()
    }

    /// The frames are the ones the browser has always read (web/chat/*.js): same tags, same
    /// fields.
    #[test]
    fn server_frames_keep_their_wire_format() {
        assert_eq!(
            ServerFrame::BacklogDone.to_text(),
            r#"{"type":"backlog_done"}"#
        );
        assert_eq!(ServerFrame::Resync.to_text(), r#"{"type":"resync"}"#);
        assert_eq!(
            value(&ServerFrame::Delivered { id: 5, at: 7 }),
            json!({"type": "delivered", "id": 5, "at": 7})
        );
        assert_eq!(
            value(&ServerFrame::Read {
                reader: "a".into(),
                peer: "b".into(),
                up_to: 3,
                at: 9
            }),
            json!({"type": "read", "reader": "a", "peer": "b", "up_to": 3, "at": 9})
        );
        assert_eq!(
            value(&ServerFrame::Key {
                user_id: "u".into()
            }),
            json!({"type": "key", "user_id": "u"})
        );
        assert_eq!(
            value(&ServerFrame::AccountDeleted {
                user_id: "u".into()
            }),
            json!({"type": "account_deleted", "user_id": "u"})
        );
        let message = Message {
            id: 1,
            sender_id: "s".into(),
            recipient_id: "r".into(),
            kind: "msg".into(),
            payload: json!({"v": 1}),
            created_at: 2,
            delivered_at: None,
            read_at: Some(3),
        };
        let frame = ServerFrame::Message { message };
        assert_eq!(
            value(&frame),
            json!({"type": "message", "message": {"id": 1, "sender_id": "s", "recipient_id": "r",
                "kind": "msg", "payload": {"v": 1}, "created_at": 2, "delivered_at": null,
                "read_at": 3}})
        );
        let back: ServerFrame = serde_json::from_str(&frame.to_text())
            .ok()
            .unwrap_or(ServerFrame::Resync);
        assert_eq!(back, frame);
    }

    #[test]
    fn client_frames() {
        let ack: Result<ClientFrame, _> = serde_json::from_str(r#"{"type":"ack","id":5}"#);
        assert_eq!(
            ack.ok(),
            Some(ClientFrame::Ack {
                id: Some(5),
                ids: vec![]
            })
        );
        let ack: Result<ClientFrame, _> = serde_json::from_str(r#"{"type":"ack","ids":[1,2]}"#);
        assert_eq!(
            ack.ok(),
            Some(ClientFrame::Ack {
                id: None,
                ids: vec![1, 2]
            })
        );
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"nope"}"#).is_err());
        let send: Result<ClientFrame, _> =
            serde_json::from_str(r#"{"type":"send","tag":"t1","peer_id":"p","payload":{"v":1}}"#);
        assert_eq!(
            send.ok(),
            Some(ClientFrame::Send {
                tag: Some("t1".into()),
                peer_id: "p".into(),
                payload: json!({"v": 1})
            })
        );
    }

    #[test]
    fn send_answers() {
        let error = ServerFrame::Error {
            tag: Some("t".into()),
            error: ErrorBody {
                error: "iv_reused".into(),
                message: "m".into(),
                ..ErrorBody::default()
            },
        };
        assert_eq!(
            value(&error),
            json!({"type": "error", "tag": "t", "error": "iv_reused", "message": "m"})
        );
        let back: Option<ServerFrame> = serde_json::from_str(&error.to_text()).ok();
        assert_eq!(back, Some(error));
    }
}
