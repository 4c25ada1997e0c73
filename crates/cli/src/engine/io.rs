//! The state machine's outside world ([`Io`]) over the HTTP API, as the browser's `state.js`
//! gives it to its `Conversation`: the server-corrected clock, OS random salt nonces,
//! `POST /api/conversations/{peer}/messages` and `GET /api/keysets/{ks}/last-iv`; and the
//! conversions between `serde_json` values and the protocol crate's [`Json`].

use std::time::{SystemTime, UNIX_EPOCH};

use parley_api::{LastIv as ApiLastIv, Message, SendMessage, Sent};
use parley_protocol::conversation::{Io, Json, LastIv, NONCE_BYTES, Nonce, PostError, Posted};
use serde_json::Value;

use crate::api::{Api, ApiError};

/// Unix seconds on this machine's clock.
pub fn local_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `n` bytes from the operating system's random source.
pub fn os_random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // getrandom fails only where the OS has no random source at all; nothing can go on then.
    if let Err(e) = getrandom::fill(&mut out) {
        panic!("the operating system's random source failed: {e}");
    }
    out
}

/// A `serde_json` value as the protocol crate's JSON (numbers as JavaScript sees them).
pub fn to_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) => Json::Num(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => Json::Str(s.clone()),
        Value::Array(a) => Json::Arr(a.iter().map(to_json).collect()),
        Value::Object(o) => Json::Obj(o.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
    }
}

/// The protocol crate's JSON as a `serde_json` value (integral numbers as integers).
pub fn from_json(j: &Json) -> Value {
    match j {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Num(n) => {
            #[allow(clippy::cast_possible_truncation)] // checked: integral and within ±2^53
            if n.is_finite() && n.trunc() == *n && n.abs() < 9_007_199_254_740_992.0 {
                Value::from(*n as i64)
            } else {
                serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number)
            }
        }
        Json::Str(s) => Value::String(s.clone()),
        Json::Arr(a) => Value::Array(a.iter().map(from_json).collect()),
        Json::Obj(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect()),
    }
}

/// A stored message as the item the state machine takes.
pub fn message_json(m: &Message) -> Json {
    Json::obj([
        ("id", Json::int(m.id)),
        ("sender_id", Json::str(m.sender_id.clone())),
        ("recipient_id", Json::str(m.recipient_id.clone())),
        ("kind", Json::str(m.kind.clone())),
        ("payload", to_json(&m.payload)),
        ("created_at", Json::int(m.created_at)),
    ])
}

/// The [`Io`] of one conversation: posts go to `peer`; what the server stored is kept in
/// `stored`, the last refusal in `error` (for the user's message and the exit code).
pub struct NetIo<'a> {
    pub api: &'a Api,
    pub peer: &'a str,
    /// Server time minus local time, in seconds.
    pub offset: i64,
    pub stored: Vec<Message>,
    pub error: Option<ApiError>,
}

impl<'a> NetIo<'a> {
    pub fn new(api: &'a Api, peer: &'a str, offset: i64) -> Self {
        NetIo {
            api,
            peer,
            offset,
            stored: Vec::new(),
            error: None,
        }
    }
}

impl Io for NetIo<'_> {
    fn now(&mut self) -> i64 {
        local_now() + self.offset
    }

    fn nonce(&mut self) -> Nonce {
        os_random::<NONCE_BYTES>()
    }

    fn post(&mut self, payload: &Json) -> Result<Posted, PostError> {
        let body = SendMessage {
            payload: from_json(payload),
        };
        let path = format!("/api/conversations/{}/messages", self.peer);
        match self.api.post::<_, Sent>(&path, &body) {
            Ok(sent) => {
                let posted = Posted {
                    id: sent.message.id,
                    created_at: sent.message.created_at,
                };
                self.stored.push(sent.message);
                Ok(posted)
            }
            Err(e) => {
                // As the browser's outbox: the server's code (`iv_reused` is retried by the
                // state machine), `network` when it could not be reached.
                let code = match &e {
                    ApiError::Refused { body, .. } => body.error.clone(),
                    ApiError::Network(_) => "network".to_owned(),
                    ApiError::Protocol(_) => "protocol".to_owned(),
                };
                self.error = Some(e);
                Err(PostError { code })
            }
        }
    }

    fn last_iv(&mut self, key_set: &str) -> Option<LastIv> {
        let r: ApiLastIv = self
            .api
            .get(&format!("/api/keysets/{key_set}/last-iv"))
            .ok()?;
        Some(LastIv {
            last_iv: u64::try_from(r.last_iv).unwrap_or(0),
            closed: r.closed,
        })
    }
}
