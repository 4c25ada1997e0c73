//! Issue 8, server side (E3, X3): identity keys must be points on P-384, a repeated
//! (sender, key set, IV) is refused with 409 `iv_reused` (also when the posts race), and
//! `GET /api/keysets/{key_set}/last-iv` tells a client the highest IV it already used, so that
//! a browser whose localStorage was restored from an older copy resumes above it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use parley_api::{LastIv, MessagePage};
use serde_json::{Value, json};

use crate::flows::*;
use crate::messaging::iv;

/// The uncompressed encodings of G, 2G and 3G on P-384 (valid identity keys), base64.
pub fn point(k: usize) -> String {
    const POINTS: [&str; 3] = [
        "04aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab73617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f",
        "0408d999057ba3d2d969260045c55b97f089025959a6f434d651d207d19fb96e9e4fe0e86ebe0e64f85b96a9c75295df618e80f1fa5b1b3cedb7bfe8dffd6dba74b275d875bc6cc43e904e505f256ab4255ffd43e94d39e22d61501e700a940e80",
        "04077a41d4606ffa1464793c7e5fdc7d98cb9d3910202dcd06bea4f240d3566da6b408bbae5026580d02d7e5c70500c831c995f7ca0b0c42837d0bbe9602a9fc998520b41c85115aa5f7684c0edc111eacc24abd6be4b5d298b65f28600a2f1df1",
    ];
    let h = POINTS[k - 1];
    let bytes: Vec<u8> = (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect();
    STANDARD.encode(bytes)
}

fn msg_at(key_set: &str, counter: u64, fill: u8) -> Value {
    let b = |n: usize| STANDARD.encode(vec![fill; n]);
    json!({"v": 1, "type": "msg", "key_set": key_set, "iv": iv(counter), "ciphertext": b(40), "mac": b(32)})
}

fn change_from(key_set: &str, last: u64) -> Value {
    let b = |n: usize| STANDARD.encode(vec![7u8; n]);
    json!({"v": 1, "type": "change", "key_set": key_set, "new_key_set": format!("{key_set}-next"), "salt": 2,
           "nonce": b(16), "last_iv": iv(last), "mac_old": b(32), "mac_new": b(32)})
}

fn last_iv_path(key_set: &str) -> String {
    format!("/api/keysets/{key_set}/last-iv")
}

/// `GET /api/keysets/{key_set}/last-iv` as `user`, which must succeed.
async fn last_iv(user: &User, key_set: &str) -> LastIv {
    user.get_json(&last_iv_path(key_set)).await
}

fn last(key_set: &str, last_iv: i64, closed: bool) -> LastIv {
    LastIv {
        key_set: key_set.into(),
        last_iv,
        closed,
    }
}

#[tokio::test]
async fn x3_published_keys_and_exchange_keys_must_be_points_on_p384() {
    let (app, alice, bob) = alice_and_bob().await;
    let mut off = STANDARD.decode(point(1)).unwrap();
    off[96] ^= 1; // same X, Y off the curve
    let off = STANDARD.encode(off);
    let r = alice.post("/api/keys", json!({"public_key": off})).await;
    assert_error(&r, 400, "bad_public_key");
    let compressed = STANDARD.encode(
        [
            vec![2u8],
            STANDARD.decode(point(1)).unwrap()[1..49].to_vec(),
        ]
        .concat(),
    );
    let r = alice
        .post("/api/keys", json!({"public_key": compressed}))
        .await;
    assert_error(&r, 400, "bad_public_key");
    let r = alice
        .post("/api/keys", json!({"public_key": point(3)}))
        .await;
    assert_eq!(r.0, 201, "{}", r.1);
    // An exchange naming an off-curve key is refused too; one naming points is stored.
    let ecdh = |k: &str| {
        json!({"v": 1, "type": "ecdh", "key_set": "ks", "salt": 1,
        "keys": {alice.id.clone(): point(3), bob.id.clone(): k}})
    };
    assert_error(
        &alice.send_message(&bob, ecdh(&off)).await,
        400,
        "bad_public_key",
    );
    assert_eq!(alice.send_message(&bob, ecdh(&point(2))).await.0, 201);
    app.stop().await;
}

#[tokio::test]
async fn e3_a_repeated_sender_key_set_iv_is_refused_with_iv_reused() {
    let (app, alice, bob) = alice_and_bob().await;
    assert_eq!(alice.send_message(&bob, msg_at("ksA", 5, 1)).await.0, 201);
    // The same (sender, key set, IV) with another ciphertext: what a restored browser would send.
    let again = alice.send_message(&bob, msg_at("ksA", 5, 2)).await;
    assert_error(&again, 409, "iv_reused");
    // Another IV, another key set or another sender are different slots.
    assert_eq!(alice.send_message(&bob, msg_at("ksA", 6, 2)).await.0, 201);
    assert_eq!(alice.send_message(&bob, msg_at("ksB", 5, 2)).await.0, 201);
    assert_eq!(bob.send_message(&alice, msg_at("ksA", 5, 2)).await.0, 201);
    // A key set is retired by its sender once: a second change from it is refused.
    assert_eq!(alice.send_message(&bob, change_from("ksA", 6)).await.0, 201);
    assert_error(
        &alice.send_message(&bob, change_from("ksA", 6)).await,
        409,
        "iv_reused",
    );
    assert_eq!(bob.send_message(&alice, change_from("ksA", 5)).await.0, 201);
    // Exchanges carry no IV: the same ecdh twice is stored twice (replays are the client's to judge).
    let ecdh = json!({"v": 1, "type": "ecdh", "key_set": "ksC", "salt": 1,
        "keys": {alice.id.clone(): point(1), bob.id.clone(): point(2)}});
    assert_eq!(alice.send_message(&bob, ecdh.clone()).await.0, 201);
    assert_eq!(alice.send_message(&bob, ecdh).await.0, 201);

    // Racing posts of one slot (two tabs, or a client retrying): exactly one is stored.
    let results = futures_util::future::join_all(
        (0..8u8).map(|i| alice.send_message(&bob, msg_at("ksRace", 1, i))),
    )
    .await;
    let stored = results.iter().filter(|r| r.0 == 201).count();
    assert_eq!(stored, 1, "{results:?}");
    for r in results.iter().filter(|r| r.0 != 201) {
        assert_error(r, 409, "iv_reused");
    }
    let h: MessagePage = bob
        .get_json(&format!(
            "/api/conversations/{}/messages?limit=200",
            alice.id
        ))
        .await;
    let slots: Vec<(String, String, String)> = h
        .messages
        .iter()
        .filter(|m| m.kind == "msg")
        .map(|m| {
            (
                m.sender_id.clone(),
                m.payload["key_set"].as_str().unwrap().to_owned(),
                m.payload["iv"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let unique: std::collections::BTreeSet<_> = slots.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        slots.len(),
        "no (sender, key set, IV) stored twice: {slots:?}"
    );
    assert_eq!(slots.len(), 5);
    app.stop().await;
}

#[tokio::test]
async fn e3_last_iv_is_the_highest_own_iv_under_a_key_set() {
    let (app, alice, bob) = alice_and_bob().await;
    assert_eq!(last_iv(&alice, "ksL").await, last("ksL", 0, false));
    for n in [1, 2, 9, 4] {
        assert_eq!(alice.send_message(&bob, msg_at("ksL", n, 1)).await.0, 201);
    }
    // Bob's messages under the same key set are his, not Alice's.
    assert_eq!(bob.send_message(&alice, msg_at("ksL", 50, 1)).await.0, 201);
    assert_eq!(last_iv(&alice, "ksL").await.last_iv, 9);
    assert_eq!(last_iv(&bob, "ksL").await.last_iv, 50);
    // The largest counter the protocol uses (2^53 − 1) is exact.
    let top = (1u64 << 53) - 1;
    assert_eq!(
        alice.send_message(&bob, msg_at("ksTop", top, 1)).await.0,
        201
    );
    assert_eq!(last_iv(&alice, "ksTop").await.last_iv, top as i64);
    // After a Refresh from it the key set is closed for its sender.
    assert_eq!(alice.send_message(&bob, change_from("ksL", 9)).await.0, 201);
    assert_eq!(last_iv(&alice, "ksL").await, last("ksL", 9, true));
    assert!(!last_iv(&bob, "ksL").await.closed);
    // A key-set id of the wrong shape, and no session.
    let bad = alice.get(&last_iv_path("not%20ok")).await;
    assert_error(&bad, 422, "validation_failed");
    let anon = app.browser();
    let (s, _) = anon.get(&last_iv_path("ksL")).await;
    assert_eq!(s, 401);
    app.stop().await;
}
