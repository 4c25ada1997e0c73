//! Messaging rules (E1–E10 on the server side): the server stores and relays payloads it cannot
//! read, so its job is to check their *shape* (bounded sizes, required fields, base64 where
//! expected), set the sender from the session, and keep users to their own conversations.
//!
//! The encodings and shapes are `parley-protocol`'s (issue 11): its strict base64, IV counters,
//! key-set ids, salts and P-384 keys are what the browser and the Rust client accept, so the
//! server cannot drift from them. The bounds are `parley_api::limits`.

use std::sync::Arc;

use parley_api::limits::{PAGE_DEFAULT, PAGE_MAX};
use parley_api::{Conversation, FoundUser, Keys, Message, MessagePage, Page};
use parley_protocol::{PublicKey, from_b64, is_counter, is_key_set_shape, to_b64};
use serde_json::Value;

use super::accounts::Accounts;
use super::quota::{Quota, Quotas};
use super::realtime::{Event, Events};
use crate::core::metrics::Metrics;
use crate::core::{AppError, AppResult, Clock};
use crate::db::Db;
use crate::db::messages::is_unique_violation;
pub use parley_api::limits::{
    IV_BYTES, MAC_BYTES, MAX_CIPHERTEXT_BYTES, MAX_COUNTER, MAX_PAYLOAD_BYTES, NONCE_BYTES,
    PUBLIC_KEY_BYTES, TAG_BYTES, USER_ID_CHARS,
};

/// What a payload is, once its shape is checked: its kind, its canonical text for storage, and
/// for a `msg` or `change` the slot that must be unique per sender (docs/api.md, issue 8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub kind: &'static str,
    pub text: String,
    /// The key set the payload was made with (`key_set`), for `msg` and `change`.
    pub key_set: Option<String>,
    /// `msg`: the IV as posted (canonical base64 of 12 bytes); `change`: the word `change`.
    pub iv: Option<String>,
    /// `msg`: the IV counter (1 … 2^53 − 1), for `GET /api/keysets/{ks}/last-iv`.
    pub iv_counter: Option<i64>,
}

fn bad(field: &'static str, message: impl Into<String>) -> AppError {
    AppError::validation(field, message)
}

fn b64(v: &Value, field: &'static str, exact: Option<usize>, max: usize) -> AppResult<Vec<u8>> {
    let s = v
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(field, format!("`{field}` must be a base64 string")))?;
    if s.len() > max.div_ceil(3) * 4 + 4 {
        return Err(bad(field, format!("`{field}` is too long")));
    }
    let bytes = from_b64(s).ok_or_else(|| bad(field, format!("`{field}` is not valid base64")))?;
    match exact {
        Some(n) if bytes.len() != n => {
            Err(bad(field, format!("`{field}` must decode to {n} bytes")))
        }
        _ if bytes.len() > max => Err(bad(field, format!("`{field}` is larger than {max} bytes"))),
        _ => Ok(bytes),
    }
}

fn key_set_id(v: &Value, field: &'static str) -> AppResult<()> {
    let s = v
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(field, format!("`{field}` must be a string")))?;
    key_set_shape(s, field)
}

fn key_set_shape(s: &str, field: &'static str) -> AppResult<()> {
    if !is_key_set_shape(s) {
        return Err(bad(
            field,
            format!("`{field}` must be 1-128 characters of A-Z a-z 0-9 _ -"),
        ));
    }
    Ok(())
}

/// A key-set id in a path: the same rule as the payload's `key_set`.
pub fn validate_key_set_id(id: &str) -> AppResult<()> {
    key_set_shape(id, "key_set")
}

fn salt(v: &Value) -> AppResult<()> {
    match v.get("salt").and_then(Value::as_u64) {
        Some(n) if is_counter(n) => Ok(()),
        _ => Err(bad("salt", "`salt` must be an integer from 1 to 2^53 - 1")),
    }
}

/// The optional `nonce` (16 bytes) of an `ecdh` or `change` made since issue 8; for an `ecdh`
/// also `confirm` (32 bytes), present together with the nonce.
fn nonce_fields(v: &Value, with_confirm: bool) -> AppResult<()> {
    let has_nonce = v.get("nonce").is_some();
    if has_nonce {
        b64(v, "nonce", Some(NONCE_BYTES), NONCE_BYTES)?;
    }
    if with_confirm {
        if v.get("confirm").is_some() != has_nonce {
            return Err(bad("confirm", "`nonce` and `confirm` go together"));
        }
        if has_nonce {
            b64(v, "confirm", Some(MAC_BYTES), MAC_BYTES)?;
        }
    }
    Ok(())
}

