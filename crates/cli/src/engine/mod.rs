//! Conversations over `parley_protocol::conversation` (no protocol logic here): the identity
//! key (made and published on first sign-in, like the browser's `web/chat/identity.js`), one
//! `Conversation` per peer over the stored `Store`, history pages, the WebSocket (backlog
//! catch-up, acks, reconnect), sending, Refresh, safety numbers, verification, and the events
//! the browser shows (ticks, "Keys changed", key warnings, lost local keys, rejected replays).
//!
//! The orchestration mirrors web/chat: `inbox.js` (frames in, one at a time; a message to us
//! is acknowledged only after it was processed — here: after the state file was saved; an
//! answer exchange when the contact wrote with keys this client lacks; catch-up `after=` the
//! last id on reconnect and `resync`), `outbox.js` (keys fetched before the first send of a
//! process, refusals as the user's message), `state.js` (the conversation per peer, receipts),
//! `timeline.js` (which protocol events are shown, as [`ChatEvent`]s).
//!
//! Peers are named by user id (as [`ChatEvent`] carries them); every method also takes an
//! exact username and resolves it (the local state first, then `GET /api/users?username=`).

pub mod io;
pub mod store;
pub mod ws;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use parley_api::{
    ClientFrame, Conversations, FoundUser, Keys, MarkRead, Marked, Me, Message, MessagePage,
    PublishKey, Published, ServerFrame,
};
use parley_protocol::conversation::{
    Conversation, ConversationError, Event, EventKind, ExchangeReason, Store,
};
use parley_protocol::{PrivateKey, ProtocolError, PublicKey, Reason};

use crate::api::{Api, ApiError};
use crate::events::{ChatEvent, ConversationSummary, Status};
use crate::exit::{self, Exit};
use crate::keystore::{self, AccountState, StateFile};
use crate::profile::Profile;
use io::{NetIo, local_now, message_json, os_random, to_json};
use store::{IdentitySecret, PeerState, StoreMirror};
use ws::{WsEvent, WsHandle, WsTarget};

/// A page of history the catch-up asks for (the server's maximum).
const CATCH_UP_PAGE: usize = 200;
/// Acks per frame (`limits::ACK_IDS_MAX`).
const ACK_IDS_MAX: usize = 256;
/// Delivered receipts kept for messages not seen yet, at most (state.js).
const EARLY_DELIVERED_MAX: usize = 500;
/// Frames handled per `poll` before returning (keeps a UI responsive during a long backlog).
const FRAMES_PER_POLL: usize = 500;

/// Make the identity key if `state` has none (48 random bytes as a JWK `d`; retried in the
/// negligible case that they are not a valid P-384 scalar). True when one was made: the caller
/// saves the state before publishing it.
pub fn make_identity(state: &mut AccountState) -> Result<bool> {
    if state.identity.is_some() {
        return Ok(false);
    }
    for _ in 0..16 {
        let mut bytes: [u8; 48] = os_random();
        let d = data_encoding::BASE64URL_NOPAD.encode(&bytes);
        zeroize::Zeroize::zeroize(&mut bytes);
        if PrivateKey::from_jwk_d(&d).is_ok() {
            state.identity = Some(IdentitySecret(d));
            return Ok(true);
        }
    }
    Err(anyhow!("could not make an identity key"))
}

/// The identity key held in `state`.
pub fn identity_of(state: &AccountState) -> Result<PrivateKey> {
    let d = state
        .identity
        .as_ref()
        .ok_or_else(|| anyhow!("the local state holds no identity key"))?;
    PrivateKey::from_jwk_d(&d.0).map_err(|_| {
        anyhow::Error::new(Exit::new(
            exit::LOCAL_STATE,
            "the identity key in the local state is damaged",
        ))
    })
}

/// Publish the identity key of `state` unless the server already has it as the current one
/// (identity.js `setUpIdentity`). `state.user_id` must be set.
pub fn publish_identity(api: &Api, state: &AccountState) -> Result<()> {
    let identity = identity_of(state)?;
    let ours = identity.public_key().to_b64();
    let keys: Keys = api.get(&format!("/api/users/{}/keys", state.user_id))?;
    if keys.current.as_ref().map(|k| k.public_key.as_str()) != Some(ours.as_str()) {
        let _: Published = api.post("/api/keys", &PublishKey { public_key: ours })?;
    }
    Ok(())
}

/// Make and publish the identity key if `state` has none; publish it again otherwise (a no-op
/// on the server when already published). The caller saves `state` afterwards (better: call
/// [`make_identity`], save, then [`publish_identity`]).
pub fn ensure_identity(api: &Api, state: &mut AccountState) -> Result<()> {
    if state.user_id.is_empty() {
        let me: Me = api.get("/api/me")?;
        state.user_id = me.user.id;
    }
    make_identity(state)?;
    publish_identity(api, state)
}

