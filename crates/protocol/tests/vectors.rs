//! Holds parley-protocol to `tests/protocol/vectors.json` (docs/protocol.md §14, requirement X5):
//! every value in the file is recomputed from its inputs with this crate and compared, every
//! message decrypts, and every tampered payload is rejected for exactly the reason the browser
//! gives (`rejections`). `shape` pins the file's fields, so a value added to the vectors fails
//! here until a test checks it too; `roundtrip` adds property tests beyond the fixed vectors.

#[path = "vectors/json.rs"]
mod json;
#[path = "vectors/rejections.rs"]
mod rejections;
#[path = "vectors/roundtrip.rs"]
mod roundtrip;
#[path = "vectors/shape.rs"]
mod shape;

use std::sync::LazyLock;

use json::{fields, hex, n, s};
use parley_protocol::{
    Decrypted, KeySet, PrivateKey, ProtocolError, PublicKey, Reason, accept_exchange,
    change_mac_input, check_exchange, decrypt, derive_key_set, encrypt_detailed, from_b64, hkdf,
    key_info, key_set_id, key_set_id_input, mac_info, make_change, make_exchange, msg_label,
    msg_mac_input, pair_id, pair_input, safety_number, to_hex, u64be, u96be, verify_change,
};
use serde_json::Value;

static V: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../../tests/protocol/vectors.json"))
        .expect("vectors.json is JSON")
});

/// A user of the vectors: id, the private key read from the JWK, the published public key.
struct User {
    id: String,
    key: PrivateKey,
    public: PublicKey,
}

static USERS: LazyLock<Vec<User>> = LazyLock::new(|| {
    entries("users")
        .iter()
        .map(|u| User {
            id: s(u, "id").to_owned(),
            key: PrivateKey::from_jwk_d(s(&u["private_jwk"], "d")).expect("a P-384 JWK d"),
            public: PublicKey::from_b64(s(u, "public_key_b64")).expect("a P-384 point"),
        })
        .collect()
});

fn user(id: &str) -> &'static User {
    USERS
        .iter()
        .find(|u| u.id == id)
        .unwrap_or_else(|| panic!("no user {id}"))
}

fn alice() -> &'static User {
    &USERS[0]
}

fn bob() -> &'static User {
    &USERS[1]
}

/// The key set of `salt` as `at` derives it, with the other user as peer.
fn set_for(at: &User, salt: u64) -> KeySet {
    let peer = if at.id == alice().id { bob() } else { alice() };
    derive_key_set(&at.key, &at.id, &peer.id, &peer.public, salt).expect("valid ids, keys and salt")
}

/// The salt of a key set named in the vectors.
fn salt_of(key_set: &str) -> u64 {
    let ks = entries("key_sets").iter().find(|k| s(k, "id") == key_set);
    n(ks.unwrap_or_else(|| panic!("no key set {key_set}")), "salt")
}

fn entries(section: &str) -> &'static [Value] {
    V[section]
        .as_array()
        .unwrap_or_else(|| panic!("{section} is not an array"))
}

#[test]
fn identities_from_jwk_and_published_point() {
    for (u, v) in USERS.iter().zip(entries("users")) {
        let jwk = &v["private_jwk"];
        assert_eq!((s(jwk, "kty"), s(jwk, "crv")), ("EC", "P-384"));
        let full =
            PrivateKey::from_jwk(s(jwk, "crv"), s(jwk, "x"), s(jwk, "y"), s(jwk, "d")).unwrap();
        assert_eq!(full.public_key(), u.key.public_key());
        assert_eq!(u.key.public_key().to_b64(), s(v, "public_key_b64"));
        assert_eq!(to_hex(u.key.public_key().raw()), s(v, "public_key_hex"));
        assert_eq!(&u.public, u.key.public_key());
        assert_eq!(
            &PublicKey::from_jwk_xy(s(jwk, "x"), s(jwk, "y")).unwrap(),
            u.key.public_key()
        );
    }
    let (a, b) = (&V["users"][0]["private_jwk"], &V["users"][1]["private_jwk"]);
    assert_eq!(
        PrivateKey::from_jwk("P-384", s(b, "x"), s(b, "y"), s(a, "d")).unwrap_err(),
        ProtocolError::BadIdentity
    );
    let mut off_curve = *alice().public.raw();
    off_curve[96] ^= 1;
    assert_eq!(
        PublicKey::from_raw(&off_curve).unwrap_err(),
        ProtocolError::BadPublicKey
    );
    let mut compressed = alice().public.raw()[..49].to_vec();
    compressed[0] = 0x02 | (alice().public.raw()[96] & 1);
    assert_eq!(
        PublicKey::from_raw(&compressed).unwrap_err(),
        ProtocolError::BadPublicKey
    );
}

