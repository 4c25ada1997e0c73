//! The conversation's stored state and its pure rules (docs/protocol.md §9, §10), as
//! web/protocol/state.js and the storage layout of storage.js: the exchange chain and its walk,
//! the salt counters, IV counters and accepted IVs. A [`Store`] is everything a browser keeps for
//! one conversation; cloning it is taking a snapshot (restoring one models a storage rollback).

use std::collections::BTreeMap;

use super::keys::StoredKeySet;

/// The type of an exchange entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryType {
    /// An `ecdh`.
    Ecdh,
    /// A `change`.
    Change,
}

/// An exchange of the chain (§9.2). `id` is `None` for an own exchange not yet stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExchangeEntry {
    /// The server id.
    pub id: Option<i64>,
    /// `ecdh` or `change`.
    pub ty: EntryType,
    /// Its sender.
    pub from: String,
    /// The key set a `change` replaces.
    pub old: Option<String>,
    /// The key set it names.
    pub key_set: String,
    /// Its salt.
    pub salt: u64,
    /// Fresh and live when it arrived: it may become the send key set.
    pub engaged: bool,
    /// The server's `created_at`.
    pub created_at: i64,
    /// No nonce: identifies key sets of old history, never one to send with.
    pub legacy: bool,
    /// The pair of identity keys (`ecdh` only).
    pub pair: Option<String>,
    /// The contact key it names was the pinned one when it arrived (`ecdh` only).
    pub current_key: Option<bool>,
}

/// A contact key change the user has not accepted yet (X3, §9.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyWarning {
    /// The key pinned before, if any.
    pub old: Option<String>,
    /// The new key.
    pub new: String,
    /// The server id that brought it (0: the key directory).
    pub id: i64,
    /// The conversation was verified: sending is blocked until accepted.
    pub verified: bool,
}

/// The `conv:<peer>` record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConversationState {
    /// The exchanges, in arrival order.
    pub exchanges: Vec<ExchangeEntry>,
    /// The highest salt per pair of identity keys.
    pub max_salt: BTreeMap<String, u64>,
    /// The highest salt of the conversation.
    pub salt_max: u64,
    /// The pinned contact key (canonical b64).
    pub peer_key: Option<String>,
    /// The server id of the exchange that set the pin.
    pub peer_key_id: i64,
    /// Every contact key seen.
    pub peer_keys: Vec<String>,
    /// The key the user verified.
    pub verified_key: Option<String>,
    /// A pending key warning.
    pub key_warning: Option<KeyWarning>,
    /// The next send starts a fresh exchange.
    pub want_exchange: bool,
}

/// An own IV counter (§4.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    /// The last IV used.
    pub iv: u64,
    /// The key set was refreshed away.
    pub closed: bool,
}

/// The accepted (IV, server id) pairs of a key set (§6.1 step 5).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// Peer → own.
    pub inbound: Vec<(u64, i64)>,
    /// Own → peer.
    pub out: Vec<(u64, i64)>,
    /// The last IV the peer announced in an accepted `change`.
    pub in_limit: Option<u64>,
}

/// Everything one browser keeps for one conversation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Store {
    /// The conversation record.
    pub state: ConversationState,
    /// Key sets by id.
    pub key_sets: BTreeMap<String, StoredKeySet>,
    /// Own IV counters by key set.
    pub counters: BTreeMap<String, Counter>,
    /// Accepted IVs by key set.
    pub seen: BTreeMap<String, Seen>,
}

/// The result of walking the chain.
#[derive(Clone, Debug, Default)]
pub struct Chain {
    /// The current key set.
    pub head: Option<String>,
    /// The head is engaged.
    pub engaged: bool,
    /// The head is legacy.
    pub legacy: bool,
    /// The head's salt.
    pub salt: u64,
    /// Indexes (into `state.exchanges`) of entries that did not move the chain.
    pub superseded: Vec<usize>,
}

/// Walk the exchanges in server order (§9.2), as state.js `walkChain`.
pub fn walk_chain(state: &ConversationState) -> Chain {
    let mut order: Vec<usize> = (0..state.exchanges.len()).collect();
    order.sort_by_key(|&i| state.exchanges[i].id.unwrap_or(i64::MAX));
    let mut head: Option<&ExchangeEntry> = None;
    let mut head_pair: Option<&str> = None;
    let mut superseded = Vec::new();
    for i in order {
        let e = &state.exchanges[i];
        let head_legacy = head.is_some_and(|h| h.legacy);
        let admit = if e.legacy && head.is_some() && !head_legacy {
            false
        } else if e.ty == EntryType::Ecdh {
            let new_pair =
                e.pair.is_some() && e.pair.as_deref() != head_pair && e.current_key == Some(true);
            match head {
                None => true,
                Some(h) => head_legacy || e.legacy || e.salt > h.salt || new_pair,
            }
        } else {
            head.is_some_and(|h| {
                e.old.as_deref() == Some(h.key_set.as_str()) && (e.legacy || e.salt > h.salt)
            })
        };
        if admit {
            if !(e.ty == EntryType::Change && e.pair.is_none()) {
                head_pair = e.pair.as_deref();
            }
            head = Some(e);
        } else {
            superseded.push(i);
        }
    }
    Chain {
        head: head.map(|h| h.key_set.clone()),
        engaged: head.is_some_and(|h| h.engaged),
        legacy: head.is_some_and(|h| h.legacy),
        salt: head.map_or(0, |h| h.salt),
        superseded,
    }
}

/// The entry did not move the chain (§8.3).
pub fn is_superseded(state: &ConversationState, entry: &ExchangeEntry) -> bool {
    walk_chain(state).superseded.iter().any(|&i| {
        let e = &state.exchanges[i];
        e.id == entry.id && e.ty == entry.ty && e.key_set == entry.key_set
    })
}

/// Raise the salt counters (§4.2).
pub fn bump_salt(state: &mut ConversationState, pair: &str, salt: u64) {
    let m = state.max_salt.entry(pair.to_owned()).or_insert(0);
    *m = (*m).max(salt);
    state.salt_max = state.salt_max.max(salt);
}

/// The replay rule's verdict on an IV (§6.1 step 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IvVerdict {
    /// Not seen: accept.
    New,
    /// The same message again (same IV, same server id).
    Again,
    /// A replay.
    Replay,
}

/// storage.js `classifyIv`.
pub fn classify_iv(accepted: &[(u64, i64)], iv: u64, id: i64) -> IvVerdict {
    if let Some(&(_, same_id)) = accepted.iter().find(|(a, _)| *a == iv) {
        return if same_id == id {
            IvVerdict::Again
        } else {
            IvVerdict::Replay
        };
    }
    for &(a_iv, a_id) in accepted {
        if a_id == id {
            return IvVerdict::Replay;
        }
        let out_of_order = if a_id < id { a_iv >= iv } else { a_iv <= iv };
        if out_of_order {
            return IvVerdict::Replay;
        }
    }
    IvVerdict::New
}

/// storage.js `addAccepted`.
pub fn add_accepted(accepted: &mut Vec<(u64, i64)>, iv: u64, id: i64) {
    accepted.push((iv, id));
    accepted.sort_by_key(|&(iv, _)| iv);
}
