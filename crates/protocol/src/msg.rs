//! `msg` payloads (docs/protocol.md §5.2, §6.1): AES-256-GCM under a counter IV, then an
//! HMAC-SHA256 over direction, key set, IV and ciphertext (encrypt-then-MAC).

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use crate::encoding::{from_b64, is_counter, is_key_set_shape, iv_counter, to_b64, u96be};
use crate::error::{ProtocolError, Reason, Rejected};
use crate::keyset::KeySet;

/// Most plaintext bytes per message: the server's 48 KiB ciphertext limit minus the 16-byte tag.
pub const MAX_PLAINTEXT_BYTES: usize = MAX_CIPHERTEXT_BYTES - TAG_BYTES;
/// Most ciphertext bytes (tag included) a `msg` may carry: the server's limit, 48 KiB.
pub const MAX_CIPHERTEXT_BYTES: usize = 48 * 1024;
/// The AES-GCM tag length (128 bits), appended to the ciphertext as WebCrypto does.
pub const TAG_BYTES: usize = 16;

/// A `msg` payload, field for field as posted and stored (JSON `{v, type, key_set, iv,
/// ciphertext, mac}`). Received payloads arrive in this form from the caller's JSON layer, which
/// must map a missing or mistyped field (a `v` that is not a non-negative integer, a non-string)
/// to [`Reason::Malformed`] itself; every other check is [`decrypt`]'s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgPayload {
    /// Protocol version, 1.
    pub v: u64,
    /// `"msg"`.
    pub r#type: String,
    /// The key-set id.
    pub key_set: String,
    /// `b64(u96be(counter))`.
    pub iv: String,
    /// `b64(AES-256-GCM output ‖ tag)`.
    pub ciphertext: String,
    /// `b64(HMAC-SHA256)`, 32 bytes.
    pub mac: String,
}

/// `"CHAT_MSG_USER" ‖ from ‖ "to" ‖ to`: the AES-GCM AAD and the start of the MAC input.
pub fn msg_label(from: &str, to: &str) -> String {
    format!("CHAT_MSG_USER{from}to{to}")
}

/// `utf8(label) ‖ 0x00 ‖ utf8(key_set) ‖ 0x00 ‖ iv ‖ ciphertext`: what the MAC of a `msg`
/// covers. The separators are unambiguous (fixed-length label and IV, no NUL in `key_set`,
/// ciphertext last).
pub fn msg_mac_input(from: &str, to: &str, key_set: &str, iv: &[u8], ciphertext: &[u8]) -> Vec<u8> {
    let label = msg_label(from, to);
    let mut out = Vec::with_capacity(label.len() + key_set.len() + 2 + iv.len() + ciphertext.len());
    out.extend_from_slice(label.as_bytes());
    out.push(0);
    out.extend_from_slice(key_set.as_bytes());
    out.push(0);
    out.extend_from_slice(iv);
    out.extend_from_slice(ciphertext);
    out
}

/// HMAC-SHA256 keyed with a 32-byte key.
fn hmac(key: &[u8; 32]) -> Hmac<Sha256> {
    <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length")
}

/// HMAC-SHA256 of `input` under `key`.
pub(crate) fn hmac_sign(key: &[u8; 32], input: &[u8]) -> [u8; 32] {
    let mut mac = hmac(key);
    mac.update(input);
    mac.finalize().into_bytes().into()
}

/// Whether `tag` is the HMAC-SHA256 of `input` under `key` (compared in constant time).
pub(crate) fn hmac_verifies(key: &[u8; 32], input: &[u8], tag: &[u8]) -> bool {
    let mut mac = hmac(key);
    mac.update(input);
    mac.verify_slice(tag).is_ok()
}

/// An encrypted message with the bytes behind its base64 fields (the vectors state them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encrypted {
    /// The payload to post.
    pub payload: MsgPayload,
    /// AES-256-GCM output with the tag appended.
    pub ciphertext: Vec<u8>,
    /// The HMAC.
    pub mac: [u8; 32],
}

/// Encrypt `text` from own to peer with IV counter `iv` (§5.2). The caller guarantees `iv` was
/// never used under this key set's send key (§4.5: reserve it from a persisted counter first).
pub fn encrypt_detailed(ks: &KeySet, text: &str, iv: u64) -> Result<Encrypted, ProtocolError> {
    if !is_counter(iv) {
        return Err(ProtocolError::BadIv);
    }
    if text.len() > MAX_PLAINTEXT_BYTES {
        return Err(ProtocolError::TooLong);
    }
    let iv_bytes = u96be(iv);
    let aad = msg_label(&ks.own_id, &ks.peer_id);
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(ks.send.enc));
    let ciphertext = cipher
        .encrypt(
            &Nonce::from(iv_bytes),
            Payload {
                msg: text.as_bytes(),
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| ProtocolError::TooLong)?;
    let mac = hmac_sign(
        &ks.send.mac,
        &msg_mac_input(&ks.own_id, &ks.peer_id, &ks.id, &iv_bytes, &ciphertext),
    );
    let payload = MsgPayload {
        v: 1,
        r#type: "msg".to_owned(),
        key_set: ks.id.clone(),
        iv: to_b64(&iv_bytes),
        ciphertext: to_b64(&ciphertext),
        mac: to_b64(&mac),
    };
    Ok(Encrypted {
        payload,
        ciphertext,
        mac,
    })
}

