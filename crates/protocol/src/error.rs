//! The two kinds of failure: [`Reason`] — a received payload is not accepted (hostile or damaged
//! input, never a panic) — and [`ProtocolError`] — the caller asked for something v1 cannot do.

use core::fmt;
use core::str::FromStr;

/// Why a received payload was not accepted (docs/protocol.md §6.2). The strings of
/// [`Reason::as_str`] are the ones the browser reports and the test vectors' `expected` values,
/// so events, logs and vectors compare as plain strings across both implementations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Not a v1 payload of the expected type, bad base64 or lengths, IV counter out of range,
    /// invalid UTF-8, an invalid public key.
    Malformed,
    /// The sender is not one of the two people of the key set.
    WrongConversation,
    /// The payload names a key set other than the one it is checked against (E5: not stored).
    UnknownKeySet,
    /// An `ecdh` or `change` made for an identity key this side does not hold.
    NotMyKey,
    /// The HMAC of a `msg` does not verify (tampered with).
    BadMac,
    /// MAC fine but AES-GCM failed: only a holder of the MAC key can cause this.
    BadTag,
    /// IV above the last IV the sender announced in an accepted `change`.
    RetiredKey,
    /// IV not greater than the last one accepted for this direction key (E3).
    Replay,
    /// `change`: `mac_old` does not verify under the old key set.
    BadMacOld,
    /// `change`: `mac_new` does not verify under the new key set.
    BadMacNew,
    /// `change`: the salt is not greater than the old key set's.
    BadSalt,
    /// `ecdh`/`change`: the key-set id is not the one derived from the keys and salt.
    BadKeySet,
}

impl Reason {
    /// Every reason, for exhaustive mapping (tests, UIs).
    pub const ALL: [Reason; 12] = [
        Reason::Malformed,
        Reason::WrongConversation,
        Reason::UnknownKeySet,
        Reason::NotMyKey,
        Reason::BadMac,
        Reason::BadTag,
        Reason::RetiredKey,
        Reason::Replay,
        Reason::BadMacOld,
        Reason::BadMacNew,
        Reason::BadSalt,
        Reason::BadKeySet,
    ];

    /// The protocol's name of the reason (`bad_mac`, `replay`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::WrongConversation => "wrong_conversation",
            Reason::UnknownKeySet => "unknown_key_set",
            Reason::NotMyKey => "not_my_key",
            Reason::BadMac => "bad_mac",
            Reason::BadTag => "bad_tag",
            Reason::RetiredKey => "retired_key",
            Reason::Replay => "replay",
            Reason::BadMacOld => "bad_mac_old",
            Reason::BadMacNew => "bad_mac_new",
            Reason::BadSalt => "bad_salt",
            Reason::BadKeySet => "bad_key_set",
        }
    }
}

/// `Display` as the stable string `self.$name()`, and `std::error::Error`, for a failure enum.
macro_rules! displayed_as {
    ($ty:ty, $name:ident) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.$name())
            }
        }

        impl std::error::Error for $ty {}
    };
}

displayed_as!(Reason, as_str);

/// A string that names no [`Reason`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownReason(pub String);

impl fmt::Display for UnknownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown failure reason {:?}", self.0)
    }
}

impl std::error::Error for UnknownReason {}

impl FromStr for Reason {
    type Err = UnknownReason;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownReason(s.to_owned()))
    }
}

/// A `msg` that was not accepted: the reason, and the IV counter once it is known to be
/// well-formed (the browser logs it, e.g. for a replay).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// Why.
    pub reason: Reason,
    /// The message's IV counter, when the shape check passed.
    pub iv: Option<u64>,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.iv {
            Some(iv) => write!(f, "{} (iv {iv})", self.reason),
            None => write!(f, "{}", self.reason),
        }
    }
}

impl std::error::Error for Rejected {}

/// A request of the caller's making that v1 cannot fulfil (bad argument, bad key). The codes
/// match the browser module's `ProtocolError.code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// A user id that is not 32 lowercase hex characters, or the same id on both sides.
    BadUserId,
    /// Not a 97-byte uncompressed P-384 point on the curve.
    BadPublicKey,
    /// Not a P-384 private key (JWK `d` of 48 bytes in range, matching `x`/`y` if given).
    BadIdentity,
    /// A salt outside 1 … 2^53 − 1, or a new key set whose salt does not grow.
    BadSalt,
    /// An IV counter outside 1 … 2^53 − 1 (or a last IV above 2^53 − 1).
    BadIv,
    /// A text longer than [`crate::MAX_PLAINTEXT_BYTES`] bytes of UTF-8.
    TooLong,
    /// A verified contact's key changed: the user must accept the new key before sending (X3).
    KeyChangeUnconfirmed,
    /// No usable key set after three attempts.
    NoKeySet,
    /// The contact's public key is unknown (the key directory was not read).
    NoPeerKey,
    /// The IV counter of a key set is exhausted: refresh.
    IvExhausted,
    /// A key set just stored cannot be read back.
    StorageFailed,
}

impl ProtocolError {
    /// The stable code, as the browser's `ProtocolError.code`.
    pub const fn code(self) -> &'static str {
        match self {
            ProtocolError::BadUserId => "bad_user_id",
            ProtocolError::BadPublicKey => "bad_public_key",
            ProtocolError::BadIdentity => "bad_identity",
            ProtocolError::BadSalt => "bad_salt",
            ProtocolError::BadIv => "bad_iv",
            ProtocolError::TooLong => "too_long",
            ProtocolError::KeyChangeUnconfirmed => "key_change_unconfirmed",
            ProtocolError::NoKeySet => "no_key_set",
            ProtocolError::NoPeerKey => "no_peer_key",
            ProtocolError::IvExhausted => "iv_exhausted",
            ProtocolError::StorageFailed => "storage_failed",
        }
    }
}

displayed_as!(ProtocolError, code);
