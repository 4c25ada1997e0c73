//! The chat's state and its key handling, with no terminal: the conversations list, one
//! timeline per open conversation, the compose box, the dialogs (new chat, safety number, help)
//! and the status line. Everything the engine reports arrives as [`ChatEvent`]s through
//! [`App::apply`]; every action goes through the [`Backend`] trait. `view.rs` draws this state.

use std::collections::HashMap;
use std::time::Duration;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::backend::Backend;
use crate::events::{ChatEvent, Connection, ConversationSummary, Status};

/// Messages asked for per history page (PgUp at the top loads one more).
pub const PAGE: usize = 50;

/// Where the keys go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    /// The conversations list: Up/Down choose, Enter/Tab go to the compose box.
    List,
    /// The compose box of the open conversation.
    Compose,
}

/// A window over the screen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dialog {
    /// Ctrl-N: start a chat by exact username; `error` is the server's answer.
    NewChat {
        input: String,
        error: Option<String>,
    },
    /// Ctrl-S: the safety number with the open conversation's contact.
    Safety {
        peer: String,
        number: Result<String, String>,
    },
    /// `?` / F1.
    Help,
}

/// One line of a timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Message {
        id: i64,
        mine: bool,
        text: String,
        created_at: i64,
        status: Status,
    },
    /// "Secure session started" (an accepted key exchange).
    SessionStarted { by_me: bool, created_at: i64 },
    /// "Keys changed".
    KeysChanged { by_me: bool, created_at: i64 },
    /// The contact's identity key changed (X3).
    KeyWarning { verified: bool },
    /// E5: this client lost the keys of earlier messages.
    LocalKeysLost,
    /// A message that cannot be shown, and why.
    Undecryptable { id: i64, reason: String },
    /// The contact deleted their account.
    PeerDeleted,
}

impl Entry {
    fn id(&self) -> Option<i64> {
        match self {
            Entry::Message { id, .. } | Entry::Undecryptable { id, .. } => Some(*id),
            _ => None,
        }
    }
}

/// One conversation's loaded history and live events, in order.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// Sorted by key: (message id, or the id before a notice; arrival order).
    pub entries: Vec<((i64, u64), Entry)>,
    /// The first page was asked for.
    pub loaded: bool,
    /// Older history may exist (`before = oldest`).
    pub has_older: bool,
    /// The oldest message id loaded through history pages (live messages from the backlog may
    /// be older: they wait behind a marker until the history reaches them, as in timeline.js).
    pub oldest: Option<i64>,
    /// Lines scrolled up from the bottom.
    pub scroll: usize,
    /// The newest incoming id a read receipt was sent for.
    pub read_up_to: i64,
    /// Lines at the last draw, and whether lines were added above since (an older page): a
    /// view scrolled up stays on the same lines when new ones arrive below.
    pub drawn_lines: usize,
    pub grew_above: bool,
    /// The first message that was unread when the conversation was opened ("N new messages").
    pub unread_from: Option<i64>,
    seq: u64,
}

impl Timeline {
    fn newest_id(&self) -> i64 {
        self.entries
            .iter()
            .rev()
            .find_map(|(_, e)| e.id())
            .unwrap_or(0)
    }

    fn newest_incoming(&self) -> Option<i64> {
        self.entries.iter().rev().find_map(|(_, e)| match e {
            Entry::Message {
                id, mine: false, ..
            } => Some(*id),
            _ => None,
        })
    }

