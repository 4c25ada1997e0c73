//! The protocol crate's parsers on received input (`from_b64`, `iv_counter`,
//! `PublicKey::from_b64`, `parse_msg`, `decrypt`, `parse_exchange`, `check_exchange`,
//! `verify_change`): received input is accepted or rejected with a reason, never a panic
//! (the crate's documented promise).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use parley_protocol::{
    ChangePayload, EcdhPayload, KeySet, MsgPayload, PrivateKey, PublicKey, check_exchange, decrypt,
    derive_key_set, from_b64, iv_counter, parse_exchange, parse_msg, to_b64, verify_change,
};

const ALICE: &str = "3f1a6c0e9b2d4e8f8a7c5b3d1e0f2a4c";
const BOB: &str = "c5d8e2f4a6b0c1d3e5f7a9b1c3d5e7f9";

/// Bob's key set with Alice, and Bob's private key.
fn bob() -> &'static (KeySet, PrivateKey) {
    static KS: OnceLock<(KeySet, PrivateKey)> = OnceLock::new();
    KS.get_or_init(|| {
        let alice = PrivateKey::from_jwk_d(
            "jYnO8ONVNhky9Vmr-gyoiaUFb4_O4BaucYgvWFR3VGWkSAAZ6faWG9t8RfL96lmr",
        )
        .expect("key");
        let bob = PrivateKey::from_jwk_d(
            "rQYH2r6_PsNnTlTqhJ2c_ErMH_L6wiKM1GFzB2rlpWpZkJxRz5UVv14Tt-u-uHs6",
        )
        .expect("key");
        let ks = derive_key_set(&bob, BOB, ALICE, alice.public_key(), 1).expect("key set");
        (ks, bob)
    })
}

type Input = (
    u64,
    String,
    String,
    String,
    String,
    String,
    u64,
    Vec<(String, String)>,
);

fuzz_target!(|input: Input| {
    let (v, kind, key_set, iv, ciphertext, mac, salt, keys) = input;
    for s in [&key_set, &iv, &ciphertext, &mac] {
        if let Some(bytes) = from_b64(s) {
            assert_eq!(from_b64(&to_b64(&bytes)), Some(bytes.clone()));
            let _ = iv_counter(&bytes);
        }
        let _ = PublicKey::from_b64(s);
    }
    let msg = MsgPayload {
        v,
        r#type: kind.clone(),
        key_set: key_set.clone(),
        iv: iv.clone(),
        ciphertext,
        mac: mac.clone(),
    };
    let _ = parse_msg(&msg);
    let (ks, own) = bob();
    let _ = decrypt(ks, &msg, ALICE, 0);
    let ecdh = EcdhPayload {
        v,
        r#type: kind.clone(),
        key_set: key_set.clone(),
        salt,
        keys,
    };
    let _ = parse_exchange(&ecdh, ALICE, BOB);
    let _ = check_exchange(&ecdh, ALICE, BOB);
    let change = ChangePayload {
        v,
        r#type: kind,
        key_set: key_set.clone(),
        new_key_set: key_set,
        salt,
        last_iv: iv,
        mac_old: mac.clone(),
        mac_new: mac,
    };
    let _ = verify_change(ks, &change, own, ALICE);
});
