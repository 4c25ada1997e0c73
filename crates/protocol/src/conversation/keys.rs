//! The primitives of key sets with a salt nonce (docs/protocol.md §4.2, §5.1, §5.3): every key set
//! made since issue 8 mixes 16 random bytes into its HKDF salt (`u64be(salt) ‖ nonce`), names
//! itself with the `PARLEY_KEY_SET_V2` label, and is announced by an `ecdh` carrying a key
//! confirmation MAC. Legacy key sets (no nonce) are the crate's [`crate::derive_key_set`].

use sha2::{Digest as _, Sha256};

use super::json::Json;
use crate::change::change_label;
use crate::encoding::{
    from_b64, is_counter, is_key_set_shape, iv_counter, to_b64, to_hex, u64be, u96be,
};
use crate::error::{ProtocolError, Reason};
use crate::identity::{PrivateKey, PublicKey};
use crate::ids::pair_input;
use crate::keyset::{KeySet, assemble_key_set, derive_key_set};
use crate::msg::{hmac_sign, hmac_verifies};

/// Random bytes in the HKDF salt of every new key set (§4.2).
pub const NONCE_BYTES: usize = 16;

/// A salt nonce.
pub type Nonce = [u8; NONCE_BYTES];

/// A key set as a browser stores it: the keys and, unless legacy, the nonce of its salt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredKeySet {
    /// The key set.
    pub ks: KeySet,
    /// The salt nonce; `None` for a legacy key set (read-only, never sent with).
    pub nonce: Option<Nonce>,
}

/// `u64be(salt) ‖ nonce`, or `u64be(salt)` for a legacy key set.
pub fn salt_bytes(salt: u64, nonce: Option<&Nonce>) -> Vec<u8> {
    let mut out = u64be(salt).to_vec();
    if let Some(n) = nonce {
        out.extend_from_slice(n);
    }
    out
}

/// The key-set id: `PARLEY_KEY_SET_V2` with the nonce after the salt, or the crate's V1 id.
pub fn key_set_id_with(
    id_a: &str,
    pub_a: &PublicKey,
    id_b: &str,
    pub_b: &PublicKey,
    salt: u64,
    nonce: Option<&Nonce>,
) -> Result<String, ProtocolError> {
    let label: &[u8] = if nonce.is_some() {
        b"PARLEY_KEY_SET_V2\0"
    } else {
        b"PARLEY_KEY_SET_V1\0"
    };
    let mut h = Sha256::new();
    h.update(label);
    h.update(pair_input(id_a, pub_a, id_b, pub_b)?);
    h.update(salt_bytes(salt, nonce));
    Ok(to_hex(&h.finalize()[..16]))
}

/// Derive the key set of (own identity, peer key, salt, nonce) (§4).
pub fn derive_with(
    own: &PrivateKey,
    own_id: &str,
    peer_id: &str,
    peer_public: &PublicKey,
    salt: u64,
    nonce: Option<&Nonce>,
) -> Result<KeySet, ProtocolError> {
    let Some(n) = nonce else {
        return derive_key_set(own, own_id, peer_id, peer_public, salt);
    };
    if !is_counter(salt) {
        return Err(ProtocolError::BadSalt);
    }
    let id = key_set_id_with(
        own_id,
        own.public_key(),
        peer_id,
        peer_public,
        salt,
        Some(n),
    )?;
    assemble_key_set(
        own,
        own_id,
        peer_id,
        peer_public,
        salt,
        id,
        &salt_bytes(salt, Some(n)),
    )
}

/// What the key confirmation of an `ecdh` covers (§5.1).
pub fn ecdh_confirm_input(
    from: &str,
    to: &str,
    key_set: &str,
    salt: u64,
    nonce: &Nonce,
    from_key: &PublicKey,
    to_key: &PublicKey,
) -> Vec<u8> {
    let mut out = format!("CHAT_ECDH_USER{from}to{to}").into_bytes();
    out.push(0);
    out.extend_from_slice(key_set.as_bytes());
    out.push(0);
    out.extend_from_slice(&u64be(salt));
    out.extend_from_slice(nonce);
    out.extend_from_slice(from_key.raw());
    out.extend_from_slice(to_key.raw());
    out
}

