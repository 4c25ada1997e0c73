//! What the engine keeps in the sealed state file ([`crate::keystore::AccountState`]): the
//! identity key and, per peer, a serde mirror of `parley_protocol::conversation::Store` (the
//! protocol crate's types are not serde) — the conversation record, every key set with its four
//! keys and salt nonce, the own IV counters and the accepted IVs — plus the peer's username and
//! the ids the engine has seen. A mirror round-trips exactly (`Store → mirror → Store` is equal).

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{Context, Result, anyhow};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use parley_protocol::conversation::{
    ConversationState, Counter, EntryType, ExchangeEntry, KeyWarning, NONCE_BYTES, Seen, Store,
    StoredKeySet,
};
use parley_protocol::{DirectionKeys, KeySet, PublicKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

/// The identity private key as its JWK `d` (base64url, 48 bytes). Never printed by `Debug`,
/// wiped when dropped.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdentitySecret(pub String);

impl fmt::Debug for IdentitySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdentitySecret(..)")
    }
}

impl Drop for IdentitySecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Everything kept for one peer.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PeerState {
    /// The peer's username (from the list or the look-up).
    #[serde(default)]
    pub username: String,
    /// The conversation's protocol state.
    #[serde(default)]
    pub store: StoreMirror,
    /// The highest message id acknowledged over the WebSocket.
    #[serde(default)]
    pub acked: i64,
    /// The highest message id processed (history catch-up fetches `after` it).
    #[serde(default)]
    pub last_id: i64,
    /// The highest peer message id marked read.
    #[serde(default)]
    pub read_up_to: i64,
    /// The peer deleted their account.
    #[serde(default)]
    pub deleted: bool,
}

/// `Store`, serializable.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreMirror {
    pub state: StateMirror,
    pub key_sets: BTreeMap<String, KeySetMirror>,
    pub counters: BTreeMap<String, CounterMirror>,
    pub seen: BTreeMap<String, SeenMirror>,
}

/// `ConversationState`, serializable.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateMirror {
    pub exchanges: Vec<EntryMirror>,
    pub max_salt: BTreeMap<String, u64>,
    pub salt_max: u64,
    pub peer_key: Option<String>,
    pub peer_key_id: i64,
    pub peer_keys: Vec<String>,
    pub verified_key: Option<String>,
    pub key_warning: Option<WarningMirror>,
    pub want_exchange: bool,
}

/// `ExchangeEntry`, serializable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryMirror {
    pub id: Option<i64>,
    /// `ecdh` or `change`.
    #[serde(rename = "type")]
    pub ty: String,
    pub from: String,
    pub old: Option<String>,
    pub key_set: String,
    pub salt: u64,
    pub engaged: bool,
    pub created_at: i64,
    pub legacy: bool,
    pub pair: Option<String>,
    pub current_key: Option<bool>,
}

/// `KeyWarning`, serializable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarningMirror {
    pub old: Option<String>,
    pub new: String,
    pub id: i64,
    pub verified: bool,
}

/// `StoredKeySet`, serializable: the keys in base64.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySetMirror {
    pub id: String,
    pub salt: u64,
    pub pair: String,
    pub own_id: String,
    pub peer_id: String,
    pub own_public: String,
    pub peer_public: String,
    pub send_enc: String,
    pub send_mac: String,
    pub recv_enc: String,
    pub recv_mac: String,
    pub nonce: Option<String>,
}

impl fmt::Debug for KeySetMirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySetMirror")
            .field("id", &self.id)
            .field("salt", &self.salt)
            .finish_non_exhaustive()
    }
}

impl Drop for KeySetMirror {
    fn drop(&mut self) {
        self.send_enc.zeroize();
        self.send_mac.zeroize();
        self.recv_enc.zeroize();
        self.recv_mac.zeroize();
    }
}

/// `Counter`, serializable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterMirror {
    pub iv: u64,
    pub closed: bool,
}

/// `Seen`, serializable.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenMirror {
    pub inbound: Vec<(u64, i64)>,
    pub out: Vec<(u64, i64)>,
    pub in_limit: Option<u64>,
}

fn key32(b64: &str) -> Result<[u8; 32]> {
    let mut v = STANDARD.decode(b64).context("a stored key is not base64")?;
    let out: Result<[u8; 32]> = v
        .as_slice()
        .try_into()
        .map_err(|_| anyhow!("a stored key is not 32 bytes"));
    v.zeroize();
    out
}