    /// Puts `entry` in place; a message already there gets the better of the two ticks.
    fn insert(&mut self, entry: Entry, after: Option<i64>) {
        if let Some(id) = entry.id() {
            if let Some((_, old)) = self.entries.iter_mut().find(|(_, e)| e.id() == Some(id)) {
                if let (Entry::Message { status: old_s, .. }, Entry::Message { status, .. }) =
                    (&mut *old, &entry)
                {
                    let better = rank(*status) > rank(*old_s);
                    let new_status = if better { *status } else { *old_s };
                    *old = entry.clone();
                    if let Entry::Message { status, .. } = old {
                        *status = new_status;
                    }
                } else {
                    *old = entry;
                }
                // A message that could not be read before (its key exchange came later, e.g.
                // in the backlog) and now can: the E5 notice stays only while some message
                // under lost keys remains.
                if !self.entries.iter().any(
                    |(_, e)| matches!(e, Entry::Undecryptable { reason, .. } if is_lost(reason)),
                ) {
                    self.entries.retain(|(_, e)| *e != Entry::LocalKeysLost);
                }
                return;
            }
        } else if self.entries.iter().any(|(_, e)| *e == entry) {
            return;
        }
        self.seq += 1;
        let key = (
            entry.id().or(after).unwrap_or_else(|| self.newest_id()),
            self.seq,
        );
        let at = self.entries.partition_point(|(k, _)| *k <= key);
        self.entries.insert(at, (key, entry));
    }
}

/// Reasons that mean "this client does not have the keys" (E5, timeline.js `LOST`).
pub fn is_lost(reason: &str) -> bool {
    matches!(reason, "unknown_key_set" | "not_my_key")
}

fn rank(s: Status) -> u8 {
    match s {
        Status::Sent => 0,
        Status::Delivered => 1,
        Status::Read => 2,
    }
}

/// A line under the screen: what just happened or went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
}

/// The whole chat.
#[derive(Debug)]
pub struct App {
    pub me: String,
    pub conversations: Vec<ConversationSummary>,
    /// The chosen conversation (also the open one), an index into `conversations`.
    pub selected: Option<usize>,
    pub focus: Focus,
    pub timelines: HashMap<String, Timeline>,
    pub compose: String,
    /// The compose box's cursor, in chars.
    pub cursor: usize,
    pub dialog: Option<Dialog>,
    /// None until the engine says (shown as "Connecting…").
    pub connection: Option<Connection>,
    pub notice: Option<Notice>,
    pub quit: bool,
    /// The timeline's height and total lines at the last draw (for paging).
    pub view_height: usize,
    pub view_lines: usize,
    /// Sending to the open conversation is held back (a verified contact's key changed).
    pub blocked: bool,
    /// Unsent text of the conversations not open (text, cursor), kept while moving around.
    pub drafts: HashMap<String, (String, usize)>,
}

impl App {
    /// A new chat for the backend's user, with its conversations list.
    pub fn new<B: Backend>(backend: &mut B) -> App {
        let mut app = App {
            me: backend.username().to_owned(),
            conversations: Vec::new(),
            selected: None,
            focus: Focus::List,
            timelines: HashMap::new(),
            compose: String::new(),
            cursor: 0,
            dialog: None,
            connection: None,
            notice: None,
            quit: false,
            view_height: 0,
            view_lines: 0,
            blocked: false,
            drafts: HashMap::new(),
        };
        app.reload_list(backend);
        if !app.conversations.is_empty() {
            app.select(backend, 0);
        }
        app.sync(backend);
        app
    }

    /// The open conversation.
    pub fn current(&self) -> Option<&ConversationSummary> {
        self.selected.and_then(|i| self.conversations.get(i))
    }

    fn current_peer(&self) -> Option<String> {
        self.current().map(|c| c.peer.clone())
    }

    fn peer_index(&self, peer: &str) -> Option<usize> {
        self.conversations.iter().position(|c| c.peer == peer)
    }

    pub fn username_of(&self, peer: &str) -> String {
        self.peer_index(peer)
            .and_then(|i| self.conversations.get(i))
            .map_or_else(|| peer.to_owned(), |c| c.peer_username.clone())
    }

