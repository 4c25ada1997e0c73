//! `ecdh` payloads (docs/protocol.md §5.1, §7.2): the sender names both identity keys and the
//! salt, so the recipient derives the same key set without answering (works offline).

use crate::encoding::{is_counter, is_key_set_shape};
use crate::error::Reason;
use crate::identity::{PrivateKey, PublicKey};
use crate::ids::key_set_id;
use crate::keyset::{KeySet, derive_key_set};

/// An `ecdh` payload, field for field as posted (JSON `{v, type, key_set, salt, keys}`). `keys`
/// is the JSON object `{user id: b64 public key}` as (name, value) pairs in document order; as
/// for [`crate::MsgPayload`], missing or mistyped JSON fields are the caller's `malformed`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcdhPayload {
    /// Protocol version, 1.
    pub v: u64,
    /// `"ecdh"`.
    pub r#type: String,
    /// The key-set id of (keys, salt).
    pub key_set: String,
    /// The HKDF salt.
    pub salt: u64,
    /// Sender's then recipient's id with their public key (`b64(raw)`).
    pub keys: Vec<(String, String)>,
}

/// The `ecdh` announcing key set `ks`, sent by own side (the sender's key first, as the browser
/// writes it).
pub fn make_exchange(ks: &KeySet) -> EcdhPayload {
    EcdhPayload {
        v: 1,
        r#type: "ecdh".to_owned(),
        key_set: ks.id.clone(),
        salt: ks.salt,
        keys: vec![
            (ks.own_id.clone(), ks.own_public.to_b64()),
            (ks.peer_id.clone(), ks.peer_public.to_b64()),
        ],
    }
}

/// The fields of a well-formed `ecdh` between `from` and `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// The key-set id it claims.
    pub key_set: String,
    /// The salt, 1 … 2^53 − 1.
    pub salt: u64,
    /// The sender's identity key as named in the payload.
    pub from_key: PublicKey,
    /// The recipient's identity key as the sender knows it.
    pub to_key: PublicKey,
}

/// §7.2 step 1: `v` 1, type `ecdh`, a key-set id of acceptable shape, a salt in range, and `keys`
/// holding exactly `from` and `to`, each a valid P-384 point → else `malformed`.
pub fn parse_exchange(p: &EcdhPayload, from: &str, to: &str) -> Result<Exchange, Reason> {
    if p.v != 1 || p.r#type != "ecdh" || !is_key_set_shape(&p.key_set) || !is_counter(p.salt) {
        return Err(Reason::Malformed);
    }
    let key_of = |id: &str| -> Result<PublicKey, Reason> {
        let mut named = p.keys.iter().filter(|(name, _)| name == id);
        match (named.next(), named.next()) {
            (Some((_, b64)), None) => PublicKey::from_b64(b64).map_err(|_| Reason::Malformed),
            _ => Err(Reason::Malformed),
        }
    };
    if p.keys.len() != 2 || from == to {
        return Err(Reason::Malformed);
    }
    Ok(Exchange {
        key_set: p.key_set.clone(),
        salt: p.salt,
        from_key: key_of(from)?,
        to_key: key_of(to)?,
    })
}

/// Step 1 and the public half of step 3: the `key_set` must be the id derived from the named
/// keys and salt (`bad_key_set`). Needs no private key, so anyone — a test, the server — can
/// check it; [`accept_exchange`] is what a recipient runs.
pub fn check_exchange(p: &EcdhPayload, from: &str, to: &str) -> Result<Exchange, Reason> {
    let x = parse_exchange(p, from, to)?;
    let id = key_set_id(from, &x.from_key, to, &x.to_key, x.salt).map_err(|_| Reason::Malformed)?;
    if id != x.key_set {
        return Err(Reason::BadKeySet);
    }
    Ok(x)
}

/// Receive an `ecdh` stamped `from → to` as user `me` holding `own` (§7.2 steps 1–3, in order):
/// `me` must be one of the two (`wrong_conversation`); well-formed (`malformed`); `keys[me]` must
/// be `own`'s public key (`not_my_key`: made for an identity this side no longer has); derive
/// the key set from `own`, the other key and the salt, whose id must equal `key_set`
/// (`bad_key_set`). Returns the key set to store; whether to engage it (the 60-second rule) is
/// the state machine's decision. Also right for the echo of an own `ecdh` (`me == from`).
pub fn accept_exchange(
    p: &EcdhPayload,
    from: &str,
    to: &str,
    own: &PrivateKey,
    me: &str,
) -> Result<KeySet, Reason> {
    let (peer, mine_sent) = if me == from {
        (to, true)
    } else if me == to {
        (from, false)
    } else {
        return Err(Reason::WrongConversation);
    };
    let x = parse_exchange(p, from, to)?;
    let (own_key, peer_key) = if mine_sent {
        (&x.from_key, &x.to_key)
    } else {
        (&x.to_key, &x.from_key)
    };
    if own_key != own.public_key() {
        return Err(Reason::NotMyKey);
    }
    let ks = derive_key_set(own, me, peer, peer_key, x.salt).map_err(|_| Reason::Malformed)?;
    if ks.id != x.key_set {
        return Err(Reason::BadKeySet);
    }
    Ok(ks)
}
