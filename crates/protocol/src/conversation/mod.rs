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
mod keys;
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
use crate::msg::{MAX_PLAINTEXT_BYTES, MsgPayload, decrypt_gated, encrypt_detailed, parse_msg};

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
            let head = walk_chain(&self.store.state)
                .head
                .ok_or(ProtocolError::StorageFailed)?;
            let ks = self
                .key_set(&head)
                .ok_or(ProtocolError::StorageFailed)?
                .ks
                .clone();
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
        let head = walk_chain(&self.store.state)
            .head
            .ok_or(ProtocolError::StorageFailed)?;
        let old = self
            .key_set(&head)
            .ok_or(ProtocolError::StorageFailed)?
            .ks
            .clone();
        let salt = self
            .store
            .state
            .max_salt
            .get(&old.pair)
            .copied()
            .unwrap_or(0)
            .max(old.salt)
            + 1;
        if salt > MAX_COUNTER {
            return Err(ProtocolError::BadSalt.into());
        }
        let nonce = io.nonce();
        let next = derive_with(
            &self.identity,
            &self.me,
            &self.peer,
            &old.peer_public,
            salt,
            Some(&nonce),
        )?;
        self.store
            .key_sets
            .entry(next.id.clone())
            .or_insert_with(|| StoredKeySet {
                ks: next.clone(),
                nonce: Some(nonce),
            });
        self.synced.insert(next.id.clone());
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
        let now = io.now();
        let state = &mut self.store.state;
        state.exchanges.push(ExchangeEntry {
            id: None,
            ty: EntryType::Change,
            from: self.me.clone(),
            old: Some(old.id.clone()),
            key_set: next.id.clone(),
            salt,
            engaged: true,
            created_at: now,
            legacy: false,
            pair: None,
            current_key: None,
        });
        bump_salt(state, &next.pair, salt);
        let stored = match io.post(&payload) {
            Ok(s) => s,
            Err(e) => {
                // The change may have reached the server anyway: the old counter stays closed.
                self.drop_pending(EntryType::Change, &next.id);
                return Err(ConversationError::Post(e));
            }
        };
        let superseded = match self.confirm_pending(EntryType::Change, &next.id, stored) {
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
        if salt > MAX_COUNTER {
            return Err(ProtocolError::BadSalt.into());
        }
        let nonce = io.nonce();
        let ks = derive_with(
            &self.identity,
            &self.me,
            &self.peer,
            &peer_key,
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
        let payload = make_exchange_json(&ks, &nonce);
        let now = io.now();
        let state = &mut self.store.state;
        state.exchanges.push(ExchangeEntry {
            id: None,
            ty: EntryType::Ecdh,
            from: self.me.clone(),
            old: None,
            key_set: ks.id.clone(),
            salt,
            engaged: true,
            created_at: now,
            legacy: false,
            pair: Some(pair.clone()),
            current_key: Some(true),
        });
        bump_salt(state, &pair, salt);
        state.want_exchange = false;
        let stored = match io.post(&payload) {
            Ok(s) => s,
            Err(e) => {
                self.drop_pending(EntryType::Ecdh, &ks.id);
                return Err(ConversationError::Post(e));
            }
        };
        self.confirm_pending(EntryType::Ecdh, &ks.id, stored);
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

    fn process(&mut self, m: &Json, live: bool, io: &mut dyn Io) -> Vec<Event> {
        let id = m.get("id").and_then(Json::as_safe_int).unwrap_or(0);
        let created_at = m
            .get("created_at")
            .and_then(Json::as_safe_int)
            .unwrap_or(-1);
        if !m.is_object() || id < 1 || created_at < 0 {
            let base = Base {
                id,
                mine: false,
                created_at: created_at.max(0),
                ty: ItemType::Unknown,
            };
            return vec![base.undecryptable(Reason::Malformed, None)];
        }
        let from = m.get("sender_id").and_then(Json::as_str);
        let to = m.get("recipient_id").and_then(Json::as_str);
        let mine = from == Some(self.me.as_str());
        let null = Json::Null;
        let payload = m.get("payload").unwrap_or(&null);
        let ty = match payload.get("type").and_then(Json::as_str) {
            Some("ecdh") => ItemType::Ecdh,
            Some("msg") => ItemType::Msg,
            Some("change") => ItemType::Change,
            _ => ItemType::Unknown,
        };
        let base = Base {
            id,
            mine,
            created_at,
            ty,
        };
        let (me, peer) = (Some(self.me.as_str()), Some(self.peer.as_str()));
        if !((from == me && to == peer) || (from == peer && to == me)) {
            return vec![base.undecryptable(Reason::WrongConversation, None)];
        }
        let (from, to) = if mine {
            (self.me.clone(), self.peer.clone())
        } else {
            (self.peer.clone(), self.me.clone())
        };
        let age = io.now().saturating_sub(created_at);
        let fresh = live && (-FUTURE_SKEW_SECONDS..=FRESH_SECONDS).contains(&age);
        match ty {
            ItemType::Ecdh => self.on_exchange(&base, payload, &from, &to, fresh),
            ItemType::Change => self.on_change(&base, payload, &from, fresh),
            ItemType::Msg => self.on_message(&base, payload, &from, fresh),
            _ => vec![base.undecryptable(Reason::Malformed, None)],
        }
    }

    fn on_exchange(
        &mut self,
        base: &Base,
        payload: &Json,
        from: &str,
        to: &str,
        fresh: bool,
    ) -> Vec<Event> {
        let state = &mut self.store.state;
        if let Some(known) = state
            .exchanges
            .iter_mut()
            .find(|e| e.id == Some(base.id) && e.ty == EntryType::Ecdh)
        {
            if fresh && !known.engaged {
                known.engaged = true;
                if !base.mine {
                    state.want_exchange = false;
                }
            }
            let known = state
                .exchanges
                .iter()
                .find(|e| e.id == Some(base.id) && e.ty == EntryType::Ecdh);
            let (ks, engaged) =
                known.map_or((String::new(), false), |k| (k.key_set.clone(), k.engaged));
            return vec![base.exchange(&ks, fresh, engaged, true, None)];
        }
        let Some(x) = parse_exchange_json(payload, from, to) else {
            return vec![base.exchange("", fresh, false, false, Some(Reason::Malformed))];
        };
        let (own_key, peer_key) = if base.mine {
            (&x.from_key, &x.to_key)
        } else {
            (&x.to_key, &x.from_key)
        };
        if own_key != self.identity.public_key() {
            if fresh && !base.mine {
                self.store.state.want_exchange = true;
            }
            return vec![base.exchange(&x.key_set, fresh, false, false, Some(Reason::NotMyKey))];
        }
        if base.mine
            && self
                .confirm_pending(
                    EntryType::Ecdh,
                    &x.key_set,
                    Posted {
                        id: base.id,
                        created_at: base.created_at,
                    },
                )
                .is_some()
        {
            return vec![base.exchange(&x.key_set, true, true, true, None)];
        }
        let Ok(ks) = derive_with(
            &self.identity,
            &self.me,
            &self.peer,
            peer_key,
            x.salt,
            x.nonce.as_ref(),
        ) else {
            return vec![base.exchange(&x.key_set, fresh, false, false, Some(Reason::Malformed))];
        };
        if ks.id != x.key_set {
            return vec![base.exchange(&x.key_set, fresh, false, false, Some(Reason::BadKeySet))];
        }
        let legacy = x.nonce.is_none();
        if !legacy && !verify_exchange(&ks, &x, from, to) {
            return vec![base.exchange(&x.key_set, fresh, false, false, Some(Reason::BadMac))];
        }
        if self.store.key_sets.contains_key(&ks.id) {
            return vec![base.exchange(&x.key_set, fresh, false, false, Some(Reason::Replay))];
        }
        if !legacy && x.salt > self.store.state.salt_max.saturating_add(MAX_SALT_STEP) {
            return vec![base.exchange(&x.key_set, fresh, false, false, Some(Reason::BadSalt))];
        }
        self.store.key_sets.insert(
            ks.id.clone(),
            StoredKeySet {
                ks: ks.clone(),
                nonce: x.nonce,
            },
        );
        let before = walk_chain(&self.store.state);
        let mut events = Vec::new();
        let peer_b64 = peer_key.to_b64();
        self.pin(base, &peer_b64, &mut events);
        let state = &mut self.store.state;
        let engaged = fresh && !legacy;
        state.exchanges.push(ExchangeEntry {
            id: Some(base.id),
            ty: EntryType::Ecdh,
            from: from.to_owned(),
            old: None,
            key_set: ks.id.clone(),
            salt: x.salt,
            engaged,
            created_at: base.created_at,
            legacy,
            pair: Some(ks.pair.clone()),
            current_key: Some(state.peer_key.as_deref() == Some(peer_b64.as_str())),
        });
        if !legacy {
            bump_salt(state, &ks.pair, x.salt);
        }
        let admitted = walk_chain(state).head.as_deref() == Some(ks.id.as_str());
        // A fresh, authenticated exchange not newer than the current key set: its sender is
        // behind; a new exchange from this side brings it forward (adversary finding A2).
        let head_is_change = before.head.as_ref().is_some_and(|h| {
            state
                .exchanges
                .iter()
                .any(|e| e.key_set == *h && e.ty == EntryType::Change)
        });
        let behind = x.salt < before.salt || (x.salt == before.salt && head_is_change);
        if fresh && !base.mine {
            state.want_exchange = !legacy && !admitted && before.head.is_some() && behind;
        }
        events.push(base.exchange(&ks.id, fresh, engaged, true, None));
        events
    }

    /// A contact key named by an authenticated `ecdh` (X3, §9.6).
    fn pin(&mut self, base: &Base, peer_key: &str, events: &mut Vec<Event>) {
        let seen = self.store.state.peer_keys.iter().any(|k| k == peer_key);
        self.note_key(base.id, base.created_at, peer_key, events);
        let state = &mut self.store.state;
        if base.id <= state.peer_key_id || (seen && state.peer_key.is_some()) {
            return;
        }
        state.peer_key = Some(peer_key.to_owned());
        state.peer_key_id = base.id;
    }

    fn keys_changed(&self, base: &Base, index: usize, fresh: bool) -> Event {
        let state = &self.store.state;
        let entry = &state.exchanges[index];
        base.event(EventKind::KeysChanged {
            key_set_id: entry.key_set.clone(),
            old_key_set_id: entry.old.clone().unwrap_or_default(),
            superseded: is_superseded(state, entry),
            fresh,
        })
    }

    fn on_change(&mut self, base: &Base, payload: &Json, from: &str, fresh: bool) -> Vec<Event> {
        let state = &mut self.store.state;
        if let Some(i) = state
            .exchanges
            .iter()
            .position(|e| e.id == Some(base.id) && e.ty == EntryType::Change)
        {
            if fresh && !state.exchanges[i].engaged {
                state.exchanges[i].engaged = true;
            }
            return vec![self.keys_changed(base, i, fresh)];
        }
        let Some(c) = parse_change_json(payload) else {
            return vec![base.undecryptable(Reason::Malformed, None)];
        };
        if base.mine {
            let stored = Posted {
                id: base.id,
                created_at: base.created_at,
            };
            if let Some(i) = self.confirm_pending(EntryType::Change, &c.new_id, stored) {
                return vec![self.keys_changed(base, i, true)];
            }
        }
        let Some(old) = self.key_set(&c.old_id).map(|k| k.ks.clone()) else {
            if fresh && !base.mine {
                self.store.state.want_exchange = true;
            }
            return vec![base.undecryptable(Reason::UnknownKeySet, Some(&c.old_id))];
        };
        if old.own_public != *self.identity.public_key() {
            return vec![base.undecryptable(Reason::NotMyKey, Some(&c.old_id))];
        }
        let new = match verify_change_json(&old, &c, &self.identity, from) {
            Ok(n) => n,
            Err(reason) => return vec![base.undecryptable(reason, Some(&c.old_id))],
        };
        if self.store.key_sets.contains_key(&new.id) {
            return vec![base.undecryptable(Reason::Replay, Some(&c.old_id))];
        }
        let legacy = c.nonce.is_none();
        if !legacy && c.salt > self.store.state.salt_max.saturating_add(MAX_SALT_STEP) {
            return vec![base.undecryptable(Reason::BadSalt, Some(&c.old_id))];
        }
        self.store.key_sets.insert(
            new.id.clone(),
            StoredKeySet {
                ks: new.clone(),
                nonce: c.nonce,
            },
        );
        if base.mine {
            let iv = self.counter(&old.id).iv;
            self.store
                .counters
                .insert(old.id.clone(), Counter { iv, closed: true });
        } else {
            let seen = self.store.seen.entry(old.id.clone()).or_default();
            seen.in_limit = Some(
                seen.in_limit
                    .map_or(c.last_iv_counter, |l| l.min(c.last_iv_counter)),
            );
        }
        let state = &mut self.store.state;
        state.exchanges.push(ExchangeEntry {
            id: Some(base.id),
            ty: EntryType::Change,
            from: from.to_owned(),
            old: Some(old.id.clone()),
            key_set: new.id.clone(),
            salt: c.salt,
            engaged: fresh && !legacy,
            created_at: base.created_at,
            legacy,
            pair: None,
            current_key: None,
        });
        if !legacy {
            bump_salt(state, &old.pair, c.salt);
        }
        let i = state.exchanges.len() - 1;
        vec![self.keys_changed(base, i, fresh)]
    }

    fn on_message(&mut self, base: &Base, payload: &Json, from: &str, fresh: bool) -> Vec<Event> {
        let Some(p) = msg_payload(payload).filter(|p| parse_msg(p).is_some()) else {
            return vec![base.undecryptable(Reason::Malformed, None)];
        };
        let counter = parse_msg(&p).map_or(0, |m| m.counter);
        let Some(ks) = self.key_set(&p.key_set).map(|k| k.ks.clone()) else {
            if fresh && !base.mine {
                self.store.state.want_exchange = true;
            }
            return vec![base.undecryptable(Reason::UnknownKeySet, Some(&p.key_set))];
        };
        let mut seen = self.store.seen.get(&ks.id).cloned().unwrap_or_default();
        let mut verdict = IvVerdict::New;
        let r = {
            let accepted = if base.mine { &seen.out } else { &seen.inbound };
            let in_limit = seen.in_limit;
            let mine = base.mine;
            let verdict = &mut verdict;
            decrypt_gated(&ks, &p, from, |iv| {
                if !mine && in_limit.is_some_and(|l| iv > l) {
                    return Some(Reason::RetiredKey);
                }
                *verdict = classify_iv(accepted, iv, base.id);
                (*verdict == IvVerdict::Replay).then_some(Reason::Replay)
            })
        };
        let d = match r {
            Ok(d) => d,
            Err(rej) if rej.reason == Reason::Replay => {
                return vec![base.event(EventKind::ReplayRejected {
                    key_set_id: ks.id.clone(),
                    iv: rej.iv.unwrap_or(counter),
                })];
            }
            Err(rej) => return vec![base.undecryptable(rej.reason, Some(&ks.id))],
        };
        if verdict == IvVerdict::New {
            let accepted = if base.mine {
                &mut seen.out
            } else {
                &mut seen.inbound
            };
            add_accepted(accepted, d.iv, base.id);
            self.store.seen.insert(ks.id.clone(), seen);
        }
        let mut events = Vec::new();
        if !base.mine && verdict == IvVerdict::New {
            self.warn_unpinned(base, &ks.peer_public, &mut events);
        }
        events.push(base.event(EventKind::Message {
            text: d.text,
            key_set_id: ks.id.clone(),
            iv: d.iv,
        }));
        events
    }

    /// A contact message under a key that is not the pinned one, in a verified conversation:
    /// the key-change warning (X3, §9.6; adversary finding A3).
    fn warn_unpinned(&mut self, base: &Base, peer_public: &PublicKey, events: &mut Vec<Event>) {
        let state = &mut self.store.state;
        let key = peer_public.to_b64();
        let Some(pinned) = state.peer_key.clone() else {
            return;
        };
        if key == pinned
            || state.verified_key.as_deref() != Some(pinned.as_str())
            || state.key_warning.is_some()
        {
            return;
        }
        state.key_warning = Some(KeyWarning {
            old: Some(pinned.clone()),
            new: key.clone(),
            id: base.id,
            verified: true,
        });
        events.push(peer_key_changed(base.id, base.created_at, &pinned, &key));
    }
}

/// A `msg` payload from JSON: a missing or mistyped field is `None` (`malformed`).
fn msg_payload(p: &Json) -> Option<MsgPayload> {
    if !p.is_object() {
        return None;
    }
    let s = |k: &str| p.get(k).and_then(Json::as_str).map(str::to_owned);
    let v = p
        .get("v")
        .and_then(Json::as_safe_int)
        .and_then(|v| u64::try_from(v).ok())?;
    Some(MsgPayload {
        v,
        r#type: s("type")?,
        key_set: s("key_set")?,
        iv: s("iv")?,
        ciphertext: s("ciphertext")?,
        mac: s("mac")?,
    })
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