    fn say(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice {
            text: text.into(),
            error: false,
        });
    }

    fn fail(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice {
            text: text.into(),
            error: true,
        });
    }

    /// Asks the backend for the list again, keeping the open conversation open.
    pub fn reload_list<B: Backend>(&mut self, backend: &mut B) {
        match backend.conversations() {
            Ok(list) => {
                let open = self.current_peer();
                let mut list = list;
                // Conversations started here but without a message yet stay in the list.
                for c in &self.conversations {
                    if !list.iter().any(|n| n.peer == c.peer) {
                        list.push(c.clone());
                    }
                }
                self.conversations = list;
                self.sort_list(open.as_deref());
                if let Some(peer) = open
                    && let Some(i) = self.peer_index(&peer)
                {
                    self.conversations[i].unread = 0;
                }
            }
            Err(e) => self.fail(format!("The conversations could not be loaded: {e:#}")),
        }
    }

    /// Newest activity first; `open` stays selected.
    fn sort_list(&mut self, open: Option<&str>) {
        self.conversations
            .sort_by_key(|c| std::cmp::Reverse(c.last_activity));
        self.selected = match open {
            Some(peer) => self.peer_index(peer),
            None => None,
        };
    }

    /// Opens conversation `i`: its first history page when not loaded yet, read receipts.
    pub fn select<B: Backend>(&mut self, backend: &mut B, i: usize) {
        let Some(conv) = self.conversations.get_mut(i) else {
            return;
        };
        let unread = usize::try_from(std::mem::take(&mut conv.unread)).unwrap_or(0);
        let peer = conv.peer.clone();
        let switching = self.selected != Some(i);
        if switching {
            // The "new messages" line belongs to one visit.
            if let Some(old) = self.current_peer()
                && let Some(tl) = self.timelines.get_mut(&old)
            {
                tl.unread_from = None;
            }
        }
        if switching {
            // The compose box's text stays with its conversation.
            let text = std::mem::take(&mut self.compose);
            let cursor = std::mem::replace(&mut self.cursor, 0);
            if let Some(old) = self.current_peer()
                && !text.is_empty()
            {
                self.drafts.insert(old, (text, cursor));
            }
            if let Some((text, cursor)) = self.drafts.remove(&peer) {
                self.compose = text;
                self.cursor = cursor;
            }
        }
        self.selected = Some(i);
        let loaded = self.timelines.get(&peer).is_some_and(|t| t.loaded);
        if !loaded {
            match backend.history(&peer, None, PAGE) {
                Ok(events) => {
                    let page_min = events.iter().filter_map(event_id).min();
                    let tl = self.timelines.entry(peer.clone()).or_default();
                    tl.loaded = true;
                    tl.has_older = page_min.is_some();
                    tl.oldest = page_min;
                    self.apply_page(backend, events, None);
                }
                Err(e) => self.fail(format!("The messages could not be loaded: {e:#}")),
            }
        }
        if let Some(tl) = self.timelines.get_mut(&peer) {
            tl.scroll = 0;
            if switching && unread > 0 {
                // The first of the `unread` newest messages from the contact.
                tl.unread_from = tl
                    .entries
                    .iter()
                    .rev()
                    .filter_map(|(_, e)| match e {
                        Entry::Message {
                            id, mine: false, ..
                        } => Some(*id),
                        _ => None,
                    })
                    .take(unread)
                    .last();
            }
        }
        self.send_read(backend, &peer);
    }

    /// A read receipt up to the newest incoming message of an open conversation.
    fn send_read<B: Backend>(&mut self, backend: &mut B, peer: &str) {
        let Some(tl) = self.timelines.get_mut(peer) else {
            return;
        };
        let Some(newest) = tl.newest_incoming() else {
            return;
        };
        if newest <= tl.read_up_to {
            return;
        }
        match backend.mark_read(peer, newest) {
            Ok(()) => tl.read_up_to = newest,
            Err(e) => self.fail(format!("Read receipt not sent: {e:#}")),
        }
    }

    /// Loads the page before the oldest loaded message.
    pub fn load_older<B: Backend>(&mut self, backend: &mut B) {
        let Some(peer) = self.current_peer() else {
            return;
        };
        let tl = self.timelines.entry(peer.clone()).or_default();
        if !tl.has_older {
            self.say("Beginning of the conversation");
            return;
        }
        let before = tl.oldest;
        match backend.history(&peer, before, PAGE) {
            Ok(events) => {
                let page_min = events
                    .iter()
                    .filter_map(event_id)
                    .filter(|id| before.is_none_or(|b| *id < b))
                    .min();
                if let Some(tl) = self.timelines.get_mut(&peer) {
                    tl.has_older = page_min.is_some();
                    if page_min.is_some() {
                        tl.oldest = page_min;
                    }
                    tl.grew_above = true;
                }
                self.apply_page(backend, events, before);
            }
            Err(e) => self.fail(format!("Older messages could not be loaded: {e:#}")),
        }
    }

    /// A history page (oldest first): a notice without an id goes after the message before
    /// it, or just before the page's first message.
    fn apply_page<B: Backend>(
        &mut self,
        backend: &mut B,
        events: Vec<ChatEvent>,
        before: Option<i64>,
    ) {
        let first = events.iter().find_map(event_id).or(before);
        let mut prev = first.map(|f| f - 1);
        for ev in events {
            let id = event_id(&ev);
            self.apply_at(backend, ev, false, prev);
            prev = id.or(prev);
        }
    }

    /// Drains the backend's live events; whether there were any.
    pub fn poll<B: Backend>(&mut self, backend: &mut B, timeout: Duration) -> bool {
        let events = backend.poll(timeout);
        if events.is_empty() {
            return false;
        }
        for ev in events {
            self.apply(backend, ev, true);
        }
        self.sync(backend);
        true
    }

    /// One event from the engine (`live`: it just happened, not history).
    pub fn apply<B: Backend>(&mut self, backend: &mut B, ev: ChatEvent, live: bool) {
        self.apply_at(backend, ev, live, None);
    }

    fn ensure_conv(&mut self, peer: &str, username: &str) -> usize {
        if let Some(i) = self.peer_index(peer) {
            return i;
        }
        self.conversations.push(ConversationSummary {
            peer: peer.to_owned(),
            peer_username: username.to_owned(),
            unread: 0,
            last_activity: 0,
            peer_deleted: false,
            verified: false,
            key_warning: false,
        });
        self.conversations.len() - 1
    }

    fn apply_at<B: Backend>(
        &mut self,
        backend: &mut B,
        ev: ChatEvent,
        live: bool,
        after: Option<i64>,
    ) {
        let open = self.current_peer();
        match ev {
            ChatEvent::Message {
                peer,
                peer_username,
                id,
                mine,
                text,
                created_at,
                status,
            } => {
                let i = self.ensure_conv(&peer, &peer_username);
                let is_open = open.as_deref() == Some(peer.as_str());
                let tl = self.timelines.entry(peer.clone()).or_default();
                let known = tl.entries.iter().any(|(_, e)| e.id() == Some(id));
                tl.insert(
                    Entry::Message {
                        id,
                        mine,
                        text,
                        created_at,
                        status,
                    },
                    after,
                );
                if live && !known {
                    let conv = &mut self.conversations[i];
                    conv.last_activity = conv.last_activity.max(created_at);
                    if !mine && !is_open {
                        conv.unread += 1;
                    }
                    // An own message goes to the bottom; someone else's keeps what the user
                    // scrolled to in place (view.rs follows the lines added below).
                    if mine && let Some(tl) = self.timelines.get_mut(&peer) {
                        tl.scroll = 0;
                    }
                    self.sort_list(open.as_deref());
                    if is_open && !mine {
                        self.send_read(backend, &peer);
                    }
                }
            }
            ChatEvent::Delivered { peer, id } => {
                if let Some(tl) = self.timelines.get_mut(&peer) {
                    for (_, e) in &mut tl.entries {
                        if let Entry::Message {
                            id: mid,
                            mine: true,
                            status,
                            ..
                        } = e
                            && *mid == id
                            && *status == Status::Sent
                        {
                            *status = Status::Delivered;
                        }
                    }
                }
            }
            ChatEvent::Read { peer, up_to } => {
                if let Some(tl) = self.timelines.get_mut(&peer) {
                    for (_, e) in &mut tl.entries {
                        if let Entry::Message {
                            id,
                            mine: true,
                            status,
                            ..
                        } = e
                            && *id <= up_to
                        {
                            *status = Status::Read;
                        }
                    }
                }
            }
            ChatEvent::SessionStarted {
                peer,
                peer_username,
                by_me,
                created_at,
            } => {
                self.ensure_conv(&peer, &peer_username);
                let tl = self.timelines.entry(peer).or_default();
                tl.insert(Entry::SessionStarted { by_me, created_at }, after);
            }
            ChatEvent::KeysChanged {
                peer,
                peer_username,
                by_me,
                created_at,
            } => {
                self.ensure_conv(&peer, &peer_username);
                let tl = self.timelines.entry(peer).or_default();
                tl.insert(Entry::KeysChanged { by_me, created_at }, after);
            }
            ChatEvent::PeerKeyChanged {
                peer,
                peer_username,
                verified,
            } => {
                let i = self.ensure_conv(&peer, &peer_username);
                self.conversations[i].key_warning = true;
                let tl = self.timelines.entry(peer).or_default();
                tl.insert(Entry::KeyWarning { verified }, after);
                tl.scroll = 0;
            }
            ChatEvent::LocalKeysLost {
                peer,
                peer_username,
            } => {
                self.ensure_conv(&peer, &peer_username);
                let tl = self.timelines.entry(peer).or_default();
                tl.insert(Entry::LocalKeysLost, after);
            }
            ChatEvent::Undecryptable { peer, id, reason } => {
                let tl = self.timelines.entry(peer).or_default();
                tl.insert(Entry::Undecryptable { id, reason }, after);
            }
            ChatEvent::PeerDeleted {
                peer,
                peer_username,
            } => {
                let i = self.ensure_conv(&peer, &peer_username);
                self.conversations[i].peer_deleted = true;
                let tl = self.timelines.entry(peer).or_default();
                tl.insert(Entry::PeerDeleted, after);
            }
            ChatEvent::Connection { state } => {
                let was = self.connection;
                self.connection = Some(state);
                if state == Connection::Connected && was.is_some_and(|w| w != Connection::Connected)
                {
                    self.reload_list(backend);
                }
            }
            ChatEvent::BacklogDone => self.reload_list(backend),
            ChatEvent::Error { code, message } => {
                if code.is_empty() {
                    self.fail(message);
                } else {
                    self.fail(format!("{message} ({code})"));
                }
            }
        }
    }

    /// A key press.
    pub fn on_key<B: Backend>(&mut self, backend: &mut B, key: KeyEvent) {
        self.key(backend, key);
        self.sync(backend);
    }

    fn key<B: Backend>(&mut self, backend: &mut B, key: KeyEvent) {
        if key.kind == KeyEventKind::Release {
            return;
        }
        // A notice stays until the next key.
        self.notice = None;
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        // Anywhere.
        match key.code {
            KeyCode::Char('q' | 'c') if ctrl => {
                self.quit = true;
                return;
            }
            KeyCode::F(1) => {
                self.dialog = Some(Dialog::Help);
                return;
            }
            _ => {}
        }
        if let Some(dialog) = self.dialog.take() {
            self.dialog = self.dialog_key(backend, dialog, key);
            return;
        }
        if ctrl {
            match key.code {
                KeyCode::Char('n') => {
                    self.dialog = Some(Dialog::NewChat {
                        input: String::new(),
                        error: None,
                    });
                    return;
                }
                KeyCode::Char('r') => {
                    self.refresh(backend);
                    return;
                }
                KeyCode::Char('s') => {
                    self.open_safety(backend);
                    return;
                }
                _ => {}
            }
        }
        match key.code {
            KeyCode::PageUp => return self.page_up(backend),
            KeyCode::PageDown => {
                let page = self.view_height.max(2) - 1;
                if let Some(tl) = self.current_timeline_mut() {
                    tl.scroll = tl.scroll.saturating_sub(page);
                }
                return;
            }
            _ => {}
        }
        match self.focus {
            Focus::List => self.list_key(backend, key),
            Focus::Compose => self.compose_key(backend, key),
        }
    }

    fn current_timeline_mut(&mut self) -> Option<&mut Timeline> {
        let peer = self.current_peer()?;
        self.timelines.get_mut(&peer)
    }

    /// PgUp: a page up; at the top, the older page (`before` = the oldest loaded id).
    fn page_up<B: Backend>(&mut self, backend: &mut B) {
        let page = self.view_height.max(2) - 1;
        let top = self.view_lines.saturating_sub(self.view_height);
        let Some(tl) = self.current_timeline_mut() else {
            return;
        };
        if tl.scroll >= top {
            self.load_older(backend);
        } else {
            tl.scroll = (tl.scroll + page).min(top);
        }
    }

    fn list_key<B: Backend>(&mut self, backend: &mut B, key: KeyEvent) {
        let n = self.conversations.len();
        match key.code {
            KeyCode::Up | KeyCode::Char('k') if n > 0 => {
                let i = self.selected.map_or(0, |i| i.saturating_sub(1));
                self.select(backend, i);
            }
            KeyCode::Down | KeyCode::Char('j') if n > 0 => {
                let i = self.selected.map_or(0, |i| (i + 1).min(n - 1));
                self.select(backend, i);
            }
            KeyCode::Home if n > 0 => self.select(backend, 0),
            KeyCode::End if n > 0 => self.select(backend, n - 1),
            KeyCode::Enter | KeyCode::Tab | KeyCode::Right if self.selected.is_some() => {
                self.focus = Focus::Compose;
            }
            KeyCode::Char('?') => self.dialog = Some(Dialog::Help),
            // No `a` here: a new key is accepted in the safety panel, with its digits on the
            // screen (as the browser's dialog).
            KeyCode::Char('q') => self.quit = true,
            _ => {}
        }
    }

    fn compose_key<B: Backend>(&mut self, backend: &mut B, key: KeyEvent) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let shift = key.modifiers.contains(KeyModifiers::SHIFT);
        match key.code {
            KeyCode::Enter if alt || shift || ctrl => self.insert('\n'),
            KeyCode::Char('j') if ctrl => self.insert('\n'),
            KeyCode::Enter => self.send(backend),
            KeyCode::Tab | KeyCode::Esc | KeyCode::BackTab => self.focus = Focus::List,
            KeyCode::Char('u') if ctrl => {
                self.compose.clear();
                self.cursor = 0;
            }
            KeyCode::Char('w') if ctrl => {
                // Delete the word before the cursor (and the spaces after it).
                let chars: Vec<char> = self.compose.chars().collect();
                let mut start = self.cursor;
                while start > 0 && chars[start - 1].is_whitespace() {
                    start -= 1;
                }
                while start > 0 && !chars[start - 1].is_whitespace() {
                    start -= 1;
                }
                let (a, b) = (
                    byte_at(&self.compose, start),
                    byte_at(&self.compose, self.cursor),
                );
                self.compose.replace_range(a..b, "");
                self.cursor = start;
            }
            KeyCode::Char('a') if ctrl => self.cursor = 0,
            KeyCode::Char('e') if ctrl => self.cursor = self.compose.chars().count(),
            KeyCode::Char(c) if !ctrl => self.insert(c),
            KeyCode::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                let at = byte_at(&self.compose, self.cursor);
                self.compose.remove(at);
            }
            KeyCode::Delete if self.cursor < self.compose.chars().count() => {
                let at = byte_at(&self.compose, self.cursor);
                self.compose.remove(at);
            }
            KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Right => self.cursor = (self.cursor + 1).min(self.compose.chars().count()),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = self.compose.chars().count(),
            KeyCode::Up => {
                let top = self.view_lines.saturating_sub(self.view_height);
                if let Some(tl) = self.current_timeline_mut() {
                    tl.scroll = (tl.scroll + 1).min(top);
                }
            }
            KeyCode::Down => {
                if let Some(tl) = self.current_timeline_mut() {
                    tl.scroll = tl.scroll.saturating_sub(1);
                }
            }
            _ => {}
        }
    }

    /// Pasted text (bracketed paste): into the new-chat field, or into the compose box as is,
    /// line breaks included (never sent by its newlines).
    pub fn paste(&mut self, text: &str) {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        match &mut self.dialog {
            Some(Dialog::NewChat { input, error }) => {
                input.push_str(text.trim());
                *error = None;
            }
            Some(_) => {}
            None => {
                if self.selected.is_none() {
                    return;
                }
                self.focus = Focus::Compose;
                for c in text.chars() {
                    self.insert(c);
                }
            }
        }
    }

    fn insert(&mut self, c: char) {
        let at = byte_at(&self.compose, self.cursor);
        self.compose.insert(at, c);
        self.cursor += 1;
    }

    /// Enter: send the compose box to the open conversation.
    fn send<B: Backend>(&mut self, backend: &mut B) {
        let Some(conv) = self.current().cloned() else {
            return;
        };
        if self.compose.trim().is_empty() {
            return;
        }
        if conv.peer_deleted {
            self.fail(format!(
                "{} deleted their account: sending is off.",
                conv.peer_username
            ));
            return;
        }
        if backend.send_blocked(&conv.peer) {
            self.fail(blocked_text(&conv.peer_username));
            return;
        }
        let text = self.compose.clone();
        match backend.send(&conv.peer, &text) {
            Ok(events) => {
                self.compose.clear();
                self.cursor = 0;
                self.notice = None;
                for ev in events {
                    self.apply(backend, ev, true);
                }
                if let Some(tl) = self.timelines.get_mut(&conv.peer) {
                    tl.scroll = 0;
                }
            }
            Err(e) => {
                if crate::exit::code_of(&e) == crate::exit::BLOCKED {
                    self.fail(blocked_text(&conv.peer_username));
                } else {
                    self.fail(format!("Not sent: {e:#}"));
                }
            }
        }
    }

    /// Ctrl-R: Refresh keys (E6).
    fn refresh<B: Backend>(&mut self, backend: &mut B) {
        let Some(conv) = self.current().cloned() else {
            self.fail("Open a conversation first.");
            return;
        };
        // As the browser's Refresh button: off for a deleted account and while sending is held
        // back.
        if conv.peer_deleted {
            self.fail(format!(
                "{} deleted their account: there are no keys to refresh.",
                conv.peer_username
            ));
            return;
        }
        if backend.send_blocked(&conv.peer) {
            self.fail(blocked_text(&conv.peer_username));
            return;
        }
        match backend.refresh_keys(&conv.peer) {
            Ok(events) => {
                for ev in events {
                    self.apply(backend, ev, true);
                }
                if let Some(tl) = self.timelines.get_mut(&conv.peer) {
                    tl.scroll = 0;
                }
                self.say(format!("Keys refreshed for {}.", conv.peer_username));
            }
            Err(e) => self.fail(format!("The keys could not be refreshed: {e:#}")),
        }
    }

    /// Ctrl-S: the safety-number panel.
    fn open_safety<B: Backend>(&mut self, backend: &mut B) {
        let Some(peer) = self.current_peer() else {
            self.fail("Open a conversation first.");
            return;
        };
        let number = backend.safety_number(&peer).map_err(|e| format!("{e:#}"));
        self.dialog = Some(Dialog::Safety { peer, number });
    }

    fn accept_key<B: Backend>(&mut self, backend: &mut B) {
        let Some(i) = self.selected else {
            return;
        };
        let Some(conv) = self.conversations.get(i).cloned() else {
            return;
        };
        if !conv.key_warning {
            return;
        }
        match backend.accept_key(&conv.peer) {
            Ok(()) => {
                self.conversations[i].key_warning = false;
                self.conversations[i].verified = backend.is_verified(&conv.peer);
                self.say(format!("You accepted {}'s new key.", conv.peer_username));
            }
            Err(e) => self.fail(format!("The key could not be accepted: {e:#}")),
        }
    }

    fn dialog_key<B: Backend>(
        &mut self,
        backend: &mut B,
        dialog: Dialog,
        key: KeyEvent,
    ) -> Option<Dialog> {
        match dialog {
            Dialog::Help => match key.code {
                KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q' | '?') => None,
                _ => Some(Dialog::Help),
            },
            Dialog::Safety { peer, number } => match key.code {
                KeyCode::Char('v') if number.is_ok() => {
                    match backend.mark_verified(&peer) {
                        Ok(()) => {
                            if let Some(i) = self.peer_index(&peer) {
                                self.conversations[i].verified = true;
                                self.conversations[i].key_warning = false;
                            }
                            let name = self.username_of(&peer);
                            self.say(format!("You verified {name}'s current key."));
                        }
                        Err(e) => self.fail(format!("Not marked as verified: {e:#}")),
                    }
                    Some(Dialog::Safety { peer, number })
                }
                KeyCode::Char('a') if number.is_ok() => {
                    self.accept_key(backend);
                    Some(Dialog::Safety { peer, number })
                }
                KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => None,
                _ => Some(Dialog::Safety { peer, number }),
            },
            Dialog::NewChat { mut input, error } => match key.code {
                KeyCode::Esc => None,
                KeyCode::Enter => {
                    let name = input.trim().to_owned();
                    if name.is_empty() {
                        return Some(Dialog::NewChat { input, error });
                    }
                    match backend.start_chat(&name) {
                        Ok(peer) => {
                            let i = self.ensure_conv(&peer, &name);
                            self.conversations[i].verified = backend.is_verified(&peer);
                            self.select(backend, i);
                            self.focus = Focus::Compose;
                            None
                        }
                        Err(e) => Some(Dialog::NewChat {
                            input,
                            error: Some(format!("{e:#}")),
                        }),
                    }
                }
                KeyCode::Backspace => {
                    input.pop();
                    Some(Dialog::NewChat { input, error })
                }
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                    input.push(c);
                    Some(Dialog::NewChat { input, error: None })
                }
                _ => Some(Dialog::NewChat { input, error }),
            },
        }
    }

    /// Takes the verified marks and the open conversation's held-back state from the backend
    /// (local state: no request).
    pub fn sync<B: Backend>(&mut self, backend: &B) {
        for conv in &mut self.conversations {
            conv.verified = backend.is_verified(&conv.peer);
        }
        self.blocked = self
            .current()
            .is_some_and(|c| backend.send_blocked(&c.peer));
    }
}

/// What a blocked send says (web/chat/conversation-view.js).
pub fn blocked_text(username: &str) -> String {
    format!(
        "Sending is paused: {username}'s security key changed since you verified it. \
         Ctrl-S to compare safety numbers, then a to accept the new key."
    )
}

fn event_id(ev: &ChatEvent) -> Option<i64> {
    match ev {
        ChatEvent::Message { id, .. } | ChatEvent::Undecryptable { id, .. } => Some(*id),
        _ => None,
    }
}

/// The byte offset of char `n` of `s`.
fn byte_at(s: &str, n: usize) -> usize {
    s.char_indices().nth(n).map_or(s.len(), |(i, _)| i)
}
