//! The per-conversation state machine (docs/protocol.md §7–§11), the Rust twin of
//! web/protocol/conversation.js and state.js: server items in, events out, with the same rules,
//! the same stored state and the same verdicts — held to the browser's by the trace vectors
//! (`tests/protocol/traces.json`, replayed by `tests/traces.rs`).
//!
//! Sans-IO: the machine never touches a network, clock or random source itself. Every action
//! takes an [`Io`]: the clock (`now`), the salt nonces (`nonce`), the server's answer to a post
//! and to the last-IV query. The stored state is a plain [`Store`]: clone it to take a snapshot,
//! build a [`Conversation`] over an older one to model a restored storage.

mod events;
mod json;
pub(crate) mod keys;
mod receive;
mod state;

pub use events::{ConversationError, Event, EventKind, ExchangeReason, ItemType, PostError};
pub use json::Json;
pub use keys::{
    NONCE_BYTES, Nonce, ParsedChange, ParsedExchange, StoredKeySet, change_mac_input_with,
    derive_with, ecdh_confirm_input, key_set_id_with, make_change_json, make_exchange_json,
    parse_change_json, parse_exchange_json, salt_bytes, verify_change_json, verify_exchange,
};
pub use state::{
    Chain, ConversationState, Counter, EntryType, ExchangeEntry, IvVerdict, KeyWarning, Seen,
    Store, add_accepted, bump_salt, classify_iv, is_superseded, walk_chain,
};

use std::collections::BTreeSet;

use crate::encoding::{MAX_COUNTER, is_user_id};
use crate::error::{ProtocolError, Reason};
use crate::identity::{PrivateKey, PublicKey};
use crate::ids::pair_id;
use crate::keyset::KeySet;
use crate::msg::{MAX_PLAINTEXT_BYTES, MsgPayload, encrypt_detailed};

/// The 60-second rule (E6), in seconds.
pub const FRESH_SECONDS: i64 = 60;
/// A `created_at` this many seconds in the future still counts as fresh (§7.2).
pub const FUTURE_SKEW_SECONDS: i64 = 5;
/// A received salt may exceed the highest salt seen by at most this (§7.2).
pub const MAX_SALT_STEP: u64 = 1 << 20;

/// What the server answered to a post: the stored message's id and `created_at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Posted {
    /// The server id.
    pub id: i64,
    /// The server's `created_at`.
    pub created_at: i64,
}

/// `GET /api/keysets/{ks}/last-iv` (§4.5): the highest own IV the server holds under a key set,
/// and whether an own `change` from it is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastIv {
    /// The highest IV counter.
    pub last_iv: u64,
    /// A `change` from the key set is stored.
    pub closed: bool,
}

/// The outside world of the state machine: clock, randomness, server.
pub trait Io {
    /// Unix seconds (server-corrected).
    fn now(&mut self) -> i64;
    /// 16 fresh random bytes for a new key set's salt (§4.2).
    fn nonce(&mut self) -> Nonce;
    /// POST a payload; the stored message's id and `created_at`, or the server's refusal.
    fn post(&mut self, payload: &Json) -> Result<Posted, PostError>;
    /// The server's last own IV under `key_set`; `None` if there is no such service.
    fn last_iv(&mut self, key_set: &str) -> Option<LastIv>;
}

struct Base {
    id: i64,
    mine: bool,
    created_at: i64,
    ty: ItemType,
}

impl Base {
    fn event(&self, kind: EventKind) -> Event {
        Event {
            id: self.id,
            mine: self.mine,
            created_at: self.created_at,
            ty: self.ty,
            kind,
        }
    }

    fn undecryptable(&self, reason: Reason, key_set_id: Option<&str>) -> Event {
        self.event(EventKind::Undecryptable {
            reason,
            key_set_id: key_set_id.map(str::to_owned),
        })
    }