/// The `ecdh` payload announcing `ks` (own side sending), with its key confirmation.
pub fn make_exchange_json(ks: &KeySet, nonce: &Nonce) -> Json {
    let input = ecdh_confirm_input(
        &ks.own_id,
        &ks.peer_id,
        &ks.id,
        ks.salt,
        nonce,
        &ks.own_public,
        &ks.peer_public,
    );
    Json::obj([
        ("v", Json::int(1)),
        ("type", Json::str("ecdh")),
        ("key_set", Json::str(ks.id.clone())),
        (
            "salt",
            Json::int(i64::try_from(ks.salt).unwrap_or(i64::MAX)),
        ),
        ("nonce", Json::str(to_b64(nonce))),
        (
            "keys",
            Json::Obj(vec![
                (ks.own_id.clone(), Json::str(ks.own_public.to_b64())),
                (ks.peer_id.clone(), Json::str(ks.peer_public.to_b64())),
            ]),
        ),
        (
            "confirm",
            Json::str(to_b64(&hmac_sign(&ks.send.mac, &input))),
        ),
    ])
}

/// `v === 1`.
pub fn is_v1(p: &Json) -> bool {
    p.get("v").and_then(Json::as_safe_int) == Some(1)
}

/// A `key_set`-shaped string field.
fn key_set_field(p: &Json, name: &str) -> Option<String> {
    p.get(name)
        .and_then(Json::as_str)
        .filter(|s| is_key_set_shape(s))
        .map(str::to_owned)
}

/// A strict base64 string field of exactly `N` bytes.
fn bytes_field<const N: usize>(p: &Json, name: &str) -> Option<[u8; N]> {
    from_b64(p.get(name)?.as_str()?)?.try_into().ok()
}

/// The fields of a well-formed `ecdh` between `from` and `to` (§7.2 step 1).
#[derive(Clone, Debug)]
pub struct ParsedExchange {
    /// The key-set id it claims.
    pub key_set: String,
    /// The salt.
    pub salt: u64,
    /// The nonce; `None` for a legacy exchange.
    pub nonce: Option<Nonce>,
    /// The key confirmation; `None` for a legacy exchange.
    pub confirm: Option<[u8; 32]>,
    /// The sender's key.
    pub from_key: PublicKey,
    /// The recipient's key.
    pub to_key: PublicKey,
}

/// `parseExchange`: `None` is `malformed`.
pub fn parse_exchange_json(p: &Json, from: &str, to: &str) -> Option<ParsedExchange> {
    if !p.is_object() || !is_v1(p) || p.get("type").and_then(Json::as_str) != Some("ecdh") {
        return None;
    }
    let key_set = key_set_field(p, "key_set")?;
    let salt = p.get("salt")?.as_counter()?;
    let Some(Json::Obj(keys)) = p.get("keys") else {
        return None;
    };
    let mut names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    if from == to || names.len() != 2 || !names.contains(&from) || !names.contains(&to) {
        return None;
    }
    let key = |id: &str| PublicKey::from_b64(p.get("keys")?.get(id)?.as_str()?).ok();
    let from_key = key(from)?;
    let to_key = key(to)?;
    let legacy = p.get("nonce").is_none() && p.get("confirm").is_none();
    let (nonce, confirm) = if legacy {
        (None, None)
    } else {
        (
            Some(bytes_field::<NONCE_BYTES>(p, "nonce")?),
            Some(bytes_field::<32>(p, "confirm")?),
        )
    };
    Some(ParsedExchange {
        key_set,
        salt,
        nonce,
        confirm,
        from_key,
        to_key,
    })
}

/// Check the key confirmation of a parsed `ecdh` against the key set it announces (§7.2).
pub fn verify_exchange(ks: &KeySet, x: &ParsedExchange, from: &str, to: &str) -> bool {
    let (Some(nonce), Some(confirm)) = (x.nonce.as_ref(), x.confirm.as_ref()) else {
        return false;
    };
    let Some((keys, dir_to)) = ks.direction(from) else {
        return false;
    };
    if dir_to != to {
        return false;
    }
    let input = ecdh_confirm_input(from, to, &x.key_set, x.salt, nonce, &x.from_key, &x.to_key);
    hmac_verifies(&keys.mac, &input, confirm)
}

/// The input both MACs of a `change` cover, the new key set's nonce after the salt (§5.3).
pub fn change_mac_input_with(
    from: &str,
    to: &str,
    old_id: &str,
    new_id: &str,
    salt: u64,
    last_iv: &[u8],
    nonce: Option<&Nonce>,
) -> Vec<u8> {
    let mut out = change_label(from, to).into_bytes();
    for part in [old_id.as_bytes(), new_id.as_bytes()] {
        out.push(0);
        out.extend_from_slice(part);
    }
    out.push(0);
    out.extend_from_slice(&salt_bytes(salt, nonce));
    out.extend_from_slice(last_iv);
    out.extend_from_slice(b"change");
    out
}

/// The two MACs (base64) of a `change` from `old` to `new`, own side sending (§8.1).
pub(crate) fn change_macs(
    old: &KeySet,
    new: &KeySet,
    last_iv: &[u8],
    nonce: Option<&Nonce>,
) -> (String, String) {
    let input = change_mac_input_with(
        &old.own_id,
        &old.peer_id,
        &old.id,
        &new.id,
        new.salt,
        last_iv,
        nonce,
    );
    (
        to_b64(&hmac_sign(&old.send.mac, &input)),
        to_b64(&hmac_sign(&new.send.mac, &input)),
    )
}