/// An identity public key must be the uncompressed encoding of a point on P-384 (issue 8: an
/// off-curve key would be pinned by contacts and then break every send to it).
pub fn validate_public_key(b64_key: &str) -> AppResult<()> {
    let bytes = from_b64(b64_key)
        .ok_or_else(|| AppError::BadPublicKey("the public key is not valid base64".into()))?;
    if bytes.len() != PUBLIC_KEY_BYTES || bytes[0] != 0x04 {
        return Err(AppError::BadPublicKey(format!(
            "the public key must be an uncompressed P-384 point ({PUBLIC_KEY_BYTES} bytes)"
        )));
    }
    PublicKey::from_raw(&bytes)
        .map_err(|_| AppError::BadPublicKey("the public key is not a point on P-384".into()))?;
    Ok(())
}

/// Check a payload's shape; returns its kind, its canonical serialization for storage and its
/// uniqueness slot.
pub fn validate_payload(payload: &Value) -> AppResult<Checked> {
    let text = serde_json::to_string(payload).map_err(|e| AppError::Internal(e.into()))?;
    if text.len() > MAX_PAYLOAD_BYTES {
        return Err(bad(
            "payload",
            format!("the payload is larger than {MAX_PAYLOAD_BYTES} bytes"),
        ));
    }
    if !payload.is_object() {
        return Err(bad("payload", "the payload must be a JSON object"));
    }
    if payload.get("v").and_then(Value::as_u64) != Some(1) {
        return Err(bad("v", "`v` must be 1"));
    }
    key_set_id(payload, "key_set")?;
    let key_set = payload
        .get("key_set")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut slot = (None, None);
    let kind = match payload.get("type").and_then(Value::as_str) {
        Some("msg") => {
            let iv = b64(payload, "iv", Some(IV_BYTES), IV_BYTES)?;
            // The counter range (1 … 2^53 − 1) is the receiving browser's check (docs/protocol.md
            // §6.1); the server only remembers counters in range for `last-iv`.
            let counter = parley_protocol::iv_counter(&iv)
                .filter(|&n| is_counter(n))
                .and_then(|n| i64::try_from(n).ok());
            slot = (Some(to_b64(&iv)), counter);
            b64(payload, "mac", Some(MAC_BYTES), MAC_BYTES)?;
            let ct = b64(payload, "ciphertext", None, MAX_CIPHERTEXT_BYTES)?;
            if ct.len() < TAG_BYTES {
                return Err(bad(
                    "ciphertext",
                    "`ciphertext` must hold at least the 16-byte tag",
                ));
            }
            "msg"
        }
        Some("ecdh") => {
            salt(payload)?;
            let keys = payload
                .get("keys")
                .and_then(Value::as_object)
                .ok_or_else(|| bad("keys", "`keys` must map the two user ids to public keys"))?;
            if keys.len() != 2 {
                return Err(bad("keys", "`keys` must have exactly two entries"));
            }
            nonce_fields(payload, true)?;
            for (user, key) in keys {
                // Hex of either case, as before (ids the server makes are lowercase:
                // `parley_protocol::is_user_id`); the receiving browser checks the pair.
                if user.len() != USER_ID_CHARS || !user.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(bad("keys", "`keys` must be keyed by user ids"));
                }
                validate_public_key(key.as_str().unwrap_or(""))?;
            }
            "ecdh"
        }
        Some("change") => {
            salt(payload)?;
            key_set_id(payload, "new_key_set")?;
            b64(payload, "last_iv", Some(IV_BYTES), IV_BYTES)?;
            nonce_fields(payload, false)?;
            slot = (Some("change".to_owned()), None);
            b64(payload, "mac_old", Some(MAC_BYTES), MAC_BYTES)?;
            b64(payload, "mac_new", Some(MAC_BYTES), MAC_BYTES)?;
            "change"
        }
        _ => return Err(bad("type", "`type` must be ecdh, msg or change")),
    };
    let (iv, iv_counter) = slot;
    Ok(Checked {
        kind,
        text,
        key_set: if iv.is_some() { key_set } else { None },
        iv,
        iv_counter,
    })
}