/// [`encrypt_detailed`], the payload only.
pub fn encrypt(ks: &KeySet, text: &str, iv: u64) -> Result<MsgPayload, ProtocolError> {
    encrypt_detailed(ks, text, iv).map(|e| e.payload)
}

/// The decoded fields of a well-formed `msg` (§6.1 step 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedMsg {
    /// The IV bytes as sent.
    pub iv: [u8; 12],
    /// Its counter, 1 … 2^53 − 1.
    pub counter: u64,
    /// Ciphertext with tag, 16 … 48 KiB bytes.
    pub ciphertext: Vec<u8>,
    /// The MAC.
    pub mac: [u8; 32],
}

/// The shape check of a `msg`: `v` 1, type `msg`, a key-set id of acceptable shape, `iv` 12
/// bytes with counter ≥ 1, ciphertext at least a tag and at most 48 KiB, `mac` 32 bytes.
pub fn parse_msg(p: &MsgPayload) -> Option<ParsedMsg> {
    if p.v != 1 || p.r#type != "msg" || !is_key_set_shape(&p.key_set) {
        return None;
    }
    let iv: [u8; 12] = from_b64(&p.iv)?.try_into().ok()?;
    let ciphertext = from_b64(&p.ciphertext)?;
    let mac: [u8; 32] = from_b64(&p.mac)?.try_into().ok()?;
    if !(TAG_BYTES..=MAX_CIPHERTEXT_BYTES).contains(&ciphertext.len()) {
        return None;
    }
    let counter = iv_counter(&iv).filter(|&n| n >= 1)?;
    Some(ParsedMsg {
        iv,
        counter,
        ciphertext,
        mac,
    })
}

/// A decrypted message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decrypted {
    /// The chat text, exactly as sent.
    pub text: String,
    /// The IV counter, to record as accepted for the direction (§6.1 step 8).
    pub iv: u64,
}

/// Verify and decrypt a `msg` sent by `from` (the server-stamped `sender_id`) with the plain E3
/// rule: the IV counter must be greater than `last_iv`, the last one accepted for `from → to`.
pub fn decrypt(
    ks: &KeySet,
    payload: &MsgPayload,
    from: &str,
    last_iv: u64,
) -> Result<Decrypted, Rejected> {
    decrypt_gated(ks, payload, from, |iv| {
        (iv <= last_iv).then_some(Reason::Replay)
    })
}

/// Verify and decrypt a `msg` in the order of §6.1: sender is one of the key set's two users
/// (`wrong_conversation`, checked first as the browser's conversation does) → shape
/// (`malformed`) → `key_set` is this key set (`unknown_key_set`) → MAC (`bad_mac`) → `gate`
/// (the state's verdict on the authenticated IV counter: `retired_key`, `replay`, or `None` to go
/// on) → AES-GCM (`bad_tag`) → strict UTF-8 (`malformed`). Nothing after the MAC runs on an
/// unauthenticated message, and the gate only ever sees genuine IVs.
pub fn decrypt_gated(
    ks: &KeySet,
    payload: &MsgPayload,
    from: &str,
    gate: impl FnOnce(u64) -> Option<Reason>,
) -> Result<Decrypted, Rejected> {
    let reject = |reason, iv| Rejected { reason, iv };
    let (keys, to) = ks
        .direction(from)
        .ok_or(reject(Reason::WrongConversation, None))?;
    let m = parse_msg(payload).ok_or(reject(Reason::Malformed, None))?;
    let iv = Some(m.counter);
    if payload.key_set != ks.id {
        return Err(reject(Reason::UnknownKeySet, None));
    }
    let input = msg_mac_input(from, to, &ks.id, &m.iv, &m.ciphertext);
    if !hmac_verifies(&keys.mac, &input, &m.mac) {
        return Err(reject(Reason::BadMac, iv));
    }
    if let Some(reason) = gate(m.counter) {
        return Err(reject(reason, iv));
    }
    let aad = msg_label(from, to);
    let plaintext = Aes256Gcm::new(&Key::<Aes256Gcm>::from(keys.enc))
        .decrypt(
            &Nonce::from(m.iv),
            Payload {
                msg: &m.ciphertext,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| reject(Reason::BadTag, iv))?;
    let text = String::from_utf8(plaintext).map_err(|_| reject(Reason::Malformed, iv))?;
    Ok(Decrypted {
        text,
        iv: m.counter,
    })
}