impl StoreMirror {
    /// The mirror of `store`.
    pub fn from_store(store: &Store) -> Self {
        let s = &store.state;
        StoreMirror {
            state: StateMirror {
                exchanges: s
                    .exchanges
                    .iter()
                    .map(|e| EntryMirror {
                        id: e.id,
                        ty: match e.ty {
                            EntryType::Ecdh => "ecdh".into(),
                            EntryType::Change => "change".into(),
                        },
                        from: e.from.clone(),
                        old: e.old.clone(),
                        key_set: e.key_set.clone(),
                        salt: e.salt,
                        engaged: e.engaged,
                        created_at: e.created_at,
                        legacy: e.legacy,
                        pair: e.pair.clone(),
                        current_key: e.current_key,
                    })
                    .collect(),
                max_salt: s.max_salt.clone(),
                salt_max: s.salt_max,
                peer_key: s.peer_key.clone(),
                peer_key_id: s.peer_key_id,
                peer_keys: s.peer_keys.clone(),
                verified_key: s.verified_key.clone(),
                key_warning: s.key_warning.as_ref().map(|w| WarningMirror {
                    old: w.old.clone(),
                    new: w.new.clone(),
                    id: w.id,
                    verified: w.verified,
                }),
                want_exchange: s.want_exchange,
            },
            key_sets: store
                .key_sets
                .iter()
                .map(|(id, k)| {
                    let ks = &k.ks;
                    (
                        id.clone(),
                        KeySetMirror {
                            id: ks.id.clone(),
                            salt: ks.salt,
                            pair: ks.pair.clone(),
                            own_id: ks.own_id.clone(),
                            peer_id: ks.peer_id.clone(),
                            own_public: ks.own_public.to_b64(),
                            peer_public: ks.peer_public.to_b64(),
                            send_enc: STANDARD.encode(ks.send.enc),
                            send_mac: STANDARD.encode(ks.send.mac),
                            recv_enc: STANDARD.encode(ks.recv.enc),
                            recv_mac: STANDARD.encode(ks.recv.mac),
                            nonce: k.nonce.map(|n| STANDARD.encode(n)),
                        },
                    )
                })
                .collect(),
            counters: store
                .counters
                .iter()
                .map(|(k, c)| {
                    (
                        k.clone(),
                        CounterMirror {
                            iv: c.iv,
                            closed: c.closed,
                        },
                    )
                })
                .collect(),
            seen: store
                .seen
                .iter()
                .map(|(k, s)| {
                    (
                        k.clone(),
                        SeenMirror {
                            inbound: s.inbound.clone(),
                            out: s.out.clone(),
                            in_limit: s.in_limit,
                        },
                    )
                })
                .collect(),
        }
    }