    fn exchange(
        &self,
        key_set_id: &str,
        fresh: bool,
        engaged: bool,
        ok: bool,
        reason: Option<Reason>,
    ) -> Event {
        self.event(EventKind::Exchange {
            key_set_id: key_set_id.to_owned(),
            fresh,
            engaged,
            ok,
            reason,
        })
    }
}

fn peer_key_changed(id: i64, created_at: i64, old_key: &str, new_key: &str) -> Event {
    Event {
        id,
        mine: false,
        created_at,
        ty: ItemType::Keys,
        kind: EventKind::PeerKeyChanged {
            old_key: old_key.to_owned(),
            new_key: new_key.to_owned(),
        },
    }
}

/// The canonical b64 of a valid public key, or `None` (§3.4).
pub fn canonical_key(b64: Option<&Json>) -> Option<String> {
    PublicKey::from_b64(b64?.as_str()?).ok().map(|k| k.to_b64())
}

/// One conversation of one browser (a tab of it: the last-IV resumption is per instance).
#[derive(Clone, Debug)]
pub struct Conversation {
    me: String,
    peer: String,
    identity: PrivateKey,
    store: Store,
    /// Key sets whose counter this instance has resumed from the server's last IV (§4.5).
    synced: BTreeSet<String>,
}

impl Conversation {
    /// The conversation of `me` (holding `identity`) with `peer`, over a stored state (a fresh
    /// [`Store::default`], or a kept or restored one).
    pub fn new(
        me: &str,
        peer: &str,
        identity: PrivateKey,
        store: Store,
    ) -> Result<Self, ProtocolError> {
        if !is_user_id(me) || !is_user_id(peer) || me == peer {
            return Err(ProtocolError::BadUserId);
        }
        Ok(Self {
            me: me.to_owned(),
            peer: peer.to_owned(),
            identity,
            store,
            synced: BTreeSet::new(),
        })
    }

    /// The stored state (to persist, or to clone as a snapshot).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The storage changed under this instance (another tab wrote it, or an older copy was
    /// restored while it runs): take `store`, keeping what this instance learnt of the server's
    /// last IVs — a repeated IV is then refused by the server (`iv_reused`) and retried above
    /// the server's last IV (§4.5).
    pub fn replace_store(&mut self, store: Store) {
        self.store = store;
    }

    // ------------------------------------------------------------ queries

    fn key_set(&self, id: &str) -> Option<&StoredKeySet> {
        self.store
            .key_sets
            .get(id)
            .filter(|k| k.ks.peer_id == self.peer)
    }

    /// The key set at the head of the chain (the one to send with); `StorageFailed` if the
    /// chain has no head or its key set cannot be read.
    fn head_key_set(&self) -> Result<KeySet, ProtocolError> {
        let head = walk_chain(&self.store.state)
            .head
            .ok_or(ProtocolError::StorageFailed)?;
        Ok(self
            .key_set(&head)
            .ok_or(ProtocolError::StorageFailed)?
            .ks
            .clone())
    }

    fn counter(&self, ks: &str) -> Counter {
        self.store.counters.get(ks).copied().unwrap_or_default()
    }

    fn reason(&self) -> Option<ExchangeReason> {
        let state = &self.store.state;
        let chain = walk_chain(state);
        let Some(head) = chain.head else {
            return Some(ExchangeReason::NoKeySet);
        };
        if !chain.engaged {
            return Some(ExchangeReason::StaleExchange);
        }
        if chain.legacy {
            return Some(ExchangeReason::LegacyKeySet);
        }
        let Some(data) = self.key_set(&head) else {
            return Some(ExchangeReason::MissingKeySet);
        };
        if data.nonce.is_none() {
            return Some(ExchangeReason::LegacyKeySet);
        }
        if data.ks.own_public != *self.identity.public_key() {
            return Some(ExchangeReason::OwnKeyChanged);
        }
        if state
            .peer_key
            .as_ref()
            .is_some_and(|k| *k != data.ks.peer_public.to_b64())
        {
            return Some(ExchangeReason::PeerKeyChanged);
        }
        if self.counter(&head).closed {
            return Some(ExchangeReason::Closed);
        }
        if state.want_exchange {
            return Some(ExchangeReason::Requested);
        }
        None
    }

