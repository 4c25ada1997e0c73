//! # parley-protocol
//!
//! The primitives of Parley's end-to-end encryption protocol (v1) in Rust — the second
//! implementation that requirement **X5** asks for, next to the browser's `web/protocol/*.js`.
//! The specification is **`docs/protocol.md`**; both implementations are held to the same test
//! vectors, **`tests/protocol/vectors.json`**, which `tests/vectors.rs` checks value by value
//! (every derived key, ciphertext, MAC and payload, and the verdict on every tampered payload).
//!
//! Pure: no I/O, no clock, no randomness, no async. The primitives below are everything whose
//! bytes must match the browser's; [`conversation`] is the per-conversation state machine of
//! §7–§11 (the twin of `web/protocol/conversation.js`: nonce-salted key sets, key confirmation,
//! the forward-only exchange chain, the 60-second rule, replay detection, key warnings, resuming
//! above the server's last IV), sans-IO — the caller's [`conversation::Io`] supplies the clock,
//! the salt nonces and the server's answers — and held to the browser's module by the trace
//! vectors `tests/protocol/traces.json` (`tests/traces.rs`):
//!
//! | spec | here |
//! |---|---|
//! | §3 identity keys (JWK private key, 97-byte public point), §4.1 `Z` | [`PrivateKey`], [`PublicKey`] |
//! | §3.3 safety number, §4.4 pair and key-set ids | [`safety_number`], [`pair_id`], [`key_set_id`] |
//! | §4.3 the four HKDF keys | [`derive_key_set`] → [`KeySet`] |
//! | §5.2, §6.1 `msg` | [`encrypt`], [`decrypt`], [`decrypt_gated`] |
//! | §5.3, §8 `change` | [`make_change`], [`verify_change`] |
//! | §5.1, §7.2 `ecdh` | [`make_exchange`], [`check_exchange`], [`accept_exchange`] |
//! | §7–§11 the conversation state machine | [`conversation::Conversation`] |
//! | §6.2 failure reasons | [`Reason`] (`bad_mac`, `replay`, … exactly as the browser and vectors name them) |
//!
//! Payloads are plain structs whose fields are the JSON fields; the caller's JSON layer maps a
//! missing or mistyped field to [`Reason::Malformed`], everything else is checked here. Received
//! input never panics: it is accepted or rejected with a [`Reason`]. Caller mistakes (an IV of 0,
//! a text over 49,136 bytes) are a [`ProtocolError`].
//!
//! ```
//! use parley_protocol::{decrypt, derive_key_set, encrypt, PrivateKey};
//!
//! let alice_id = "3f1a6c0e9b2d4e8f8a7c5b3d1e0f2a4c";
//! let bob_id = "c5d8e2f4a6b0c1d3e5f7a9b1c3d5e7f9";
//! let alice = PrivateKey::from_jwk_d("jYnO8ONVNhky9Vmr-gyoiaUFb4_O4BaucYgvWFR3VGWkSAAZ6faWG9t8RfL96lmr")?;
//! let bob = PrivateKey::from_jwk_d("rQYH2r6_PsNnTlTqhJ2c_ErMH_L6wiKM1GFzB2rlpWpZkJxRz5UVv14Tt-u-uHs6")?;
//!
//! // Both sides derive the same key set from their own private key and the other's public key.
//! let at_alice = derive_key_set(&alice, alice_id, bob_id, bob.public_key(), 1)?;
//! let at_bob = derive_key_set(&bob, bob_id, alice_id, alice.public_key(), 1)?;
//! assert_eq!(at_alice.id, "525a1254ed67ae3d9473eef87d420900");
//!
//! let payload = encrypt(&at_alice, "Hello, Bob!", 1)?; // IV counter 1, never reused
//! assert_eq!(payload.mac, "KIPkeykgEqo6BDbyrUrEp6Dmu5CJ/YCCARYl6j0Vig8=");
//! let got = decrypt(&at_bob, &payload, alice_id, 0)?; // 0: nothing accepted yet
//! assert_eq!(got.text, "Hello, Bob!");
//! assert_eq!(decrypt(&at_bob, &payload, alice_id, 1).unwrap_err().reason.as_str(), "replay");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod change;
pub mod conversation;
mod encoding;
mod error;
mod exchange;
mod identity;
mod ids;
mod keyset;
mod msg;

pub use change::{
    AcceptedChange, ChangePayload, change_label, change_mac_input, make_change, verify_change,
};
pub use encoding::{
    MAX_COUNTER, from_b64, is_counter, is_key_set_shape, is_user_id, iv_counter, to_b64, to_hex,
    u64be, u96be,
};
pub use error::{ProtocolError, Reason, Rejected, UnknownReason};
pub use exchange::{
    EcdhPayload, Exchange, accept_exchange, check_exchange, make_exchange, parse_exchange,
};
pub use identity::{FIELD_BYTES, PUBLIC_KEY_BYTES, PrivateKey, PublicKey};
pub use ids::{
    FINGERPRINT_ITERATIONS, fingerprint_half, key_set_id, key_set_id_input, pair_id, pair_input,
    safety_number,
};
pub use keyset::{DirectionKeys, KeySet, derive_key_set, hkdf, key_info, mac_info};
pub use msg::{
    Decrypted, Encrypted, MAX_CIPHERTEXT_BYTES, MAX_PLAINTEXT_BYTES, MsgPayload, ParsedMsg,
    TAG_BYTES, decrypt, decrypt_gated, encrypt, encrypt_detailed, msg_label, msg_mac_input,
    parse_msg,
};