/// The messaging rules that need the database (issue 11): keys and who must hear of a new one,
/// the user directory (exact names only), conversations, sending, reading and the WebSocket
/// ack. The sender is always the caller's own user; a conversation is addressed by the peer's
/// id, so a user can only ever reach their own.
#[derive(Clone)]
pub struct Messaging {
    db: Db,
    clock: Clock,
    events: Events,
    quotas: Arc<Quotas>,
    metrics: Metrics,
}

impl Messaging {
    pub fn new(
        db: Db,
        clock: Clock,
        events: Events,
        quotas: Arc<Quotas>,
        metrics: Metrics,
    ) -> Messaging {
        Messaging {
            db,
            clock,
            events,
            quotas,
            metrics,
        }
    }

    /// Publish `public_key` as the user's current key: `true` if it was never published before.
    /// A new key, or an older one made current again, is announced to the user's contacts and
    /// the user's own tabs: they must look again.
    pub async fn publish_key(&self, user_id: &str, public_key: &str) -> AppResult<bool> {
        self.quotas.check(Quota::KeyPublication, user_id)?;
        validate_public_key(public_key)?;
        let now = self.clock.now();
        let before = self.db.current_key(user_id).await?;
        let new = self.db.publish_key(user_id, public_key, now).await?;
        if before.is_none_or(|k| k.public_key != public_key) {
            let mut to = self.db.contacts_of(user_id).await?;
            to.push(user_id.to_owned());
            self.events
                .publish(Event::Key {
                    user_id: user_id.to_owned(),
                    to,
                })
                .await;
        }
        Ok(new)
    }

    async fn keys(&self, user_id: &str) -> AppResult<Keys> {
        let history = self.db.keys_of(user_id).await?;
        let current = self.db.current_key(user_id).await?;
        Ok(Keys { current, history })
    }

    /// The keys of an existing user (`NotFound` otherwise).
    pub async fn user_keys(&self, user_id: &str) -> AppResult<Keys> {
        self.db
            .user_by_id(user_id)
            .await?
            .ok_or(AppError::NotFound)?;
        self.keys(user_id).await
    }

    /// The user with exactly this name (case-insensitive), never a search: no directory to
    /// harvest. Lookups are metered per asking user.
    pub async fn find_user(&self, me: &str, username: &str) -> AppResult<FoundUser> {
        self.quotas.check(Quota::UserLookup, me)?;
        let (_, key) = Accounts::validate_username(username).map_err(|_| AppError::NotFound)?;
        let user = self.db.user_by_key(&key).await?.ok_or(AppError::NotFound)?;
        let keys = self.keys(&user.id).await?;
        Ok(FoundUser {
            id: user.id,
            username: user.username,
            keys,
        })
    }

    pub async fn conversations(&self, me: &str) -> AppResult<Vec<Conversation>> {
        Ok(self.db.conversations(me).await?)
    }

    /// The peer exists; `writable` also refuses a deleted account (its history stays readable).
    async fn peer(&self, me: &str, peer: &str, writable: bool) -> AppResult<()> {
        if peer == me {
            return Err(AppError::validation(
                "peer",
                "you cannot send messages to yourself",
            ));
        }
        match self.db.account_deleted(peer).await? {
            None => Err(AppError::NotFound),
            Some(true) if writable => Err(AppError::AccountDeleted),
            Some(_) => Ok(()),
        }
    }

    /// Store a payload from `me` to `peer` and push it to both users' sockets. A `msg` or
    /// `change` whose (key set, IV) slot is taken is refused (`IvReused`, issue 8).
    pub async fn send(&self, me: &str, peer: &str, payload: &Value) -> AppResult<Message> {
        self.send_in_turn(me, peer, payload, None).await
    }