/// One signed-in account's chat.
pub struct Engine {
    api: Api,
    file: StateFile,
    state: AccountState,
    identity: PrivateKey,
    me: String,
    /// Server time minus local time.
    offset: i64,
    convs: HashMap<String, Conversation>,
    /// Peers whose keys were fetched by this process.
    keys_fetched: HashSet<String>,
    /// Conversations caught up (`after=<last id>`) by this process.
    caught_up: HashSet<String>,
    /// Own message ids → peer (for `delivered` frames).
    own_msgs: HashMap<i64, String>,
    /// `delivered` frames about own messages not seen yet (state.js `earlyDelivered`).
    early_delivered: HashSet<i64>,
    /// Per peer: the contact read up to this id (from `read` frames).
    peer_read: HashMap<String, i64>,
    /// (peer, new key) already announced.
    notices: HashSet<(String, String)>,
    ws: Option<WsHandle>,
    /// `backlog_done` frames seen (the second and later ones mean a reconnect: catch up).
    connections: u32,
    /// Events made outside `poll` (e.g. key changes found by a command), given by the next poll.
    queued: Vec<ChatEvent>,
    /// Message ids already reported live (a message seen twice — an own echo, a catch-up
    /// overlapping the backlog — is reported once, as the browser keys events by id).
    live_seen: HashSet<i64>,
}

impl Engine {
    /// Unseal the account's state (passphrase: keystore::passphrase), restore the session,
    /// GET /api/me (server time offset). Signed out / expired → exit::Exit(SIGN_IN_NEEDED, …).
    pub fn open(profile: &Profile) -> Result<Engine> {
        let username = profile.account()?;
        let path = profile.state_file(&username)?;
        if !path.exists() {
            return Err(Exit::new(
                exit::SIGN_IN_NEEDED,
                format!("no local state for {username} on this server: run `parley-chat login`"),
            )
            .into());
        }
        let pass = keystore::passphrase(
            &format!("Passphrase of the local keys of {username}: "),
            false,
        )?;
        let (mut file, mut state) = StateFile::open(&path, &pass)?;
        let session = state.session.clone().ok_or_else(|| {
            Exit::new(
                exit::SIGN_IN_NEEDED,
                format!("{username} is signed out: run `parley-chat login`"),
            )
        })?;
        let mut api = Api::new(&profile.server, profile.ca_file.as_deref())?;
        api.set_session(&session.token, &session.csrf);
        let me: Me = api.get("/api/me").map_err(|e| match e.exit_code() {
            exit::SIGN_IN_NEEDED => anyhow::Error::new(Exit::new(
                exit::SIGN_IN_NEEDED,
                "the session has ended: run `parley-chat login`",
            )),
            _ => anyhow::Error::new(e),
        })?;
        api.set_csrf(&me.csrf_token);
        if state.user_id.is_empty() {
            state.user_id = me.user.id.clone();
        } else if state.user_id != me.user.id {
            return Err(Exit::new(
                exit::LOCAL_STATE,
                "the session belongs to another account than the local state",
            )
            .into());
        }
        if state.username.is_empty() {
            state.username = me.user.username.clone();
        }
        if make_identity(&mut state)? {
            file.save(&state)?;
        }
        publish_identity(&api, &state)?;
        let identity = identity_of(&state)?;
        Ok(Engine {
            api,
            file,
            identity,
            me: me.user.id,
            offset: me.now - local_now(),
            state,
            convs: HashMap::new(),
            keys_fetched: HashSet::new(),
            caught_up: HashSet::new(),
            own_msgs: HashMap::new(),
            peer_read: HashMap::new(),
            early_delivered: HashSet::new(),
            notices: HashSet::new(),
            ws: None,
            connections: 0,
            queued: Vec::new(),
            live_seen: HashSet::new(),
        })
    }

    pub fn username(&self) -> &str {
        &self.state.username
    }

    /// The signed-in user's id.
    pub fn user_id(&self) -> &str {
        &self.me
    }

    /// The HTTP API client (signed in).
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// A peer's username as known locally ("" if not known yet).
    pub fn peer_username(&self, peer: &str) -> String {
        self.state
            .peers
            .get(peer)
            .map(|p| p.username.clone())
            .unwrap_or_default()
    }

    // ------------------------------------------------------------ peers and state

    /// The user id for `who`: a known peer id, a known username, or a look-up.
    pub fn resolve(&mut self, who: &str) -> Result<String> {
        if let Some(id) = self.known(who) {
            return Ok(id);
        }
        self.start_chat(who)
    }

    fn known(&self, who: &str) -> Option<String> {
        if self.state.peers.contains_key(who) {
            return Some(who.to_owned());
        }
        self.state
            .peers
            .iter()
            .find(|(_, p)| !p.username.is_empty() && p.username.eq_ignore_ascii_case(who))
            .map(|(id, _)| id.clone())
    }

    fn peer_mut(&mut self, peer: &str) -> &mut PeerState {
        self.state.peers.entry(peer.to_owned()).or_default()
    }