    /// Why the next send starts with an `ecdh`, or `None`.
    pub fn exchange_reason(&self) -> Option<ExchangeReason> {
        self.reason()
    }

    /// The next send starts a fresh exchange (E7).
    pub fn needs_exchange(&self) -> bool {
        self.reason().is_some()
    }

    /// The key set this side sends with, if usable.
    pub fn current_key_set_id(&self) -> Option<String> {
        if self.reason().is_none() {
            walk_chain(&self.store.state).head
        } else {
            None
        }
    }

    /// This browser holds that key set of this conversation.
    pub fn has_keys_for(&self, key_set_id: &str) -> bool {
        self.key_set(key_set_id).is_some()
    }

    /// The contact's pinned identity key.
    pub fn peer_key(&self) -> Option<&str> {
        self.store.state.peer_key.as_deref()
    }

    /// Record the contact's current key as verified (X3); clears the key warning.
    pub fn mark_verified(&mut self) {
        let state = &mut self.store.state;
        state.verified_key = state.peer_key.clone();
        state.key_warning = None;
    }

    /// The user accepts the contact's new key (§9.6): the warning goes, sending is allowed again.
    pub fn accept_peer_key(&mut self) {
        self.store.state.key_warning = None;
    }

    /// A contact key change the user has not accepted yet.
    pub fn key_warning(&self) -> Option<&KeyWarning> {
        self.store.state.key_warning.as_ref()
    }

    /// Sending is held back: a verified contact's key changed and was not accepted.
    pub fn send_blocked(&self) -> bool {
        self.store
            .state
            .key_warning
            .as_ref()
            .is_some_and(|w| w.verified)
    }

    /// The contact's current key is the verified one and no key change is pending.
    pub fn is_verified(&self) -> bool {
        let s = &self.store.state;
        s.peer_key.is_some() && s.peer_key == s.verified_key && s.key_warning.is_none()
    }

    fn assert_may_send(&self) -> Result<(), ProtocolError> {
        if self.send_blocked() {
            Err(ProtocolError::KeyChangeUnconfirmed)
        } else {
            Ok(())
        }
    }

    // ------------------------------------------------------------ inputs

    /// Learn the contact's published keys (`{ current: { public_key, created_at } }`); a key
    /// that is not a point on P-384 is ignored.
    pub fn set_peer_keys(&mut self, keys: &Json, io: &mut dyn Io) -> Vec<Event> {
        let current_obj = keys.get("current");
        let Some(current) = canonical_key(current_obj.and_then(|c| c.get("public_key"))) else {
            return Vec::new();
        };
        if self.store.state.peer_key.as_deref() == Some(current.as_str()) {
            return Vec::new();
        }
        let at = match current_obj
            .and_then(|c| c.get("created_at"))
            .and_then(Json::as_safe_int)
        {
            Some(t) => t,
            None => io.now(),
        };
        let mut events = Vec::new();
        self.note_key(0, at, &current, &mut events);
        // A verified contact's pin moves away from the verified key only with the warning, sending
        // held back, even to a key seen before (a stand-in the server sent before the user
        // verified the real one, which `note_key` does not announce again; docs/model, SPIN trail
        // new-directory-pin).
        let state = &mut self.store.state;
        let already_warned = state.key_warning.as_ref().is_some_and(|w| w.verified);
        if !already_warned
            && state.verified_key.is_some()
            && state.verified_key == state.peer_key
            && state.verified_key.as_deref() != Some(current.as_str())
        {
            let old = state.peer_key.clone().unwrap_or_default();
            state.key_warning = Some(KeyWarning {
                old: Some(old.clone()),
                new: current.clone(),
                id: 0,
                verified: true,
            });
            events.push(peer_key_changed(0, at, &old, &current));
        }
        self.store.state.peer_key = Some(current);
        events
    }