#[test]
fn shared_secret_is_the_same_both_ways() {
    let z = s(&V, "shared_secret_hex");
    assert_eq!(to_hex(&alice().key.shared_secret(&bob().public)[..]), z);
    assert_eq!(to_hex(&bob().key.shared_secret(&alice().public)[..]), z);
}

#[test]
fn pair_input_pair_id_and_safety_number_in_either_order() {
    let (a, b) = (alice(), bob());
    for ((x, px), (y, py)) in [
        ((&a.id, &a.public), (&b.id, &b.public)),
        ((&b.id, &b.public), (&a.id, &a.public)),
    ] {
        assert_eq!(
            to_hex(&pair_input(x, px, y, py).unwrap()),
            s(&V["pair"], "input_hex")
        );
        assert_eq!(pair_id(x, px, y, py).unwrap(), s(&V["pair"], "id"));
        assert_eq!(safety_number(x, px, y, py).unwrap(), s(&V, "safety_number"));
    }
    let groups: Vec<&str> = s(&V, "safety_number").split(' ').collect();
    assert!(
        groups.len() == 12
            && groups
                .iter()
                .all(|g| g.len() == 5 && g.bytes().all(|c| c.is_ascii_digit()))
    );
    assert_eq!(
        pair_id(&a.id, &a.public, &a.id, &b.public).unwrap_err(),
        ProtocolError::BadUserId
    );
}

#[test]
fn key_sets_their_ids_and_all_four_keys() {
    let z = hex(s(&V, "shared_secret_hex"));
    let (a, b) = (alice(), bob());
    assert_eq!(entries("key_sets").len(), 3);
    for ks in entries("key_sets") {
        let salt = n(ks, "salt");
        assert_eq!(to_hex(&u64be(salt)), s(ks, "hkdf_salt_hex"));
        assert_eq!(
            to_hex(&key_set_id_input(&a.id, &a.public, &b.id, &b.public, salt).unwrap()),
            s(ks, "id_input_hex")
        );
        assert_eq!(
            key_set_id(&b.id, &b.public, &a.id, &a.public, salt).unwrap(),
            s(ks, "id")
        );
        let (at_a, at_b) = (set_for(a, salt), set_for(b, salt));
        for derived in [&at_a, &at_b] {
            assert_eq!((derived.id.as_str(), derived.salt), (s(ks, "id"), salt));
            assert_eq!(derived.pair, s(&V["pair"], "id"));
        }
        let keys = ks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 4);
        for k in keys {
            let (from, to, kind) = (s(k, "from"), s(k, "to"), s(k, "kind"));
            let info = if kind == "enc" {
                key_info(from, to)
            } else {
                mac_info(from, to)
            };
            assert_eq!(info, s(k, "info"));
            assert_eq!(
                to_hex(&hkdf(&z, salt, &info)),
                s(k, "hex"),
                "salt {salt} {info}"
            );
            for derived in [&at_a, &at_b] {
                let (dir, recipient) = derived.direction(from).unwrap();
                assert_eq!(recipient, to);
                assert_eq!(
                    to_hex(if kind == "enc" { &dir.enc } else { &dir.mac }),
                    s(k, "hex")
                );
            }
        }
        assert_eq!((&at_a.send, &at_a.recv), (&at_b.recv, &at_b.send));
    }
}

#[test]
fn messages_encrypt_to_the_vectors_and_decrypt_back() {
    assert_eq!(entries("messages").len(), 6);
    for m in entries("messages") {
        let (name, from, to, counter) =
            (s(m, "name"), s(m, "from"), s(m, "to"), n(m, "iv_counter"));
        assert_eq!(n(m, "salt"), salt_of(s(m, "key_set")), "{name}");
        let sender = set_for(user(from), n(m, "salt"));
        assert_eq!(sender.id, s(m, "key_set"));
        assert_eq!(to_hex(&u96be(counter)), s(m, "iv_hex"));
        assert_eq!(msg_label(from, to), s(m, "aad"));
        assert_eq!(to_hex(s(m, "plaintext").as_bytes()), s(m, "plaintext_hex"));
        let e = encrypt_detailed(&sender, s(m, "plaintext"), counter).unwrap();
        assert_eq!(to_hex(&e.ciphertext), s(m, "ciphertext_hex"), "{name}");
        let input = msg_mac_input(from, to, &sender.id, &u96be(counter), &e.ciphertext);
        assert_eq!(to_hex(&input), s(m, "mac_input_hex"), "{name}");
        assert_eq!(to_hex(&e.mac), s(m, "mac_hex"), "{name}");
        assert_eq!(
            fields(&m["payload"]),
            ["ciphertext", "iv", "key_set", "mac", "type", "v"]
        );
        assert!(m["payload"]["v"].is_u64());
        assert_eq!(
            json::msg_payload(&m["payload"]).unwrap(),
            e.payload,
            "{name}"
        );
        let want = Decrypted {
            text: s(m, "plaintext").to_owned(),
            iv: counter,
        };
        let recipient = set_for(user(to), n(m, "salt"));
        assert_eq!(
            decrypt(&recipient, &e.payload, from, counter - 1).unwrap(),
            want,
            "{name}"
        );
        assert_eq!(
            decrypt(&sender, &e.payload, from, counter - 1).unwrap(),
            want,
            "own echo: {name}"
        );
    }
}