    /// [`send`](Self::send), its id taken after the send that `turn` waits for (the sends of
    /// one WebSocket get ids in the order of its frames).
    pub async fn send_in_turn(
        &self,
        me: &str,
        peer: &str,
        payload: &Value,
        turn: Option<crate::db::messages::Turn>,
    ) -> AppResult<Message> {
        self.quotas.check(Quota::Send, me)?;
        self.peer(me, peer, true).await?;
        let checked = validate_payload(payload)?;
        let slot = match (&checked.key_set, &checked.iv) {
            (Some(k), Some(i)) => Some((k.as_str(), i.as_str(), checked.iv_counter)),
            _ => None,
        };
        let m = self
            .db
            .insert_message(
                me,
                peer,
                checked.kind,
                &checked.text,
                slot,
                self.clock.now(),
                turn,
            )
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    AppError::IvReused
                } else {
                    e.into()
                }
            })?;
        self.events.message_stored(&m).await;
        self.metrics.message_relayed();
        Ok(m)
    }

    /// The highest IV counter `me` stored under a key set (0 if none) and whether a `change`
    /// from it is stored (E3, issue 8). Only the user's own messages count.
    pub async fn last_iv(&self, me: &str, key_set: &str) -> AppResult<(i64, bool)> {
        validate_key_set_id(key_set)?;
        Ok(self.db.last_iv(me, key_set).await?)
    }

    /// A page of the conversation with `peer` (also with a deleted account), after or before
    /// a message id, with the page size clamped to `PAGE_MAX`.
    pub async fn history(&self, me: &str, peer: &str, p: &Page) -> AppResult<MessagePage> {
        self.peer(me, peer, false).await?;
        if p.after.is_some() && p.before.is_some() {
            return Err(AppError::validation(
                "after",
                "give `after` or `before`, not both",
            ));
        }
        let limit = p.limit.unwrap_or(PAGE_DEFAULT).clamp(1, PAGE_MAX);
        let messages = self
            .db
            .conversation_page(me, peer, p.after, p.before, limit)
            .await?;
        Ok(MessagePage { messages, limit })
    }

    /// Mark the messages from `peer` up to `up_to` read; if any were, both users' sockets hear
    /// of it. Returns how many were marked.
    pub async fn mark_read(&self, me: &str, peer: &str, up_to: i64) -> AppResult<u64> {
        self.peer(me, peer, false).await?;
        let now = self.clock.now();
        let n = self.db.mark_read(me, peer, up_to, now).await?;
        if n > 0 {
            self.events
                .publish(Event::Read {
                    reader: me.to_owned(),
                    peer: peer.to_owned(),
                    up_to,
                    at: now,
                    to: vec![peer.to_owned(), me.to_owned()],
                })
                .await;
        }
        Ok(n)
    }

    /// The next page of messages to `user` not yet acknowledged, after the message id `after`.
    pub async fn backlog(&self, user: &str, after: i64, limit: i64) -> AppResult<Vec<Message>> {
        Ok(self.db.undelivered_after(user, after, limit).await?)
    }

    /// The WebSocket ack: the client has stored these messages to `user`, so they are
    /// delivered. Each one delivered for the first time is announced to its sender's tabs only
    /// (the recipient's own sockets have no use for it, and a batch would fill their queues).
    /// On an error nothing is recorded: the messages stay undelivered and come again in the
    /// next backlog.
    pub async fn ack(&self, user: &str, ids: &[i64]) -> AppResult<()> {
        let now = self.clock.now();
        for (id, sender) in self.db.mark_delivered_many(user, ids, now).await? {
            self.events
                .publish(Event::Delivered {
                    id,
                    at: now,
                    to: vec![sender],
                })
                .await;
        }
        Ok(())
    }

    /// Tell the contacts of a deleted account (their conversations become read-only).
    pub async fn account_deleted(&self, user_id: &str, peers: Vec<String>) {
        if !peers.is_empty() {
            self.events
                .publish(Event::AccountDeleted {
                    user_id: user_id.to_owned(),
                    to: peers,
                })
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;

    fn b(n: usize) -> String {
        STANDARD.encode(vec![7u8; n])
    }

    /// The protocol crate's base64 accepts exactly what the server accepted before it used it
    /// (the `base64` crate's `STANDARD`: padded, canonical, no trailing bits): issue 11 changed
    /// who checks, not what passes.
    #[test]
    fn base64_verdicts_unchanged() {
        let mut cases: Vec<String> = [
            "",
            "AA==",
            "AB==",
            "AAB=",
            "AA",
            "AA=",
            "A===",
            "-_8=",
            "+/8=",
            "AA==AA==",
            " AA==",
            "AAA=\n",
            "AAAA",
            "AAA=",
            "AAE=",
            "=",
            "====",
            "A",
            "AAAAA",
            "Zm9v",
            "Zm9vYg==",
            "Zm9vYmE=",
            "Zm9vYmF",
            "Zm9vYmE",
            "Zm9\rvYmE=",
            "\u{e9}AAA",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for n in 0..40u8 {
            cases.push(STANDARD.encode((0..n).collect::<Vec<u8>>()));
        }
        for c in &cases {
            assert_eq!(
                from_b64(c),
                STANDARD.decode(c).ok(),
                "verdict differs on {c:?}"
            );
        }
    }

    #[test]
    fn shapes() {
        let ok =
            json!({"v":1,"type":"msg","key_set":"ab_1","iv":b(12),"mac":b(32),"ciphertext":b(20)});
        assert_eq!(validate_payload(&ok).unwrap().kind, "msg");
        for bad in [
            json!([1, 2]),
            json!({"v":2,"type":"msg","key_set":"a","iv":b(12),"mac":b(32),"ciphertext":b(20)}),
            json!({"v":1,"type":"msg","key_set":"a b","iv":b(12),"mac":b(32),"ciphertext":b(20)}),
            json!({"v":1,"type":"msg","key_set":"a","iv":b(11),"mac":b(32),"ciphertext":b(20)}),
            json!({"v":1,"type":"msg","key_set":"a","iv":b(12),"mac":"!!","ciphertext":b(20)}),
            json!({"v":1,"type":"msg","key_set":"a","iv":b(12),"mac":b(32),"ciphertext":b(8)}),
            json!({"v":1,"type":"msg","key_set":"a","iv":b(12),"mac":b(32),"ciphertext":b(50_000)}),
            json!({"v":1,"type":"hello","key_set":"a"}),
            json!({"v":1,"type":"ecdh","key_set":"a","salt":0,"keys":{}}),
        ] {
            assert!(validate_payload(&bad).is_err(), "{bad}");
        }
        // The P-384 generator: a valid point.
        let g = "04aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab73617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f";
        let key: Vec<u8> = (0..g.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&g[i..i + 2], 16).unwrap())
            .collect();
        let k = STANDARD.encode(&key);
        let ecdh = json!({"v":1,"type":"ecdh","key_set":"k1","salt":1,"keys":{"0".repeat(32): k, "1".repeat(32): k}});
        assert_eq!(validate_payload(&ecdh).unwrap().kind, "ecdh");
        let with_nonce = json!({"v":1,"type":"ecdh","key_set":"k1","salt":1,"nonce":b(16),"confirm":b(32),"keys":{"0".repeat(32): k, "1".repeat(32): k}});
        assert_eq!(validate_payload(&with_nonce).unwrap().kind, "ecdh");
        let no_confirm = json!({"v":1,"type":"ecdh","key_set":"k1","salt":1,"nonce":b(16),"keys":{"0".repeat(32): k, "1".repeat(32): k}});
        assert!(validate_payload(&no_confirm).is_err());
        let mut off = key.clone();
        off[96] ^= 1;
        let off = STANDARD.encode(&off);
        let off_curve = json!({"v":1,"type":"ecdh","key_set":"k1","salt":1,"keys":{"0".repeat(32): k, "1".repeat(32): off}});
        assert!(matches!(
            validate_payload(&off_curve),
            Err(AppError::BadPublicKey(_))
        ));
        let change = json!({"v":1,"type":"change","key_set":"k1","new_key_set":"k2","salt":2,"last_iv":STANDARD.encode([0u8; 12]),"mac_old":b(32),"mac_new":b(32)});
        let checked = validate_payload(&change).unwrap();
        assert_eq!(
            (
                checked.kind,
                checked.iv.as_deref(),
                checked.key_set.as_deref()
            ),
            ("change", Some("change"), Some("k1"))
        );
        // IV counters outside 1 … 2^53 − 1 are stored (the receiver rejects them) but never
        // counted by last-iv; a salt above 2^53 − 1 is refused.
        let mut iv = [0u8; 12];
        let zero = json!({"v":1,"type":"msg","key_set":"a","iv":STANDARD.encode(iv),"mac":b(32),"ciphertext":b(20)});
        assert_eq!(validate_payload(&zero).unwrap().iv_counter, None);
        iv[5] = 0x20; // 2^53
        let big = json!({"v":1,"type":"msg","key_set":"a","iv":STANDARD.encode(iv),"mac":b(32),"ciphertext":b(20)});
        assert_eq!(validate_payload(&big).unwrap().iv_counter, None);
        iv[5] = 0x1f;
        iv[6..].fill(0xff); // 2^53 − 1
        let top = json!({"v":1,"type":"msg","key_set":"a","iv":STANDARD.encode(iv),"mac":b(32),"ciphertext":b(20)});
        assert_eq!(
            validate_payload(&top).unwrap().iv_counter,
            Some((1i64 << 53) - 1)
        );
        let salt = json!({"v":1,"type":"ecdh","key_set":"k1","salt":1u64 << 53,"keys":{"0".repeat(32): k, "1".repeat(32): k}});
        assert!(validate_payload(&salt).is_err());
    }
}