/// The `change` payload of a Refresh from `old` to `new` (§8.1), own side sending.
pub fn make_change_json(
    old: &KeySet,
    new: &KeySet,
    nonce: Option<&Nonce>,
    last_iv: u64,
) -> Result<Json, ProtocolError> {
    if new.pair != old.pair || new.salt <= old.salt {
        return Err(ProtocolError::BadSalt);
    }
    let lb = u96be(last_iv);
    let (mac_old, mac_new) = change_macs(old, new, &lb, nonce);
    let mut fields = vec![
        ("v".to_owned(), Json::int(1)),
        ("type".to_owned(), Json::str("change")),
        ("key_set".to_owned(), Json::str(old.id.clone())),
        ("new_key_set".to_owned(), Json::str(new.id.clone())),
        (
            "salt".to_owned(),
            Json::int(i64::try_from(new.salt).unwrap_or(i64::MAX)),
        ),
        ("last_iv".to_owned(), Json::str(to_b64(&lb))),
        ("mac_old".to_owned(), Json::str(mac_old)),
        ("mac_new".to_owned(), Json::str(mac_new)),
    ];
    if let Some(n) = nonce {
        fields.push(("nonce".to_owned(), Json::str(to_b64(n))));
    }
    Ok(Json::Obj(fields))
}

/// The fields of a well-formed `change`.
#[derive(Clone, Debug)]
pub struct ParsedChange {
    /// The old key-set id.
    pub old_id: String,
    /// The new key-set id.
    pub new_id: String,
    /// The new salt.
    pub salt: u64,
    /// The new key set's nonce; `None` for a legacy change.
    pub nonce: Option<Nonce>,
    /// The last IV bytes.
    pub last_iv: [u8; 12],
    /// Its counter.
    pub last_iv_counter: u64,
    /// `mac_old`.
    pub mac_old: [u8; 32],
    /// `mac_new`.
    pub mac_new: [u8; 32],
}

/// `parseChange`: `None` is `malformed`.
pub fn parse_change_json(p: &Json) -> Option<ParsedChange> {
    if !p.is_object() || !is_v1(p) || p.get("type").and_then(Json::as_str) != Some("change") {
        return None;
    }
    let old_id = key_set_field(p, "key_set")?;
    let new_id = key_set_field(p, "new_key_set")?;
    let last_iv = bytes_field::<12>(p, "last_iv")?;
    let mac_old = bytes_field::<32>(p, "mac_old")?;
    let mac_new = bytes_field::<32>(p, "mac_new")?;
    let salt = p.get("salt")?.as_counter()?;
    let last_iv_counter = iv_counter(&last_iv)?;
    let nonce = match p.get("nonce") {
        None => None,
        Some(_) => Some(bytes_field::<NONCE_BYTES>(p, "nonce")?),
    };
    Some(ParsedChange {
        old_id,
        new_id,
        salt,
        nonce,
        last_iv,
        last_iv_counter,
        mac_old,
        mac_new,
    })
}

/// Verify a parsed `change` sent by `from` under `old` (§8.2): old MAC → salt → derive →
/// key-set id → new MAC. The new key set is returned only if everything holds.
pub fn verify_change_json(
    old: &KeySet,
    c: &ParsedChange,
    own: &PrivateKey,
    from: &str,
) -> Result<KeySet, Reason> {
    let (keys, to) = old.direction(from).ok_or(Reason::WrongConversation)?;
    if c.old_id != old.id {
        return Err(Reason::UnknownKeySet);
    }
    let input = change_mac_input_with(
        from,
        to,
        &c.old_id,
        &c.new_id,
        c.salt,
        &c.last_iv,
        c.nonce.as_ref(),
    );
    if !hmac_verifies(&keys.mac, &input, &c.mac_old) {
        return Err(Reason::BadMacOld);
    }
    if c.salt <= old.salt {
        return Err(Reason::BadSalt);
    }
    let new = derive_with(
        own,
        &old.own_id,
        &old.peer_id,
        &old.peer_public,
        c.salt,
        c.nonce.as_ref(),
    )
    .map_err(|_| Reason::Malformed)?;
    if new.id != c.new_id {
        return Err(Reason::BadKeySet);
    }
    let new_mac = if from == old.own_id {
        &new.send.mac
    } else {
        &new.recv.mac
    };
    if !hmac_verifies(new_mac, &input, &c.mac_new) {
        return Err(Reason::BadMacNew);
    }
    Ok(new)
}