#[test]
fn ecdh_payload_names_the_key_set_of_its_keys_and_salt() {
    let (e, a, b) = (&V["ecdh"], alice(), bob());
    assert_eq!((s(e, "from"), s(e, "to")), (a.id.as_str(), b.id.as_str()));
    assert_eq!(
        fields(&e["payload"]),
        ["key_set", "keys", "salt", "type", "v"]
    );
    let parsed = json::ecdh_payload(&e["payload"]).unwrap();
    let mut made = make_exchange(&set_for(a, 1));
    assert_eq!(made.keys[0].0, a.id, "the sender's key first");
    made.keys.sort();
    assert_eq!(parsed, made);
    let x = check_exchange(&parsed, &a.id, &b.id).unwrap();
    assert_eq!(
        (x.key_set.as_str(), x.salt),
        (s(&V["key_sets"][0], "id"), 1)
    );
    assert_eq!((&x.from_key, &x.to_key), (&a.public, &b.public));
    assert_eq!(
        accept_exchange(&parsed, &a.id, &b.id, &b.key, &b.id).unwrap(),
        set_for(b, 1)
    );
    assert_eq!(
        accept_exchange(&parsed, &a.id, &b.id, &a.key, &a.id).unwrap(),
        set_for(a, 1),
        "own echo"
    );
    assert_eq!(
        accept_exchange(&parsed, &a.id, &b.id, &a.key, &b.id).unwrap_err(),
        Reason::NotMyKey
    );
    let stranger = "0123456789abcdef0123456789abcdef";
    assert_eq!(
        accept_exchange(&parsed, &a.id, &b.id, &b.key, stranger).unwrap_err(),
        Reason::WrongConversation
    );
    assert_eq!(
        check_exchange(&parsed, &a.id, stranger).unwrap_err(),
        Reason::Malformed
    );
}

#[test]
fn change_macs_and_verification() {
    let (c, a, b) = (&V["change"], alice(), bob());
    assert_eq!((s(c, "from"), s(c, "to")), (a.id.as_str(), b.id.as_str()));
    let (old, new) = (
        set_for(a, salt_of(s(c, "old_key_set"))),
        set_for(a, n(c, "salt")),
    );
    assert_eq!(
        (old.id.as_str(), new.id.as_str()),
        (s(c, "old_key_set"), s(c, "new_key_set"))
    );
    let last_iv = n(c, "last_iv_counter");
    let input = change_mac_input(&a.id, &b.id, &old.id, &new.id, new.salt, &u96be(last_iv));
    assert_eq!(to_hex(&input), s(c, "input_hex"));
    let made = make_change(&old, &new, last_iv).unwrap();
    assert_eq!(
        fields(&c["payload"]),
        [
            "key_set",
            "last_iv",
            "mac_new",
            "mac_old",
            "new_key_set",
            "salt",
            "type",
            "v"
        ]
    );
    assert_eq!(json::change_payload(&c["payload"]).unwrap(), made);
    assert_eq!(
        to_hex(&from_b64(&made.mac_old).unwrap()),
        s(c, "mac_old_hex")
    );
    assert_eq!(
        to_hex(&from_b64(&made.mac_new).unwrap()),
        s(c, "mac_new_hex")
    );
    let accepted = verify_change(&set_for(b, old.salt), &made, &b.key, &a.id).unwrap();
    assert_eq!(
        (accepted.new_set, accepted.last_iv),
        (set_for(b, new.salt), last_iv)
    );
    let echo = verify_change(&old, &made, &a.key, &a.id).unwrap();
    assert_eq!(echo.new_set, new, "own echo");
    assert_eq!(
        verify_change(&set_for(b, old.salt), &made, &a.key, &a.id).unwrap_err(),
        Reason::NotMyKey
    );
    assert_eq!(
        make_change(&new, &old, 0).unwrap_err(),
        ProtocolError::BadSalt
    );
}