    /// The peer's username, asking the conversations list when it is not known yet.
    fn username_of(&mut self, peer: &str) -> String {
        let name = self.peer_username(peer);
        if !name.is_empty() {
            return name;
        }
        if let Ok(list) = self.api.get::<Conversations>("/api/conversations") {
            for row in list.conversations {
                let p = self.peer_mut(&row.peer_id);
                p.username = row.peer_username;
                p.deleted |= row.peer_deleted;
            }
        }
        self.peer_username(peer)
    }

    fn ensure_conv(&mut self, peer: &str) -> Result<()> {
        if self.convs.contains_key(peer) {
            return Ok(());
        }
        let store: Store = match self.state.peers.get(peer) {
            Some(p) => p.store.to_store().map_err(|e| {
                anyhow::Error::new(Exit::new(
                    exit::LOCAL_STATE,
                    format!("the local state of this conversation is damaged: {e}"),
                ))
            })?,
            None => Store::default(),
        };
        self.peer_mut(peer);
        let conv = Conversation::new(&self.me, peer, self.identity.clone(), store)
            .map_err(|e| anyhow!("not a conversation: {}", e.code()))?;
        self.convs.insert(peer.to_owned(), conv);
        Ok(())
    }

    fn conv(&mut self, peer: &str) -> Result<&mut Conversation> {
        self.ensure_conv(peer)?;
        self.convs
            .get_mut(peer)
            .context("the conversation was not loaded")
    }

    /// Copy the conversations' stores into the state and save it (sealed, atomically).
    fn save(&mut self) -> Result<()> {
        for (peer, conv) in &self.convs {
            let mirror = StoreMirror::from_store(conv.store());
            let p = self.state.peers.entry(peer.clone()).or_default();
            if p.store != mirror {
                p.store = mirror;
            }
        }
        self.file.save(&self.state)
    }

    /// Note messages the server stored (ids for catch-up, own ids for receipts).
    fn note(&mut self, peer: &str, messages: &[Message]) {
        for m in messages {
            if m.sender_id == self.me && m.kind == "msg" {
                self.own_msgs.insert(m.id, peer.to_owned());
            }
            let p = self.peer_mut(peer);
            p.last_id = p.last_id.max(m.id);
        }
    }

    // ------------------------------------------------------------ events

    fn status_of(&self, peer: &str, m: Option<&Message>, id: i64, mine: bool) -> Status {
        if !mine {
            let read = self.state.peers.get(peer).map_or(0, |p| p.read_up_to);
            return if id <= read {
                Status::Read
            } else {
                Status::Delivered
            };
        }
        let peer_read = self.peer_read.get(peer).copied().unwrap_or(0);
        match m {
            _ if id <= peer_read => Status::Read,
            Some(m) if m.read_at.is_some() => Status::Read,
            Some(m) if m.delivered_at.is_some() => Status::Delivered,
            _ if self.early_delivered.contains(&id) => Status::Delivered,
            _ => Status::Sent,
        }
    }

    /// The protocol's events as the timeline shows them (timeline.js `eventItem`).
    fn map_events(&mut self, peer: &str, events: Vec<Event>, stored: &[Message]) -> Vec<ChatEvent> {
        if events.is_empty() {
            return Vec::new();
        }
        let username = self.username_of(peer);
        let by_id: HashMap<i64, &Message> = stored.iter().map(|m| (m.id, m)).collect();
        let mut out = Vec::new();
        let mut lost_said = false;
        for ev in events {
            let lost = |out: &mut Vec<ChatEvent>, said: &mut bool| {
                if !*said {
                    *said = true;
                    out.push(ChatEvent::LocalKeysLost {
                        peer: peer.to_owned(),
                        peer_username: username.clone(),
                    });
                }
            };
            match ev.kind {
                EventKind::Message { text, .. } => {
                    let status = self.status_of(peer, by_id.get(&ev.id).copied(), ev.id, ev.mine);
                    if ev.mine {
                        self.own_msgs.insert(ev.id, peer.to_owned());
                    }
                    out.push(ChatEvent::Message {
                        peer: peer.to_owned(),
                        peer_username: username.clone(),
                        id: ev.id,
                        mine: ev.mine,
                        text,
                        created_at: ev.created_at,
                        status,
                    });
                }
                // timeline.js: every accepted exchange is "Secure session started".
                EventKind::Exchange { ok: true, .. } => out.push(ChatEvent::SessionStarted {
                    peer: peer.to_owned(),
                    peer_username: username.clone(),
                    by_me: ev.mine,
                    created_at: ev.created_at,
                }),
                EventKind::Exchange { reason, .. } => {
                    if reason == Some(Reason::NotMyKey) {
                        lost(&mut out, &mut lost_said);
                    }
                    out.push(ChatEvent::Undecryptable {
                        peer: peer.to_owned(),
                        id: ev.id,
                        reason: reason.map_or("bad_key_set", Reason::as_str).to_owned(),
                    });
                }
                EventKind::KeysChanged { superseded, .. } => {
                    if !superseded {
                        out.push(ChatEvent::KeysChanged {
                            peer: peer.to_owned(),
                            peer_username: username.clone(),
                            by_me: ev.mine,
                            created_at: ev.created_at,
                        });
                    }
                }
                EventKind::ReplayRejected { .. } => out.push(ChatEvent::Undecryptable {
                    peer: peer.to_owned(),
                    id: ev.id,
                    reason: Reason::Replay.as_str().to_owned(),
                }),
                EventKind::Undecryptable { reason, .. } => {
                    if reason == Reason::WrongConversation {
                        continue;
                    }
                    if matches!(reason, Reason::UnknownKeySet | Reason::NotMyKey) {
                        lost(&mut out, &mut lost_said);
                    }
                    out.push(ChatEvent::Undecryptable {
                        peer: peer.to_owned(),
                        id: ev.id,
                        reason: reason.as_str().to_owned(),
                    });
                }
                EventKind::PeerKeyChanged { new_key, .. } => {
                    if !self.notices.insert((peer.to_owned(), new_key)) {
                        continue;
                    }
                    let verified = self
                        .convs
                        .get(peer)
                        .and_then(|c| c.key_warning())
                        .is_some_and(|w| w.verified);
                    out.push(ChatEvent::PeerKeyChanged {
                        peer: peer.to_owned(),
                        peer_username: username.clone(),
                        verified,
                    });
                }
            }
        }
        out
    }

