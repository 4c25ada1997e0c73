//! Receiving (docs/protocol.md §6–§8, conversation.js `#process`, `#onExchange`, `#onChange`,
//! `#onMessage`): a server item in, its events out, the stored state updated.

use super::{
    Base, Conversation, Counter, EntryType, Event, EventKind, ExchangeEntry, FRESH_SECONDS,
    FUTURE_SKEW_SECONDS, Io, ItemType, IvVerdict, Json, KeyWarning, MAX_SALT_STEP, Posted,
    StoredKeySet, add_accepted, bump_salt, classify_iv, derive_with, is_superseded,
    parse_change_json, parse_exchange_json, peer_key_changed, verify_change_json, verify_exchange,
    walk_chain,
};
use crate::error::Reason;
use crate::identity::PublicKey;
use crate::msg::{MsgPayload, decrypt_gated, parse_msg};

impl Conversation {
    pub(super) fn process(&mut self, m: &Json, live: bool, io: &mut dyn Io) -> Vec<Event> {
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
        // An own exchange never moves the pin: it named the pin of its time, so seen again (an
        // echo after a restored older storage) it would re-pin a key the directory may no longer
        // name (docs/model, SPIN trail new-own-ecdh-pin).
        if base.mine || base.id <= state.peer_key_id || (seen && state.peer_key.is_some()) {
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
