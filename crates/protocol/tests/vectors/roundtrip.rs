//! Beyond the fixed vectors: encrypt → decrypt round trips for random IV counters and texts
//! (any script, emoji with ZWJ sequences, NUL, BOM), in both directions, with the E3 replay rule
//! and tamper detection on every one; and the limits of `encrypt`.

use std::sync::LazyLock;

use parley_protocol::{
    Decrypted, KeySet, MAX_COUNTER, MAX_PLAINTEXT_BYTES, MsgPayload, ProtocolError, Reason,
    TAG_BYTES, decrypt, encrypt, from_b64, to_b64,
};
use proptest::prelude::*;

use crate::{alice, bob, set_for};

/// Both sides' key sets of salt 3 (not a vector salt: the round trip does not lean on them).
static AT_ALICE: LazyLock<KeySet> = LazyLock::new(|| set_for(alice(), 3));
static AT_BOB: LazyLock<KeySet> = LazyLock::new(|| set_for(bob(), 3));

/// Pieces that stress UTF-8 handling: multi-code-point emoji, combining marks, RTL, NUL, BOM.
const PIECES: &[&str] = &[
    "👋",
    "👩\u{200d}💻",
    "👨\u{200d}👩\u{200d}👧\u{200d}👦",
    "🏳\u{fe0f}\u{200d}🌈",
    "🇩🇪",
    "✋🏽",
    "\u{200d}",
    "\u{fe0f}",
    "e\u{301}",
    "مرحبا",
    "你好",
    "नमस्ते",
    "Привет",
    "\u{feff}",
    "\0",
    "\n",
    " ",
    "a",
    "𝄞",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "\\PC{0,64}",
        prop::collection::vec(prop::sample::select(PIECES), 0..24).prop_map(|p| p.concat()),
    ]
}

fn counter() -> impl Strategy<Value = u64> {
    prop_oneof![
        1..=MAX_COUNTER,
        1u64..=1000,
        (MAX_COUNTER - 1000)..=MAX_COUNTER
    ]
}

proptest! {
    #[test]
    fn encrypt_then_decrypt_round_trips(
        alice_sends: bool,
        iv in counter(),
        text in text(),
        flip in any::<prop::sample::Index>(),
    ) {
        let (sender, receiver) = if alice_sends { (&*AT_ALICE, &*AT_BOB) } else { (&*AT_BOB, &*AT_ALICE) };
        let from = sender.own_id.as_str();
        let payload = encrypt(sender, &text, iv).unwrap();
        let ciphertext = from_b64(&payload.ciphertext).unwrap();
        prop_assert_eq!(ciphertext.len(), text.len() + TAG_BYTES);
        prop_assert_eq!(from_b64(&payload.iv).unwrap().len(), 12);

        let want = Decrypted { text: text.clone(), iv };
        prop_assert_eq!(decrypt(receiver, &payload, from, iv - 1).unwrap(), want.clone());
        prop_assert_eq!(decrypt(sender, &payload, from, 0).unwrap(), want);
        prop_assert_eq!(decrypt(receiver, &payload, from, iv).unwrap_err().reason, Reason::Replay);

        let mut tampered = ciphertext;
        let at = flip.index(tampered.len());
        tampered[at] ^= 1 << (at % 8);
        let tampered = MsgPayload { ciphertext: to_b64(&tampered), ..payload.clone() };
        prop_assert_eq!(decrypt(receiver, &tampered, from, 0).unwrap_err().reason, Reason::BadMac);
        let wrong_way = decrypt(receiver, &payload, &receiver.own_id, 0).unwrap_err();
        prop_assert_eq!(wrong_way.reason, Reason::BadMac);
    }
}

#[test]
fn encrypt_limits() {
    let ks = &*AT_ALICE;
    assert_eq!(encrypt(ks, "x", 0).unwrap_err(), ProtocolError::BadIv);
    assert_eq!(
        encrypt(ks, "x", MAX_COUNTER + 1).unwrap_err(),
        ProtocolError::BadIv
    );
    let longest = "€".repeat(MAX_PLAINTEXT_BYTES / 3) + &"a".repeat(MAX_PLAINTEXT_BYTES % 3);
    assert_eq!(longest.len(), 49_136);
    let payload = encrypt(ks, &longest, MAX_COUNTER).unwrap();
    assert_eq!(
        decrypt(&AT_BOB, &payload, &ks.own_id, 0).unwrap().text,
        longest
    );
    assert_eq!(
        encrypt(ks, &(longest + "a"), 1).unwrap_err(),
        ProtocolError::TooLong
    );
}

#[test]
fn invalid_utf8_under_valid_keys_is_malformed_after_every_check() {
    // Only a holder of both keys can make this (encrypt takes a &str, so seal the bytes by hand);
    // the browser's fatal TextDecoder calls it malformed.
    use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
    use aes_gcm::{Aes256Gcm, Key, Nonce};
    use hmac::{Hmac, Mac as _};
    use parley_protocol::{msg_label, msg_mac_input, u96be};

    let (ks, iv) = (&*AT_ALICE, 9);
    let aad = msg_label(&ks.own_id, &ks.peer_id);
    let sealed = Aes256Gcm::new(&Key::<Aes256Gcm>::from(ks.send.enc))
        .encrypt(
            &Nonce::from(u96be(iv)),
            Payload {
                msg: &[0xff, 0xfe, b'a'],
                aad: aad.as_bytes(),
            },
        )
        .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&ks.send.mac).unwrap();
    mac.update(&msg_mac_input(
        &ks.own_id,
        &ks.peer_id,
        &ks.id,
        &u96be(iv),
        &sealed,
    ));
    let payload = MsgPayload {
        v: 1,
        r#type: "msg".into(),
        key_set: ks.id.clone(),
        iv: to_b64(&u96be(iv)),
        ciphertext: to_b64(&sealed),
        mac: to_b64(&mac.finalize().into_bytes()),
    };
    let got = decrypt(&AT_BOB, &payload, &ks.own_id, 0).unwrap_err();
    assert_eq!((got.reason, got.iv), (Reason::Malformed, Some(iv)));
}