    fn note_key(&mut self, id: i64, at: i64, key: &str, events: &mut Vec<Event>) {
        let state = &mut self.store.state;
        if state.peer_keys.iter().any(|k| k == key) {
            return;
        }
        let first = state.peer_keys.is_empty();
        state.peer_keys.push(key.to_owned());
        if first && state.peer_key.is_none() {
            return; // trust on first use
        }
        let old = state.peer_key.clone();
        let verified = state.key_warning.as_ref().is_some_and(|w| w.verified)
            || (state.verified_key.is_some() && state.verified_key == old);
        state.key_warning = Some(KeyWarning {
            old: old.clone(),
            new: key.to_owned(),
            id,
            verified,
        });
        events.push(peer_key_changed(id, at, old.as_deref().unwrap_or(""), key));
    }

    /// A server item that arrived live (push, catch-up, own echo): may engage an exchange.
    pub fn receive(&mut self, item: &Json, io: &mut dyn Io) -> Vec<Event> {
        self.process(item, true, io)
    }

    /// A page of history: decrypts and reports, never engages an exchange (E6).
    pub fn load_history(&mut self, items: &[Json], io: &mut dyn Io) -> Vec<Event> {
        let key = |m: &Json| match m.get("id") {
            Some(Json::Num(n)) => *n,
            _ => 0.0,
        };
        let mut sorted: Vec<&Json> = items.iter().collect();
        sorted.sort_by(|a, b| {
            key(a)
                .partial_cmp(&key(b))
                .unwrap_or(core::cmp::Ordering::Equal)
        });
        sorted
            .into_iter()
            .flat_map(|m| self.process(m, false, io))
            .collect()
    }

    // ------------------------------------------------------------ outputs

    /// Encrypt and post `text` (an `ecdh` first when needed, E7).
    pub fn send(&mut self, text: &str, io: &mut dyn Io) -> Result<Vec<Event>, ConversationError> {
        if text.len() > MAX_PLAINTEXT_BYTES {
            return Err(ProtocolError::TooLong.into());
        }
        self.assert_may_send()?;
        let mut events = Vec::new();
        for _ in 0..3 {
            if self.reason().is_some() {
                events.extend(self.start_exchange(io)?);
            }
            let ks = self.head_key_set()?;
            self.resume_counter(&ks.id, io);
            let Some(iv) = self.reserve_iv(&ks.id)? else {
                continue;
            };
            let enc = encrypt_detailed(&ks, text, iv)?;
            let stored = match io.post(&msg_json(&enc.payload)) {
                Ok(s) => s,
                Err(e) if e.code == "iv_reused" => {
                    // The server holds this IV (a restored older storage, §4.5): learn its last
                    // IV again and retry higher. The IV stays used.
                    self.synced.remove(&ks.id);
                    continue;
                }
                Err(e) => return Err(ConversationError::Post(e)),
            };
            let seen = self.store.seen.entry(ks.id.clone()).or_default();
            if classify_iv(&seen.out, iv, stored.id) == IvVerdict::New {
                add_accepted(&mut seen.out, iv, stored.id);
            }
            events.push(Event {
                id: stored.id,
                mine: true,
                created_at: stored.created_at,
                ty: ItemType::Msg,
                kind: EventKind::Message {
                    text: text.to_owned(),
                    key_set_id: ks.id.clone(),
                    iv,
                },
            });
            return Ok(events);
        }
        Err(ProtocolError::NoKeySet.into())
    }

    /// Start a fresh exchange now.
    pub fn exchange(&mut self, io: &mut dyn Io) -> Result<Vec<Event>, ConversationError> {
        self.assert_may_send()?;
        self.start_exchange(io)
    }

