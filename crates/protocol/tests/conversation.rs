//! The Rust state machine on its own (the trace vectors, `tests/traces.rs`, hold it to the
//! browser's): two Rust browsers talk through an in-memory server, and hostile server items —
//! random JSON, and genuine items with random fields replaced — never panic and never decrypt.

use parley_protocol::conversation::{
    Conversation, EventKind, Io, Json, LastIv, Nonce, PostError, Posted, Store,
};
use parley_protocol::{PrivateKey, from_b64, iv_counter};
use proptest::prelude::*;

const ALICE: &str = "3f1a6c0e9b2d4e8f8a7c5b3d1e0f2a4c";
const BOB: &str = "c5d8e2f4a6b0c1d3e5f7a9b1c3d5e7f9";

fn key(d: &str) -> PrivateKey {
    PrivateKey::from_jwk_d(d).expect("a P-384 private key")
}

fn alice_key() -> PrivateKey {
    key("jYnO8ONVNhky9Vmr-gyoiaUFb4_O4BaucYgvWFR3VGWkSAAZ6faWG9t8RfL96lmr")
}

fn bob_key() -> PrivateKey {
    key("rQYH2r6_PsNnTlTqhJ2c_ErMH_L6wiKM1GFzB2rlpWpZkJxRz5UVv14Tt-u-uHs6")
}

/// A server storing every item, a fixed clock and a counter as the nonce source.
#[derive(Default)]
struct Server {
    items: Vec<Json>,
    sender: String,
    recipient: String,
    nonces: u8,
    now: i64,
}

impl Io for Server {
    fn now(&mut self) -> i64 {
        self.now
    }

    fn nonce(&mut self) -> Nonce {
        self.nonces += 1;
        [self.nonces; 16]
    }

    fn post(&mut self, payload: &Json) -> Result<Posted, PostError> {
        let id = i64::try_from(self.items.len()).unwrap_or(i64::MAX) + 1;
        self.items.push(Json::obj([
            ("id", Json::int(id)),
            ("sender_id", Json::str(self.sender.clone())),
            ("recipient_id", Json::str(self.recipient.clone())),
            ("created_at", Json::int(self.now)),
            ("payload", payload.clone()),
        ]));
        Ok(Posted {
            id,
            created_at: self.now,
        })
    }

    fn last_iv(&mut self, key_set: &str) -> Option<LastIv> {
        let mut last = 0;
        for m in &self.items {
            let p = m.get("payload");
            let mine = m.get("sender_id").and_then(Json::as_str) == Some(self.sender.as_str());
            if mine && p.and_then(|p| p.get("key_set")).and_then(Json::as_str) == Some(key_set) {
                let iv = p
                    .and_then(|p| p.get("iv"))
                    .and_then(Json::as_str)
                    .and_then(from_b64)
                    .and_then(|b| iv_counter(&b));
                last = last.max(iv.unwrap_or(0));
            }
        }
        Some(LastIv {
            last_iv: last,
            closed: false,
        })
    }
}

fn peer_keys(of: &PrivateKey) -> Json {
    Json::obj([(
        "current",
        Json::obj([("public_key", Json::str(of.public_key().to_b64()))]),
    )])
}

/// Alice and Bob, an exchange and one message each way; the server's items.
fn conversation() -> (Conversation, Conversation, Server) {
    let mut server = Server {
        now: 1_750_000_000,
        ..Server::default()
    };
    let mut alice = Conversation::new(ALICE, BOB, alice_key(), Store::default()).expect("ids");
    let mut bob = Conversation::new(BOB, ALICE, bob_key(), Store::default()).expect("ids");
    alice.set_peer_keys(&peer_keys(&bob_key()), &mut server);
    bob.set_peer_keys(&peer_keys(&alice_key()), &mut server);
    (server.sender, server.recipient) = (ALICE.into(), BOB.into());
    let sent = alice.send("Hello, Bob!", &mut server).expect("send");
    assert_eq!(sent.len(), 2, "an ecdh, then the message");
    let mut texts = Vec::new();
    for item in server.items.clone() {
        for e in bob.receive(&item, &mut server) {
            if let EventKind::Message { text, .. } = e.kind {
                texts.push(text);
            }
        }
    }
    assert_eq!(texts, ["Hello, Bob!"]);
    (server.sender, server.recipient) = (BOB.into(), ALICE.into());
    bob.send("Hi Alice", &mut server).expect("send");
    let reply = server.items.last().cloned().expect("stored");
    let got = alice.receive(&reply, &mut server);
    assert!(
        matches!(&got[..], [e] if matches!(&e.kind, EventKind::Message { text, .. } if text == "Hi Alice")),
        "{got:?}"
    );
    (alice, bob, server)
}