    // ------------------------------------------------------------ keys

    /// The contact's published keys → `set_peer_keys` (X3: a changed key is announced).
    fn take_keys(&mut self, peer: &str, keys: &Keys) -> Result<Vec<ChatEvent>> {
        let json = to_json(&serde_json::to_value(keys)?);
        let offset = self.offset;
        self.ensure_conv(peer)?;
        let conv = self
            .convs
            .get_mut(peer)
            .context("the conversation was not loaded")?;
        let mut io = NetIo::new(&self.api, peer, offset);
        let events = conv.set_peer_keys(&json, &mut io);
        self.keys_fetched.insert(peer.to_owned());
        Ok(self.map_events(peer, events, &[]))
    }

    /// Fetch the contact's keys now (`GET /api/users/{id}/keys`).
    pub fn fetch_keys(&mut self, peer: &str) -> Result<Vec<ChatEvent>> {
        let peer = self.resolve(peer)?;
        let keys: Keys = self.api.get(&format!("/api/users/{peer}/keys"))?;
        let events = self.take_keys(&peer, &keys)?;
        self.save()?;
        Ok(events)
    }

    fn fetch_keys_once(&mut self, peer: &str) -> Result<Vec<ChatEvent>> {
        let no_pin = self.conv(peer)?.peer_key().is_none();
        if no_pin || !self.keys_fetched.contains(peer) {
            self.fetch_keys(peer)
        } else {
            Ok(Vec::new())
        }
    }

    // ------------------------------------------------------------ the API of the UI

    /// The conversations list (GET /api/conversations + local verified/warning state).
    pub fn conversations(&mut self) -> Result<Vec<ConversationSummary>> {
        let list: Conversations = self.api.get("/api/conversations")?;
        let mut out = Vec::new();
        for row in list.conversations {
            let p = self.peer_mut(&row.peer_id);
            p.username.clone_from(&row.peer_username);
            p.deleted |= row.peer_deleted;
            out.push(ConversationSummary {
                verified: self.is_verified(&row.peer_id),
                key_warning: self.key_warning(&row.peer_id),
                peer: row.peer_id,
                peer_username: row.peer_username,
                unread: row.unread,
                last_activity: row.last_activity,
                peer_deleted: row.peer_deleted,
            });
        }
        self.save()?;
        Ok(out)
    }

    /// Find a user by exact username (GET /api/users?username=); their user id.
    /// No such user → exit::Exit(NOT_FOUND, "no user named …").
    pub fn start_chat(&mut self, username: &str) -> Result<String> {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("username", username)
            .finish();
        let found: FoundUser = match self.api.get(&format!("/api/users?{q}")) {
            Ok(f) => f,
            Err(ApiError::Refused { status: 404, .. }) => {
                return Err(Exit::new(exit::NOT_FOUND, format!("no user named {username}")).into());
            }
            Err(e) => return Err(e.into()),
        };
        if found.id == self.me {
            return Err(Exit::new(exit::USAGE, "that is you: pick another user").into());
        }
        self.peer_mut(&found.id)
            .username
            .clone_from(&found.username);
        let events = self.take_keys(&found.id, &found.keys)?;
        self.queued.extend(events);
        self.save()?;
        Ok(found.id)
    }