    /// The Refresh button (E6): a `change` to a new salt; an `ecdh` if there is nothing to
    /// refresh.
    pub fn refresh(&mut self, io: &mut dyn Io) -> Result<Vec<Event>, ConversationError> {
        self.assert_may_send()?;
        if self.reason().is_some() {
            return self.start_exchange(io);
        }
        let old = self.head_key_set()?;
        let salt = self
            .store
            .state
            .max_salt
            .get(&old.pair)
            .copied()
            .unwrap_or(0)
            .max(old.salt)
            + 1;
        let (next, nonce) = self.fresh_key_set(&old.peer_public, salt, io)?;
        self.resume_counter(&old.id, io);
        let counter = self.counter(&old.id);
        self.store.counters.insert(
            old.id.clone(),
            Counter {
                iv: counter.iv,
                closed: true,
            },
        );
        let payload = make_change_json(&old, &next, Some(&nonce), counter.iv)?;
        let entry = ExchangeEntry {
            old: Some(old.id.clone()),
            ..self.own_entry(EntryType::Change, &next.id, salt, io.now())
        };
        // If the post fails, the change may have reached the server anyway: the old counter
        // stays closed.
        let (stored, confirmed) = self.post_own(io, &payload, entry, &next.pair)?;
        let superseded = match confirmed {
            Some(i) => is_superseded(&self.store.state, &self.store.state.exchanges[i]),
            None => false,
        };
        Ok(vec![Event {
            id: stored.id,
            mine: true,
            created_at: stored.created_at,
            ty: ItemType::Change,
            kind: EventKind::KeysChanged {
                key_set_id: next.id,
                old_key_set_id: old.id,
                superseded,
                fresh: true,
            },
        }])
    }

    // ------------------------------------------------------------ internals

    fn resume_counter(&mut self, key_set: &str, io: &mut dyn Io) {
        if self.synced.contains(key_set) {
            return;
        }
        let Some(r) = io.last_iv(key_set) else {
            return;
        };
        let server_iv = if r.last_iv <= MAX_COUNTER {
            r.last_iv
        } else {
            0
        };
        let c = self.counter(key_set);
        let next = Counter {
            iv: c.iv.max(server_iv),
            closed: c.closed || r.closed,
        };
        if next != c {
            self.store.counters.insert(key_set.to_owned(), next);
        }
        self.synced.insert(key_set.to_owned());
    }

    fn reserve_iv(&mut self, key_set: &str) -> Result<Option<u64>, ProtocolError> {
        let c = self.counter(key_set);
        if c.closed {
            return Ok(None);
        }
        if c.iv >= MAX_COUNTER {
            return Err(ProtocolError::IvExhausted);
        }
        self.store.counters.insert(
            key_set.to_owned(),
            Counter {
                iv: c.iv + 1,
                closed: false,
            },
        );
        Ok(Some(c.iv + 1))
    }

    fn start_exchange(&mut self, io: &mut dyn Io) -> Result<Vec<Event>, ConversationError> {
        self.assert_may_send()?;
        let peer_b64 = self
            .store
            .state
            .peer_key
            .clone()
            .ok_or(ProtocolError::NoPeerKey)?;
        let peer_key = PublicKey::from_b64(&peer_b64)?;
        let pair = pair_id(&self.me, self.identity.public_key(), &self.peer, &peer_key)?;
        let salt = self.store.state.max_salt.get(&pair).copied().unwrap_or(0) + 1;
        let (ks, nonce) = self.fresh_key_set(&peer_key, salt, io)?;
        let payload = make_exchange_json(&ks, &nonce);
        let entry = ExchangeEntry {
            pair: Some(pair.clone()),
            current_key: Some(true),
            ..self.own_entry(EntryType::Ecdh, &ks.id, salt, io.now())
        };
        self.store.state.want_exchange = false;
        let (stored, _) = self.post_own(io, &payload, entry, &pair)?;
        Ok(vec![Event {
            id: stored.id,
            mine: true,
            created_at: stored.created_at,
            ty: ItemType::Ecdh,
            kind: EventKind::Exchange {
                key_set_id: ks.id,
                fresh: true,
                engaged: true,
                ok: true,
                reason: None,
            },
        }])
    }