    /// The `Store` this mirrors; an error when the file holds something no store can.
    pub fn to_store(&self) -> Result<Store> {
        let s = &self.state;
        let mut exchanges = Vec::with_capacity(s.exchanges.len());
        for e in &s.exchanges {
            exchanges.push(ExchangeEntry {
                id: e.id,
                ty: match e.ty.as_str() {
                    "ecdh" => EntryType::Ecdh,
                    "change" => EntryType::Change,
                    other => return Err(anyhow!("unknown exchange type {other:?} in the state")),
                },
                from: e.from.clone(),
                old: e.old.clone(),
                key_set: e.key_set.clone(),
                salt: e.salt,
                engaged: e.engaged,
                created_at: e.created_at,
                legacy: e.legacy,
                pair: e.pair.clone(),
                current_key: e.current_key,
            });
        }
        let mut key_sets = BTreeMap::new();
        for (id, k) in &self.key_sets {
            let nonce = match &k.nonce {
                None => None,
                Some(b64) => {
                    let v = STANDARD
                        .decode(b64)
                        .context("a stored nonce is not base64")?;
                    let n: [u8; NONCE_BYTES] = v
                        .as_slice()
                        .try_into()
                        .map_err(|_| anyhow!("a stored nonce has the wrong size"))?;
                    Some(n)
                }
            };
            let ks = KeySet {
                id: k.id.clone(),
                salt: k.salt,
                pair: k.pair.clone(),
                own_id: k.own_id.clone(),
                peer_id: k.peer_id.clone(),
                own_public: PublicKey::from_b64(&k.own_public)
                    .map_err(|_| anyhow!("a stored public key is not a P-384 point"))?,
                peer_public: PublicKey::from_b64(&k.peer_public)
                    .map_err(|_| anyhow!("a stored public key is not a P-384 point"))?,
                send: DirectionKeys {
                    enc: key32(&k.send_enc)?,
                    mac: key32(&k.send_mac)?,
                },
                recv: DirectionKeys {
                    enc: key32(&k.recv_enc)?,
                    mac: key32(&k.recv_mac)?,
                },
            };
            key_sets.insert(id.clone(), StoredKeySet { ks, nonce });
        }
        Ok(Store {
            state: ConversationState {
                exchanges,
                max_salt: s.max_salt.clone(),
                salt_max: s.salt_max,
                peer_key: s.peer_key.clone(),
                peer_key_id: s.peer_key_id,
                peer_keys: s.peer_keys.clone(),
                verified_key: s.verified_key.clone(),
                key_warning: s.key_warning.as_ref().map(|w| KeyWarning {
                    old: w.old.clone(),
                    new: w.new.clone(),
                    id: w.id,
                    verified: w.verified,
                }),
                want_exchange: s.want_exchange,
            },
            key_sets,
            counters: self
                .counters
                .iter()
                .map(|(k, c)| {
                    (
                        k.clone(),
                        Counter {
                            iv: c.iv,
                            closed: c.closed,
                        },
                    )
                })
                .collect(),
            seen: self
                .seen
                .iter()
                .map(|(k, s)| {
                    (
                        k.clone(),
                        Seen {
                            inbound: s.inbound.clone(),
                            out: s.out.clone(),
                            in_limit: s.in_limit,
                        },
                    )
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use parley_protocol::PrivateKey;
    use parley_protocol::conversation::{
        Conversation, Io, Json, LastIv, Nonce, PostError, Posted, Store,
    };

    use super::StoreMirror;
    use crate::engine::io::os_random;

    const ALICE: &str = "3f1a6c0e9b2d4e8f8a7c5b3d1e0f2a4c";
    const BOB: &str = "c5d8e2f4a6b0c1d3e5f7a9b1c3d5e7f9";

    /// A server of one conversation: posts are stored with rising ids.
    #[derive(Default)]
    struct Fake {
        from: String,
        to: String,
        stored: Vec<Json>,
        next: i64,
    }

    impl Io for Fake {
        fn now(&mut self) -> i64 {
            1_700_000_000
        }
        fn nonce(&mut self) -> Nonce {
            os_random()
        }
        fn post(&mut self, payload: &Json) -> Result<Posted, PostError> {
            self.next += 1;
            self.stored.push(Json::obj([
                ("id", Json::int(self.next)),
                ("sender_id", Json::str(self.from.clone())),
                ("recipient_id", Json::str(self.to.clone())),
                ("payload", payload.clone()),
                ("created_at", Json::int(1_700_000_000)),
            ]));
            Ok(Posted {
                id: self.next,
                created_at: 1_700_000_000,
            })
        }
        fn last_iv(&mut self, _key_set: &str) -> Option<LastIv> {
            None
        }
    }

    fn key() -> PrivateKey {
        let mut state = crate::keystore::AccountState::default();
        crate::engine::make_identity(&mut state).expect("identity");
        crate::engine::identity_of(&state).expect("key")
    }

    fn keys_of(k: &PrivateKey) -> Json {
        Json::obj([(
            "current",
            Json::obj([
                ("public_key", Json::str(k.public_key().to_b64())),
                ("created_at", Json::int(1_600_000_000)),
            ]),
        )])
    }

    fn round_trip(store: &Store) {
        let mirror = StoreMirror::from_store(store);
        assert_eq!(&mirror.to_store().expect("back"), store);
        let text = serde_json::to_string(&mirror).expect("serialize");
        let again: StoreMirror = serde_json::from_str(&text).expect("deserialize");
        assert_eq!(again, mirror);
        assert_eq!(&again.to_store().expect("back"), store);
    }

    /// A real conversation's stores (exchange, messages both ways, a Refresh, a key warning
    /// and a verified key) survive Store → mirror → JSON → mirror → Store unchanged.
    #[test]
    fn store_mirror_round_trips() {
        let (ka, kb) = (key(), key());
        let mut a = Conversation::new(ALICE, BOB, ka.clone(), Store::default()).expect("conv");
        let mut b = Conversation::new(BOB, ALICE, kb.clone(), Store::default()).expect("conv");
        let mut io_a = Fake {
            from: ALICE.into(),
            to: BOB.into(),
            ..Fake::default()
        };
        a.set_peer_keys(&keys_of(&kb), &mut io_a);
        a.send("hello", &mut io_a).expect("send");
        a.refresh(&mut io_a).expect("refresh");
        a.send("after refresh", &mut io_a).expect("send");
        let mut io_b = Fake {
            from: BOB.into(),
            to: ALICE.into(),
            next: 100,
            ..Fake::default()
        };
        b.set_peer_keys(&keys_of(&ka), &mut io_b);
        for item in io_a.stored.clone() {
            b.receive(&item, &mut io_b);
        }
        b.send("reply", &mut io_b).expect("send");
        for item in io_b.stored.clone() {
            a.receive(&item, &mut io_a);
        }
        b.mark_verified();
        // A key warning: the contact's key changes after verification.
        b.set_peer_keys(&keys_of(&key()), &mut io_b);
        assert!(b.send_blocked());
        assert!(a.store().key_sets.len() >= 2);
        assert!(!a.store().seen.is_empty());
        round_trip(a.store());
        round_trip(b.store());
        round_trip(&Store::default());
    }

    /// The identity's Debug output never holds the key.
    #[test]
    fn identity_secret_is_not_printed() {
        let mut state = crate::keystore::AccountState::default();
        crate::engine::make_identity(&mut state).expect("identity");
        let d = state.identity.clone().expect("made").0.clone();
        state.session = Some(crate::keystore::KeptSession {
            token: "session-token-value-0123456789".into(),
            csrf: "csrf-token-value-9876543210".into(),
        });
        let printed = format!("{state:?}");
        assert!(!printed.contains(&d));
        assert!(!printed.contains("session-token-value") && !printed.contains("csrf-token-value"));
    }
}