#[test]
fn two_rust_browsers_talk_refresh_and_resume_after_a_restore() {
    let (mut alice, mut bob, mut server) = conversation();
    assert_eq!(alice.current_key_set_id(), bob.current_key_set_id());
    (server.sender, server.recipient) = (ALICE.into(), BOB.into());
    let snapshot = alice.store().clone();
    alice.send("two", &mut server).expect("send");
    // Alice's storage rolled back: the restored browser resumes above the server's last IV.
    let mut restored = Conversation::new(ALICE, BOB, alice_key(), snapshot).expect("ids");
    let events = restored.send("three", &mut server).expect("send");
    assert!(
        matches!(&events[..], [e] if matches!(e.kind, EventKind::Message { iv: 3, .. })),
        "{events:?}"
    );
    let changed = restored.refresh(&mut server).expect("refresh");
    assert!(matches!(changed[0].kind, EventKind::KeysChanged { .. }));
    for item in server.items.clone().iter().skip(3) {
        bob.receive(item, &mut server);
    }
    assert_eq!(bob.current_key_set_id(), restored.current_key_set_id());
    assert_ne!(bob.current_key_set_id(), alice.current_key_set_id());
}

#[test]
fn a_verified_contacts_key_change_blocks_sending_until_accepted() {
    let (mut alice, _, mut server) = conversation();
    alice.mark_verified();
    assert!(alice.is_verified());
    let stand_in = key("f3L8i1W7y3qzGJ9m2vQ4b6n8p0r2t4v6x8z0B2D4F6H8J0L2N4P6R8T0V2X4Z6b8");
    alice.set_peer_keys(&peer_keys(&stand_in), &mut server);
    assert!(alice.send_blocked() && !alice.is_verified());
    let err = alice.send("to whom?", &mut server).expect_err("blocked");
    assert_eq!(err.code(), "key_change_unconfirmed");
    alice.accept_peer_key();
    assert!(alice.send("accepted", &mut server).is_ok());
}

fn json_leaf() -> impl Strategy<Value = Json> {
    prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        prop_oneof![
            Just(1.0),
            Just(0.0),
            Just(-1.0),
            Just(9_007_199_254_740_992.0),
            Just(1.5),
            any::<f64>()
        ]
        .prop_map(Json::Num),
        prop_oneof![
            Just("ecdh".to_owned()),
            Just("msg".to_owned()),
            Just("change".to_owned()),
            Just(ALICE.to_owned()),
            Just(BOB.to_owned()),
            Just("AAAAAAAAAAAAAAAB".to_owned()),
            ".{0,40}"
        ]
        .prop_map(Json::Str),
    ]
}

const NAMES: [&str; 16] = [
    "id",
    "sender_id",
    "recipient_id",
    "created_at",
    "payload",
    "v",
    "type",
    "key_set",
    "new_key_set",
    "salt",
    "nonce",
    "keys",
    "confirm",
    "iv",
    "mac",
    "last_iv",
];

fn json_tree() -> impl Strategy<Value = Json> {
    json_leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Arr),
            prop::collection::vec((prop::sample::select(&NAMES[..]), inner), 0..8).prop_map(
                |fields| Json::Obj(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            ),
        ]
    })
}

/// `item` with field `path` (a name, then a name inside `payload`) replaced by `value`.
fn replace(item: &Json, name: &str, value: Json, in_payload: bool) -> Json {
    let Json::Obj(fields) = item else {
        return item.clone();
    };
    let mut fields = fields.clone();
    if in_payload {
        for (k, v) in &mut fields {
            if k == "payload" {
                *v = replace(v, name, value.clone(), false);
            }
        }
    } else {
        fields.retain(|(k, _)| k != name);
        fields.push((name.to_owned(), value));
    }
    Json::Obj(fields)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_items_never_panic_nor_decrypt(items in prop::collection::vec(json_tree(), 1..6)) {
        let (mut alice, _, mut server) = conversation();
        let before = alice.current_key_set_id();
        for item in &items {
            for e in alice.receive(item, &mut server) {
                prop_assert!(!matches!(e.kind, EventKind::Message { .. }), "{e:?}");
            }
        }
        alice.load_history(&items, &mut server);
        prop_assert_eq!(before, alice.current_key_set_id());
    }

    #[test]
    fn genuine_items_with_a_field_replaced_never_panic(
        which in 0usize..3,
        name in prop::sample::select(&NAMES[..]),
        value in json_tree(),
        in_payload in any::<bool>(),
    ) {
        let (mut alice, mut bob, mut server) = conversation();
        let item = server.items[which].clone();
        let forged = replace(&item, name, value, in_payload);
        let _ = bob.receive(&forged, &mut server);
        let _ = alice.receive(&forged, &mut server);
        (server.sender, server.recipient) = (BOB.into(), ALICE.into());
        prop_assert!(bob.send("still works", &mut server).is_ok());
    }
}