    /// A fresh key set with the peer's key `peer_public`, `salt` and a new nonce, stored and
    /// marked synced (nothing was sent under it yet).
    fn fresh_key_set(
        &mut self,
        peer_public: &PublicKey,
        salt: u64,
        io: &mut dyn Io,
    ) -> Result<(KeySet, Nonce), ConversationError> {
        if salt > MAX_COUNTER {
            return Err(ProtocolError::BadSalt.into());
        }
        let nonce = io.nonce();
        let ks = derive_with(
            &self.identity,
            &self.me,
            &self.peer,
            peer_public,
            salt,
            Some(&nonce),
        )?;
        self.store
            .key_sets
            .entry(ks.id.clone())
            .or_insert_with(|| StoredKeySet {
                ks: ks.clone(),
                nonce: Some(nonce),
            });
        self.synced.insert(ks.id.clone());
        Ok((ks, nonce))
    }

    /// The pending entry (no server id yet) of an own `ecdh` or `change` announcing `key_set`
    /// with `salt`, made `now`; the caller adds what its type carries.
    fn own_entry(&self, ty: EntryType, key_set: &str, salt: u64, now: i64) -> ExchangeEntry {
        ExchangeEntry {
            id: None,
            ty,
            from: self.me.clone(),
            old: None,
            key_set: key_set.to_owned(),
            salt,
            engaged: true,
            created_at: now,
            legacy: false,
            pair: None,
            current_key: None,
        }
    }

    /// Record the pending `entry` of an own `ecdh` or `change` under `pair` (its salt is taken
    /// from now on) and post `payload`. A failed post drops the entry; a successful one
    /// confirms it: what the server answered, and the entry's index if it is still there.
    fn post_own(
        &mut self,
        io: &mut dyn Io,
        payload: &Json,
        entry: ExchangeEntry,
        pair: &str,
    ) -> Result<(Posted, Option<usize>), ConversationError> {
        let (ty, key_set, salt) = (entry.ty, entry.key_set.clone(), entry.salt);
        let state = &mut self.store.state;
        state.exchanges.push(entry);
        bump_salt(state, pair, salt);
        let stored = match io.post(payload) {
            Ok(s) => s,
            Err(e) => {
                self.drop_pending(ty, &key_set);
                return Err(ConversationError::Post(e));
            }
        };
        Ok((stored, self.confirm_pending(ty, &key_set, stored)))
    }

    fn drop_pending(&mut self, ty: EntryType, key_set: &str) {
        self.store
            .state
            .exchanges
            .retain(|e| !(e.id.is_none() && e.ty == ty && e.key_set == key_set));
    }

    /// Give a pending own exchange its server id; its index.
    fn confirm_pending(&mut self, ty: EntryType, key_set: &str, stored: Posted) -> Option<usize> {
        let i = self
            .store
            .state
            .exchanges
            .iter()
            .position(|e| e.id.is_none() && e.ty == ty && e.key_set == key_set)?;
        let e = &mut self.store.state.exchanges[i];
        e.id = Some(stored.id);
        e.created_at = stored.created_at;
        Some(i)
    }
}

fn msg_json(p: &MsgPayload) -> Json {
    Json::obj([
        ("v", Json::int(1)),
        ("type", Json::str("msg")),
        ("key_set", Json::str(p.key_set.clone())),
        ("iv", Json::str(p.iv.clone())),
        ("ciphertext", Json::str(p.ciphertext.clone())),
        ("mac", Json::str(p.mac.clone())),
    ])
}
