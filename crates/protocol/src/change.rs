//! `change` payloads — Refresh (docs/protocol.md §5.3, §8): the last IV the sender used under the
//! old key set and the string "change", MACed under the old and the new MAC key.

use crate::conversation::keys::change_macs;
use crate::conversation::{ParsedChange, change_mac_input_with, verify_change_json};
use crate::encoding::{
    MAX_COUNTER, from_b64, is_counter, is_key_set_shape, iv_counter, to_b64, u96be,
};
use crate::error::{ProtocolError, Reason};
use crate::identity::PrivateKey;
use crate::keyset::KeySet;

/// A `change` payload, field for field as posted (JSON `{v, type, key_set, new_key_set, salt,
/// last_iv, mac_old, mac_new}`). As for [`crate::MsgPayload`], missing or mistyped JSON fields
/// are the caller's JSON layer's `malformed`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangePayload {
    /// Protocol version, 1.
    pub v: u64,
    /// `"change"`.
    pub r#type: String,
    /// The old key-set id.
    pub key_set: String,
    /// The new key-set id.
    pub new_key_set: String,
    /// The new key set's salt.
    pub salt: u64,
    /// `b64(u96be(last IV counter used under the old key set))`, `u96be(0)` if none.
    pub last_iv: String,
    /// `b64(HMAC-SHA256)` under the old `K_mac(from→to)`.
    pub mac_old: String,
    /// `b64(HMAC-SHA256)` under the new `K_mac(from→to)`.
    pub mac_new: String,
}

/// `"CHAT_CHANGE_USER" ‖ from ‖ "to" ‖ to`.
pub fn change_label(from: &str, to: &str) -> String {
    format!("CHAT_CHANGE_USER{from}to{to}")
}

/// `utf8(label) ‖ 0x00 ‖ utf8(old) ‖ 0x00 ‖ utf8(new) ‖ 0x00 ‖ u64be(salt) ‖ last_iv ‖
/// utf8("change")`: what both MACs of a `change` cover — E6's "last IV and the string change",
/// bound to the direction and to both key sets so it cannot be replayed elsewhere.
pub fn change_mac_input(
    from: &str,
    to: &str,
    old_id: &str,
    new_id: &str,
    salt: u64,
    last_iv: &[u8],
) -> Vec<u8> {
    change_mac_input_with(from, to, old_id, new_id, salt, last_iv, None)
}

/// The `change` of a Refresh from `old` to `new`, sent by own side after using IV counters up to
/// `last_iv` (0 if none) under `old` (§8.1). `new` must be the same two identities with a greater
/// salt, else [`ProtocolError::BadSalt`].
pub fn make_change(
    old: &KeySet,
    new: &KeySet,
    last_iv: u64,
) -> Result<ChangePayload, ProtocolError> {
    let same_pair = new.pair == old.pair && new.own_id == old.own_id && new.peer_id == old.peer_id;
    if !same_pair || new.salt <= old.salt {
        return Err(ProtocolError::BadSalt);
    }
    if last_iv > MAX_COUNTER {
        return Err(ProtocolError::BadIv);
    }
    let last_iv_bytes = u96be(last_iv);
    let (mac_old, mac_new) = change_macs(old, new, &last_iv_bytes, None);
    Ok(ChangePayload {
        v: 1,
        r#type: "change".to_owned(),
        key_set: old.id.clone(),
        new_key_set: new.id.clone(),
        salt: new.salt,
        last_iv: to_b64(&last_iv_bytes),
        mac_old,
        mac_new,
    })
}

/// A `change` that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptedChange {
    /// The new key set, to store (never stored before this point).
    pub new_set: KeySet,
    /// The sender's final IV counter under the old key set (later ones are `retired_key`).
    pub last_iv: u64,
}

/// The legacy payload's fields as the conversation layer parses them (no nonce).
fn parse_change(p: &ChangePayload) -> Option<ParsedChange> {
    let ids_ok = is_key_set_shape(&p.key_set) && is_key_set_shape(&p.new_key_set);
    if p.v != 1 || p.r#type != "change" || !ids_ok || !is_counter(p.salt) {
        return None;
    }
    let last_iv: [u8; 12] = from_b64(&p.last_iv)?.try_into().ok()?;
    let mac_old = from_b64(&p.mac_old)?.try_into().ok()?;
    let mac_new = from_b64(&p.mac_new)?.try_into().ok()?;
    let last_iv_counter = iv_counter(&last_iv)?; // 0 allowed: nothing sent under the old set
    Some(ParsedChange {
        old_id: p.key_set.clone(),
        new_id: p.new_key_set.clone(),
        salt: p.salt,
        nonce: None,
        last_iv,
        last_iv_counter,
        mac_old,
        mac_new,
    })
}

/// Verify a `change` sent by `from` (server-stamped; the peer, or own side for the echo of an own
/// Refresh) against the stored old key set, in the order §8.2 prescribes: sender of this
/// conversation (`wrong_conversation`) → shape (`malformed`) → `key_set` is `old`
/// (`unknown_key_set`) → `own` is the identity `old` was made for (`not_my_key`) → `mac_old`
/// (`bad_mac_old`; nothing is derived before it passes) → salt grows (`bad_salt`) → derive the
/// new key set and compare `new_key_set` (`bad_key_set`) → `mac_new` (`bad_mac_new`). Only then
/// is the new set returned.
pub fn verify_change(
    old: &KeySet,
    payload: &ChangePayload,
    own: &PrivateKey,
    from: &str,
) -> Result<AcceptedChange, Reason> {
    old.direction(from).ok_or(Reason::WrongConversation)?;
    let c = parse_change(payload).ok_or(Reason::Malformed)?;
    if payload.key_set != old.id {
        return Err(Reason::UnknownKeySet);
    }
    if *own.public_key() != old.own_public {
        return Err(Reason::NotMyKey);
    }
    // The rest is the conversation layer's check of a change without a nonce.
    let new_set = verify_change_json(old, &c, own, from)?;
    Ok(AcceptedChange {
        new_set,
        last_iv: c.last_iv_counter,
    })
}