    /// A page of history, oldest first: the newest `limit` when `before` is None, else the
    /// `limit` before message id `before`. Decrypted through the state machine's load_history.
    pub fn history(
        &mut self,
        peer: &str,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<ChatEvent>> {
        let peer = self.resolve(peer)?;
        let limit = limit.clamp(1, CATCH_UP_PAGE);
        let mut path = format!("/api/conversations/{peer}/messages?limit={limit}");
        if let Some(b) = before {
            path.push_str(&format!("&before={b}"));
        }
        self.ensure_conv(&peer)?;
        // What arrived since this client last looked comes first, as the browser's backlog does
        // before its history (inbox.js): an exchange older than the page would otherwise be
        // missing, and a fresh client would call the page's messages lost (E5) when they are
        // not. Its events are not shown: the page shows the same messages; its acks go with
        // the next poll's when the WebSocket runs (the server sends what is not acked again).
        if before.is_none() && !self.caught_up.contains(&peer) {
            let mut acks = Vec::new();
            self.catch_up(&peer, &mut acks)?;
            self.save()?;
            self.send_acks(&acks);
        }
        let page: MessagePage = self.api.get(&path)?;
        let items: Vec<_> = page.messages.iter().map(message_json).collect();
        let offset = self.offset;
        let conv = self
            .convs
            .get_mut(&peer)
            .context("the conversation was not loaded")?;
        let mut io = NetIo::new(&self.api, &peer, offset);
        let events = conv.load_history(&items, &mut io);
        self.note(&peer, &page.messages);
        let mut out = self.map_events(&peer, events, &page.messages);
        // As inbox.js `open`: the contact's keys after the page (a changed key is announced).
        if !self.keys_fetched.contains(&peer) {
            let keys: Keys = self.api.get(&format!("/api/users/{peer}/keys"))?;
            out.extend(self.take_keys(&peer, &keys)?);
        }
        // A key change still waiting for the user (kept in the state, as the browser keeps its
        // `key_warning`): shown once per process when the conversation is opened.
        let pending = self
            .convs
            .get(&peer)
            .and_then(|c| c.key_warning())
            .map(|w| (w.new.clone(), w.verified));
        if let Some((new_key, verified)) = pending
            && self.notices.insert((peer.clone(), new_key))
        {
            out.push(ChatEvent::PeerKeyChanged {
                peer: peer.clone(),
                peer_username: self.username_of(&peer),
                verified,
            });
        }
        self.save()?;
        Ok(out)
    }

    /// Encrypt and send. Held back (verified contact's key changed) → exit::Exit(BLOCKED, …).
    pub fn send(&mut self, peer: &str, text: &str) -> Result<Vec<ChatEvent>> {
        let peer = self.resolve(peer)?;
        let mut out = self.fetch_keys_once(&peer)?;
        let username = self.username_of(&peer);
        if self.conv(&peer)?.send_blocked() {
            self.queued.append(&mut out);
            return Err(blocked(&username));
        }
        let offset = self.offset;
        let conv = self
            .convs
            .get_mut(&peer)
            .context("the conversation was not loaded")?;
        let mut io = NetIo::new(&self.api, &peer, offset);
        let result = conv.send(text, &mut io);
        let (stored, error) = (io.stored, io.error);
        self.note(&peer, &stored);
        self.live_seen.extend(stored.iter().map(|m| m.id));
        // The IV was reserved whatever happened: saved before anything else. A message that was
        // stored but whose state could not be saved is said to be sent, so it is not sent twice
        // (the next process resumes above the server's last IV, §4.5).
        if let Err(e) = self.save() {
            if result.is_ok() {
                return Err(Exit::new(
                    exit::LOCAL_STATE,
                    format!("the message was sent, but the local state could not be saved: {e:#}"),
                )
                .into());
            }
            return Err(e);
        }
        match result {
            Ok(events) => {
                out.extend(self.map_events(&peer, events, &stored));
                Ok(out)
            }
            Err(e) => {
                self.queued.append(&mut out);
                Err(send_error(&e, error, &username))
            }
        }
    }

    /// The Refresh button (E6).
    pub fn refresh_keys(&mut self, peer: &str) -> Result<Vec<ChatEvent>> {
        let peer = self.resolve(peer)?;
        let mut out = self.fetch_keys_once(&peer)?;
        let username = self.username_of(&peer);
        let offset = self.offset;
        self.ensure_conv(&peer)?;
        let conv = self
            .convs
            .get_mut(&peer)
            .context("the conversation was not loaded")?;
        let mut io = NetIo::new(&self.api, &peer, offset);
        let result = conv.refresh(&mut io);
        let (stored, error) = (io.stored, io.error);
        self.note(&peer, &stored);
        self.live_seen.extend(stored.iter().map(|m| m.id));
        self.save()?;
        match result {
            Ok(events) => {
                out.extend(self.map_events(&peer, events, &stored));
                Ok(out)
            }
            Err(e) => {
                self.queued.append(&mut out);
                Err(send_error(&e, error, &username))
            }
        }
    }

    /// The safety number, as the browser shows it (12 groups of 5 digits, space-separated).
    pub fn safety_number(&mut self, peer: &str) -> Result<String> {
        let peer = self.resolve(peer)?;
        let events = self.fetch_keys_once(&peer)?;
        self.queued.extend(events);
        let username = self.username_of(&peer);
        let key = self
            .conv(&peer)?
            .peer_key()
            .map(str::to_owned)
            .ok_or_else(|| {
                Exit::new(
                    exit::NOT_FOUND,
                    format!("{username} has not published a key yet: there is nothing to compare."),
                )
            })?;
        let key = PublicKey::from_b64(&key).map_err(|e| anyhow!("bad key: {}", e.code()))?;
        parley_protocol::safety_number(&self.me, self.identity.public_key(), &peer, &key)
            .map_err(|e| anyhow!("the safety number could not be computed: {}", e.code()))
    }

    pub fn mark_verified(&mut self, peer: &str) -> Result<()> {
        let peer = self.resolve(peer)?;
        let events = self.fetch_keys_once(&peer)?;
        self.queued.extend(events);
        self.conv(&peer)?.mark_verified();
        self.save()
    }

    pub fn accept_key(&mut self, peer: &str) -> Result<()> {
        let peer = self.resolve(peer)?;
        self.conv(&peer)?.accept_peer_key();
        self.save()
    }

    /// The contact's current key is the verified one and no key change is pending.
    pub fn is_verified(&self, peer: &str) -> bool {
        let Some(id) = self.known(peer) else {
            return false;
        };
        if let Some(c) = self.convs.get(&id) {
            return c.is_verified();
        }
        self.state.peers.get(&id).is_some_and(|p| {
            let s = &p.store.state;
            s.peer_key.is_some() && s.peer_key == s.verified_key && s.key_warning.is_none()
        })
    }

    /// A contact key change is waiting for the user.
    pub fn key_warning(&self, peer: &str) -> bool {
        let Some(id) = self.known(peer) else {
            return false;
        };
        if let Some(c) = self.convs.get(&id) {
            return c.key_warning().is_some();
        }
        self.state
            .peers
            .get(&id)
            .is_some_and(|p| p.store.state.key_warning.is_some())
    }

    pub fn send_blocked(&self, peer: &str) -> bool {
        let Some(id) = self.known(peer) else {
            return false;
        };
        if let Some(c) = self.convs.get(&id) {
            return c.send_blocked();
        }
        self.state.peers.get(&id).is_some_and(|p| {
            p.store
                .state
                .key_warning
                .as_ref()
                .is_some_and(|w| w.verified)
        })
    }

    /// Read receipt up to message id `up_to`.
    pub fn mark_read(&mut self, peer: &str, up_to: i64) -> Result<()> {
        let peer = self.resolve(peer)?;
        let _: Marked = self.api.post(
            &format!("/api/conversations/{peer}/read"),
            &MarkRead { up_to },
        )?;
        let p = self.peer_mut(&peer);
        p.read_up_to = p.read_up_to.max(up_to);
        self.save()
    }

    /// Start the WebSocket (its own thread; reconnects with backoff).
    pub fn connect(&mut self) -> Result<()> {
        if self.ws.is_some() {
            return Ok(());
        }
        let base = self.api.base();
        let host = base
            .host_str()
            .context("the server URL has no host")?
            .to_owned();
        let port = base.port_or_known_default().unwrap_or(443);
        let cookie = self.api.cookie_header().ok_or_else(|| {
            Exit::new(
                exit::SIGN_IN_NEEDED,
                "not signed in: run `parley-chat login`",
            )
        })?;
        // host_str() already brackets an IPv6 address ("[::1]"): the URL takes it as it is,
        // the TLS server name without the brackets.
        let target = WsTarget {
            url: format!("wss://{host}:{port}/api/ws"),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            tls: self.api.ws_tls(),
            cookie,
            origin: self.api.origin().to_owned(),
            user_agent: crate::api::USER_AGENT.to_owned(),
        };
        self.ws = Some(WsHandle::start(target));
        Ok(())
    }

    /// Live events since the last call, waiting at most `timeout` for the first: decrypts,
    /// acknowledges (after saving the state), reports ticks, key changes, connection state.
    pub fn poll(&mut self, timeout: Duration) -> Vec<ChatEvent> {
        let mut out = std::mem::take(&mut self.queued);
        let mut frames = Vec::new();
        let mut ended = false;
        if let Some(ws) = &self.ws {
            if out.is_empty() {
                match ws.events.recv_timeout(timeout) {
                    Ok(e) => frames.push(e),
                    Err(_) => return out,
                }
            }
            while frames.len() < FRAMES_PER_POLL {
                match ws.events.try_recv() {
                    Ok(e) => frames.push(e),
                    Err(_) => break,
                }
            }
        } else if out.is_empty() {
            std::thread::sleep(timeout);
            return out;
        }
        let mut acks = Vec::new();
        for ev in frames {
            match ev {
                WsEvent::State(state) => out.push(ChatEvent::Connection { state }),
                WsEvent::SessionEnded => {
                    ended = true;
                    out.push(ChatEvent::Error {
                        code: "session_ended".into(),
                        message: "The session has ended: run `parley-chat login`.".into(),
                    });
                }
                WsEvent::Frame(frame) => match self.on_frame(*frame, &mut acks) {
                    Ok(mut evs) => out.append(&mut evs),
                    Err(e) => out.push(error_event(&e)),
                },
            }
        }
        // Acknowledged only once stored (inbox.js: after processing; here after the save).
        if !acks.is_empty() {
            match self.save() {
                Ok(()) => self.send_acks(&acks),
                Err(e) => out.push(error_event(&e)),
            }
        }
        if ended {
            self.ws = None;
        }
        out
    }

    // ------------------------------------------------------------ frames (inbox.js)

    fn on_frame(&mut self, frame: ServerFrame, acks: &mut Vec<i64>) -> Result<Vec<ChatEvent>> {
        match frame {
            ServerFrame::Message { message } => self.ingest(&message, acks),
            ServerFrame::BacklogDone => {
                self.connections += 1;
                let mut out = Vec::new();
                if self.connections > 1 {
                    out = self.catch_up_all(acks)?;
                }
                out.push(ChatEvent::BacklogDone);
                Ok(out)
            }
            ServerFrame::Resync => self.catch_up_all(acks),
            ServerFrame::Delivered { id, .. } => {
                if let Some(peer) = self.own_msgs.get(&id) {
                    return Ok(vec![ChatEvent::Delivered {
                        peer: peer.clone(),
                        id,
                    }]);
                }
                // Before the message itself (another process sent it): kept for its tick.
                if self.early_delivered.len() >= EARLY_DELIVERED_MAX {
                    self.early_delivered.clear();
                }
                self.early_delivered.insert(id);
                Ok(Vec::new())
            }
            ServerFrame::Read { reader, up_to, .. } => {
                if reader == self.me {
                    return Ok(Vec::new());
                }
                let r = self.peer_read.entry(reader.clone()).or_insert(0);
                if up_to <= *r {
                    return Ok(Vec::new());
                }
                *r = up_to;
                Ok(vec![ChatEvent::Read {
                    peer: reader,
                    up_to,
                }])
            }
            ServerFrame::Key { user_id } if user_id == self.me => {
                // Another device of this account published a key (identity.js
                // `identityReplaced`): contacts now pin that one.
                let keys: Keys = self.api.get(&format!("/api/users/{user_id}/keys"))?;
                let ours = self.identity.public_key().to_b64();
                if keys.current.is_some_and(|k| k.public_key != ours) {
                    return Ok(vec![ChatEvent::Error {
                        code: "identity_replaced".into(),
                        message: "Another device published a new key for this account: contacts \
                                  now see that key. Restart parley-chat to publish this one again."
                            .into(),
                    }]);
                }
                Ok(Vec::new())
            }
            ServerFrame::Key { user_id } => {
                if !self.state.peers.contains_key(&user_id) {
                    return Ok(Vec::new());
                }
                let keys: Keys = self.api.get(&format!("/api/users/{user_id}/keys"))?;
                self.take_keys(&user_id, &keys)
            }
            ServerFrame::AccountDeleted { user_id } => {
                let Some(p) = self.state.peers.get_mut(&user_id) else {
                    return Ok(Vec::new());
                };
                p.deleted = true;
                let peer_username = p.username.clone();
                self.save()?;
                Ok(vec![ChatEvent::PeerDeleted {
                    peer: user_id,
                    peer_username,
                }])
            }
            ServerFrame::Sent { .. } | ServerFrame::Error { .. } => Ok(Vec::new()),
        }
    }

    /// A message that arrived live: receive → events → ack (after the save) → an answer
    /// exchange when the contact wrote with keys this client does not have (E5/E7).
    fn ingest(&mut self, m: &Message, acks: &mut Vec<i64>) -> Result<Vec<ChatEvent>> {
        if m.sender_id != self.me && m.recipient_id != self.me {
            return Ok(Vec::new());
        }
        let peer = if m.sender_id == self.me {
            m.recipient_id.clone()
        } else {
            m.sender_id.clone()
        };
        let offset = self.offset;
        self.ensure_conv(&peer)?;
        let conv = self
            .convs
            .get_mut(&peer)
            .context("the conversation was not loaded")?;
        let mut io = NetIo::new(&self.api, &peer, offset);
        let events = conv.receive(&message_json(m), &mut io);
        let answer =
            m.sender_id != self.me && conv.exchange_reason() == Some(ExchangeReason::Requested);
        self.note(&peer, std::slice::from_ref(m));
        let mut out = self.map_events(&peer, events, std::slice::from_ref(m));
        if !self.live_seen.insert(m.id) {
            out.clear();
        }
        if m.recipient_id == self.me {
            acks.push(m.id);
            let p = self.peer_mut(&peer);
            p.acked = p.acked.max(m.id);
        }
        if answer {
            let keys: Keys = self.api.get(&format!("/api/users/{peer}/keys"))?;
            out.extend(self.take_keys(&peer, &keys)?);
            let conv = self
                .convs
                .get_mut(&peer)
                .context("the conversation was not loaded")?;
            let mut io = NetIo::new(&self.api, &peer, offset);
            let result = conv.exchange(&mut io);
            let stored = io.stored;
            self.note(&peer, &stored);
            self.live_seen.extend(stored.iter().map(|m| m.id));
            if let Ok(events) = result {
                out.extend(self.map_events(&peer, events, &stored));
            }
        }
        Ok(out)
    }

    /// Acknowledge stored messages over the WebSocket, if it runs (call after the save). Without
    /// it the server sends them again with the next backlog; the client reports them once.
    fn send_acks(&self, acks: &[i64]) {
        if let Some(ws) = &self.ws {
            for chunk in acks.chunks(ACK_IDS_MAX) {
                let _ = ws.out.send(ClientFrame::Ack {
                    id: None,
                    ids: chunk.to_vec(),
                });
            }
        }
    }

    /// After a reconnect or `resync`: every known conversation fetches `after=<last id>`.
    fn catch_up_all(&mut self, acks: &mut Vec<i64>) -> Result<Vec<ChatEvent>> {
        let mut out = Vec::new();
        let peers: Vec<String> = self.state.peers.keys().cloned().collect();
        for peer in peers {
            if let Ok(keys) = self.api.get::<Keys>(&format!("/api/users/{peer}/keys")) {
                out.extend(self.take_keys(&peer, &keys)?);
            }
            out.extend(self.catch_up(&peer, acks)?);
        }
        self.save()?;
        Ok(out)
    }

    /// Everything of one conversation after its last id, as live items (`after=<last id>`).
    fn catch_up(&mut self, peer: &str, acks: &mut Vec<i64>) -> Result<Vec<ChatEvent>> {
        let mut out = Vec::new();
        loop {
            let after = self.state.peers.get(peer).map_or(0, |p| p.last_id);
            let page: MessagePage = self.api.get(&format!(
                "/api/conversations/{peer}/messages?after={after}&limit={CATCH_UP_PAGE}"
            ))?;
            for m in &page.messages {
                out.extend(self.ingest(m, acks)?);
            }
            let moved = self.state.peers.get(peer).map_or(0, |p| p.last_id) > after;
            // A short page is the end; a full page that moved nothing (a server answering
            // old or foreign messages) must not loop for ever.
            if page.messages.len() < CATCH_UP_PAGE || !moved {
                break;
            }
        }
        self.caught_up.insert(peer.to_owned());
        Ok(out)
    }
}

fn blocked(username: &str) -> anyhow::Error {
    Exit::new(
        exit::BLOCKED,
        format!(
            "Not sent: {username}'s security key changed. Look at the safety number and accept the new key first."
        ),
    )
    .into()
}

/// Words for a send that failed (outbox.js `sendErrorText`), with its exit code.
fn send_error(e: &ConversationError, api: Option<ApiError>, username: &str) -> anyhow::Error {
    match e {
        ConversationError::Protocol(ProtocolError::KeyChangeUnconfirmed) => blocked(username),
        ConversationError::Protocol(ProtocolError::NoPeerKey) => Exit::new(
            exit::FAILURE,
            format!(
                "{username} has not set up encryption yet (they need to sign in to Parley once)."
            ),
        )
        .into(),
        ConversationError::Protocol(ProtocolError::TooLong) => Exit::new(
            exit::USAGE,
            format!(
                "This message is too long (at most about {} KB of text).",
                parley_protocol::MAX_PLAINTEXT_BYTES / 1024
            ),
        )
        .into(),
        ConversationError::Protocol(p) => anyhow!("Could not encrypt the message ({}).", p.code()),
        ConversationError::Post(p) => match api {
            Some(api @ ApiError::Network(_)) => {
                anyhow::Error::new(api).context("Not sent: no connection to the server")
            }
            Some(api) => {
                let msg = format!("Not sent: {api}");
                anyhow::Error::new(api).context(msg)
            }
            None => anyhow!("Not sent ({}).", p.code),
        },
    }
}

/// An error as the event scripts and the UI show.
pub fn error_event(e: &anyhow::Error) -> ChatEvent {
    let code = e
        .chain()
        .find_map(|c| {
            c.downcast_ref::<ApiError>()
                .and_then(|a| a.code().map(str::to_owned))
        })
        .unwrap_or_else(|| match exit::code_of(e) {
            exit::BLOCKED => "blocked".to_owned(),
            exit::NOT_FOUND => "not_found".to_owned(),
            exit::SIGN_IN_NEEDED => "sign_in_needed".to_owned(),
            exit::NETWORK => "network".to_owned(),
            exit::USAGE => "usage".to_owned(),
            exit::LOCAL_STATE => "local_state".to_owned(),
            _ => "failed".to_owned(),
        });
    ChatEvent::Error {
        code,
        message: format!("{e:#}"),
    }
}
