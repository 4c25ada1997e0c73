//! The key schedule (docs/protocol.md §4): four HKDF-SHA256 keys per (pair of identity keys,
//! salt), one AES-256-GCM and one HMAC-SHA256 key per direction.

use core::fmt;

use hkdf::Hkdf;
use p384::elliptic_curve::zeroize::Zeroize as _;
use sha2::Sha256;

use crate::encoding::{is_counter, u64be};
use crate::error::ProtocolError;
use crate::identity::{PrivateKey, PublicKey};
use crate::ids::{key_set_id, pair_id};

/// `"CHAT_KEY_USER" ‖ from ‖ "to" ‖ to`: HKDF info of `K_enc(from→to)`.
pub fn key_info(from: &str, to: &str) -> String {
    format!("CHAT_KEY_USER{from}to{to}")
}

/// `"CHAT_MAC_USER" ‖ from ‖ "to" ‖ to`: HKDF info of `K_mac(from→to)`.
pub fn mac_info(from: &str, to: &str) -> String {
    format!("CHAT_MAC_USER{from}to{to}")
}

/// `HKDF-SHA256(IKM = z, salt = u64be(salt), info = utf8(info), L = 32)`.
pub fn hkdf(z: &[u8], salt: u64, info: &str) -> [u8; 32] {
    hkdf_salted(z, &u64be(salt), info)
}

/// HKDF-SHA256 with the salt as bytes: `u64be(salt)`, or `u64be(salt) ‖ nonce` for the
/// nonce-salted key sets of the conversation state machine (§4.2).
pub(crate) fn hkdf_salted(z: &[u8], salt: &[u8], info: &str) -> [u8; 32] {
    let mut okm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(salt), z)
        .expand(info.as_bytes(), &mut okm)
        .expect("32 bytes is far below HKDF-SHA256's limit of 8160");
    okm
}

/// The two keys of one direction: `enc` for AES-256-GCM, `mac` for HMAC-SHA256. Wiped when
/// dropped, and never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct DirectionKeys {
    /// `K_enc(from→to)`.
    pub enc: [u8; 32],
    /// `K_mac(from→to)`.
    pub mac: [u8; 32],
}

impl Drop for DirectionKeys {
    fn drop(&mut self) {
        self.enc.zeroize();
        self.mac.zeroize();
    }
}

impl fmt::Debug for DirectionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DirectionKeys { .. }")
    }
}

/// The four keys of one (pair of identity keys, salt) and the values they came from, seen from
/// one side: `send` is own→peer, `recv` peer→own. The fields are public so a client can store a
/// key set and rebuild it without the private key (old messages stay readable, §10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySet {
    /// The key-set id (32 hex), carried by every payload made with it.
    pub id: String,
    /// The HKDF salt, ≥ 1.
    pub salt: u64,
    /// The pair id of the two identity keys.
    pub pair: String,
    /// This side's user id.
    pub own_id: String,
    /// The other side's user id.
    pub peer_id: String,
    /// This side's identity public key.
    pub own_public: PublicKey,
    /// The other side's identity public key.
    pub peer_public: PublicKey,
    /// own → peer.
    pub send: DirectionKeys,
    /// peer → own.
    pub recv: DirectionKeys,
}

impl KeySet {
    /// The keys of direction `from → to` and the recipient `to`, for a sender `from` that is one
    /// of the two users; `None` otherwise (a message not of this conversation).
    pub fn direction(&self, from: &str) -> Option<(&DirectionKeys, &str)> {
        if from == self.own_id {
            Some((&self.send, &self.peer_id))
        } else if from == self.peer_id {
            Some((&self.recv, &self.own_id))
        } else {
            None
        }
    }
}

/// Derive the key set of (own identity, peer identity, salt) (§4): `Z` by ECDH, then all four
/// keys — each side derives both directions — plus the key-set and pair ids. The own public key
/// is taken from `own`, so a key set can never name a public key whose private key made other
/// keys.
pub fn derive_key_set(
    own: &PrivateKey,
    own_id: &str,
    peer_id: &str,
    peer_public: &PublicKey,
    salt: u64,
) -> Result<KeySet, ProtocolError> {
    if !is_counter(salt) {
        return Err(ProtocolError::BadSalt);
    }
    let id = key_set_id(own_id, own.public_key(), peer_id, peer_public, salt)?;
    assemble_key_set(own, own_id, peer_id, peer_public, salt, id, &u64be(salt))
}

/// The key set of an already computed id and HKDF salt bytes: one derivation for the legacy key
/// sets above and the nonce-salted ones of `conversation::derive_with`.
pub(crate) fn assemble_key_set(
    own: &PrivateKey,
    own_id: &str,
    peer_id: &str,
    peer_public: &PublicKey,
    salt: u64,
    id: String,
    salt_bytes: &[u8],
) -> Result<KeySet, ProtocolError> {
    let own_public = own.public_key();
    let pair = pair_id(own_id, own_public, peer_id, peer_public)?;
    let z = own.shared_secret(peer_public);
    let keys = |from: &str, to: &str| DirectionKeys {
        enc: hkdf_salted(&z[..], salt_bytes, &key_info(from, to)),
        mac: hkdf_salted(&z[..], salt_bytes, &mac_info(from, to)),
    };
    Ok(KeySet {
        id,
        salt,
        pair,
        own_id: own_id.to_owned(),
        peer_id: peer_id.to_owned(),
        own_public: own_public.clone(),
        peer_public: peer_public.clone(),
        send: keys(own_id, peer_id),
        recv: keys(peer_id, own_id),
    })
}
