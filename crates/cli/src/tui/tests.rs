//! The chat without a terminal or an engine: an in-memory [`Backend`] and ratatui's
//! `TestBackend`; each screen drawn and read back as text, each key's effect on the backend.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use anyhow::Result;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use unicode_width::UnicodeWidthStr;

use super::app::{App, Dialog, Focus, PAGE};
use super::backend::Backend;
use super::view;
use crate::events::{ChatEvent, Connection, ConversationSummary, Status};
use crate::exit::{self, Exit};

/// What the fake was asked, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    History(String, Option<i64>, usize),
    Send(String, String),
    Refresh(String),
    MarkRead(String, i64),
    MarkVerified(String),
    AcceptKey(String),
    StartChat(String),
}

#[derive(Default)]
struct Fake {
    me: String,
    list: Vec<ConversationSummary>,
    users: HashMap<String, String>,
    /// Every message per peer, oldest first.
    messages: HashMap<String, Vec<ChatEvent>>,
    live: VecDeque<ChatEvent>,
    verified: HashSet<String>,
    blocked: HashSet<String>,
    calls: Vec<Call>,
    next_id: i64,
}

fn msg(peer: &str, name: &str, id: i64, mine: bool, text: &str, status: Status) -> ChatEvent {
    ChatEvent::Message {
        peer: peer.into(),
        peer_username: name.into(),
        id,
        mine,
        text: text.into(),
        created_at: 1_700_000_000 + id * 60,
        status,
    }
}

fn conv(peer: &str, name: &str, unread: i64, at: i64) -> ConversationSummary {
    ConversationSummary {
        peer: peer.into(),
        peer_username: name.into(),
        unread,
        last_activity: at,
        peer_deleted: false,
        verified: false,
        key_warning: false,
    }
}

impl Fake {
    fn new() -> Fake {
        let mut f = Fake {
            me: "alice".into(),
            next_id: 1000,
            ..Fake::default()
        };
        f.list = vec![
            conv("u-bob", "bob", 0, 300),
            conv("u-carol", "carol", 3, 200),
            conv("u-dave", "dave", 0, 100),
        ];
        f.list[2].peer_deleted = true;
        f.users.insert("bob".into(), "u-bob".into());
        f.users.insert("carol".into(), "u-carol".into());
        f.users.insert("erin".into(), "u-erin".into());
        f.messages.insert(
            "u-bob".into(),
            vec![
                msg("u-bob", "bob", 10, false, "Hi Alice! 👋", Status::Sent),
                msg("u-bob", "bob", 11, true, "Hello Bob", Status::Read),
                msg(
                    "u-bob",
                    "bob",
                    12,
                    true,
                    "Second line test",
                    Status::Delivered,
                ),
                msg("u-bob", "bob", 13, true, "Are you there?", Status::Sent),
            ],
        );
        f
    }
}

impl Backend for Fake {
    fn username(&self) -> &str {
        &self.me
    }
    fn conversations(&mut self) -> Result<Vec<ConversationSummary>> {
        Ok(self.list.clone())
    }
    fn start_chat(&mut self, username: &str) -> Result<String> {
        self.calls.push(Call::StartChat(username.into()));
        self.users
            .get(username)
            .cloned()
            .ok_or_else(|| Exit::new(exit::NOT_FOUND, format!("no user named {username}")).into())
    }
    fn history(&mut self, peer: &str, before: Option<i64>, limit: usize) -> Result<Vec<ChatEvent>> {
        self.calls.push(Call::History(peer.into(), before, limit));
        let all = self.messages.get(peer).cloned().unwrap_or_default();
        let older: Vec<ChatEvent> = all
            .into_iter()
            .filter(|e| match (e, before) {
                (ChatEvent::Message { id, .. }, Some(b)) => *id < b,
                _ => true,
            })
            .collect();
        let skip = older.len().saturating_sub(limit);
        Ok(older.into_iter().skip(skip).collect())
    }
    fn send(&mut self, peer: &str, text: &str) -> Result<Vec<ChatEvent>> {
        self.calls.push(Call::Send(peer.into(), text.into()));
        if self.blocked.contains(peer) {
            return Err(Exit::new(exit::BLOCKED, "held back").into());
        }
        self.next_id += 1;
        let name = self
            .list
            .iter()
            .find(|c| c.peer == peer)
            .map_or("?".to_owned(), |c| c.peer_username.clone());
        Ok(vec![msg(
            peer,
            &name,
            self.next_id,
            true,
            text,
            Status::Sent,
        )])
    }
    fn refresh_keys(&mut self, peer: &str) -> Result<Vec<ChatEvent>> {
        self.calls.push(Call::Refresh(peer.into()));
        Ok(vec![ChatEvent::KeysChanged {
            peer: peer.into(),
            peer_username: "bob".into(),
            by_me: true,
            created_at: 1_700_001_000,
        }])
    }
    fn safety_number(&mut self, peer: &str) -> Result<String> {
        if peer == "u-erin" {
            return Err(Exit::new(
                exit::NOT_FOUND,
                "erin has not published a key yet: there is nothing to compare.",
            )
            .into());
        }
        Ok("12345 67890 11111 22222 33333 44444 55555 66666 77777 88888 99999 00000".into())
    }
    fn mark_verified(&mut self, peer: &str) -> Result<()> {
        self.calls.push(Call::MarkVerified(peer.into()));
        self.verified.insert(peer.into());
        self.blocked.remove(peer);
        Ok(())
    }
    fn accept_key(&mut self, peer: &str) -> Result<()> {
        self.calls.push(Call::AcceptKey(peer.into()));
        self.blocked.remove(peer);
        Ok(())
    }
    fn is_verified(&self, peer: &str) -> bool {
        self.verified.contains(peer)
    }
    fn send_blocked(&self, peer: &str) -> bool {
        self.blocked.contains(peer)
    }
    fn mark_read(&mut self, peer: &str, up_to: i64) -> Result<()> {
        self.calls.push(Call::MarkRead(peer.into(), up_to));
        Ok(())
    }
    fn poll(&mut self, _timeout: Duration) -> Vec<ChatEvent> {
        for ev in &self.live {
            // The verified key is no longer the contact's key.
            if let ChatEvent::PeerKeyChanged { peer, .. } = ev {
                self.verified.remove(peer);
            }
        }
        self.live.drain(..).collect()
    }
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn typed(app: &mut App, fake: &mut Fake, text: &str) {
    for c in text.chars() {
        app.on_key(fake, key(KeyCode::Char(c)));
    }
}

/// The screen as text, one line per row (wide characters once).
fn screen(app: &mut App, w: u16, h: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    terminal.draw(|f| view::draw(f, app)).expect("draw");
    let buf = terminal.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut skip = 0;
        for x in 0..buf.area.width {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = buf[(x, y)].symbol();
            skip = UnicodeWidthStr::width(sym).saturating_sub(1);
            out.push_str(sym);
        }
        out.push('\n');
    }
    out
}

fn start() -> (App, Fake) {
    let mut fake = Fake::new();
    let mut app = App::new(&mut fake);
    app.apply(
        &mut fake,
        ChatEvent::Connection {
            state: Connection::Connected,
        },
        true,
    );
    (app, fake)
}

#[test]
fn list_shows_unread_counts_marks_and_deleted_peers() {
    let (mut app, mut fake) = start();
    fake.verified.insert("u-bob".into());
    app.sync(&fake);
    let s = screen(&mut app, 100, 24);
    assert!(s.contains("Chats"), "{s}");
    assert!(s.contains("bob ✓"), "verified mark: {s}");
    assert!(s.contains("carol (3)"), "unread count: {s}");
    assert!(s.contains("dave (deleted)"), "deleted peer: {s}");
    assert!(s.contains("● Connected"), "{s}");
    assert!(s.contains("alice"), "signed-in user: {s}");
    assert!(s.contains("Ctrl-N new chat"), "{s}");
    // A contact's key change marks the row.
    app.apply(
        &mut fake,
        ChatEvent::PeerKeyChanged {
            peer: "u-carol".into(),
            peer_username: "carol".into(),
            verified: false,
        },
        true,
    );
    let s = screen(&mut app, 100, 24);
    assert!(s.contains("carol ⚠ (3)"), "{s}");
}

#[test]
fn conversation_shows_ticks_wrapping_and_system_lines() {
    let (mut app, mut fake) = start();
    // bob's conversation is open (the newest); its history was loaded and read.
    assert_eq!(
        fake.calls[0],
        super::tests::Call::History("u-bob".into(), None, PAGE)
    );
    assert!(fake.calls.contains(&Call::MarkRead("u-bob".into(), 10)));
    for ev in [
        ChatEvent::KeysChanged {
            peer: "u-bob".into(),
            peer_username: "bob".into(),
            by_me: false,
            created_at: 1_700_000_900,
        },
        ChatEvent::Undecryptable {
            peer: "u-bob".into(),
            id: 20,
            reason: "replay".into(),
        },
        ChatEvent::LocalKeysLost {
            peer: "u-bob".into(),
            peer_username: "bob".into(),
        },
        msg(
            "u-bob",
            "bob",
            21,
            false,
            "Привет, 世界! A long line that must wrap inside the conversation pane because it is longer than the pane\nand a second line",
            Status::Sent,
        ),
    ] {
        fake.live.push_back(ev);
    }
    app.poll(&mut fake, Duration::ZERO);
    let s = screen(&mut app, 100, 40);
    assert!(s.contains("Hi Alice! 👋"), "{s}");
    assert!(s.contains("You ✓✓ Read"), "{s}");
    assert!(s.contains("You ✓✓ Delivered"), "{s}");
    assert!(s.contains("You ✓ Sent"), "{s}");
    assert!(s.contains("Keys changed"), "{s}");
    assert!(s.contains("Rejected replay — not shown (replay)"), "{s}");
    assert!(
        s.contains("no longer has the keys for earlier messages"),
        "{s}"
    );
    assert!(s.contains("Привет, 世界!"), "{s}");
    assert!(s.contains("and a second line"), "multi-line: {s}");
    // The incoming live message was marked read at once (the conversation is open).
    assert!(fake.calls.contains(&Call::MarkRead("u-bob".into(), 21)));
    // Ticks move: delivered, then read.
    fake.live.push_back(ChatEvent::Delivered {
        peer: "u-bob".into(),
        id: 13,
    });
    app.poll(&mut fake, Duration::ZERO);
    let s = screen(&mut app, 100, 40);
    assert!(!s.contains("✓ Sent"), "{s}");
    fake.live.push_back(ChatEvent::Read {
        peer: "u-bob".into(),
        up_to: 13,
    });
    app.poll(&mut fake, Duration::ZERO);
    let s = screen(&mut app, 100, 40);
    assert_eq!(s.matches("✓✓ Read").count(), 3, "{s}");
    // A peer deletion.
    fake.live.push_back(ChatEvent::PeerDeleted {
        peer: "u-bob".into(),
        peer_username: "bob".into(),
    });
    app.poll(&mut fake, Duration::ZERO);
    let s = screen(&mut app, 100, 40);
    assert!(s.contains("bob deleted their account"), "{s}");
}

#[test]
fn message_to_a_closed_conversation_counts_unread() {
    let (mut app, mut fake) = start();
    fake.live
        .push_back(msg("u-dave", "dave", 50, false, "psst", Status::Sent));
    fake.live
        .push_back(msg("u-zed", "zed", 51, false, "new here", Status::Sent));
    app.poll(&mut fake, Duration::ZERO);
    let s = screen(&mut app, 100, 24);
    assert!(s.contains("zed (1)"), "{s}");
    assert!(!fake.calls.contains(&Call::MarkRead("u-zed".into(), 51)));
    // bob stays open.
    assert_eq!(app.current().map(|c| c.peer_username.as_str()), Some("bob"));
}

#[test]
fn typing_and_enter_send_through_the_backend() {
    let (mut app, mut fake) = start();
    app.on_key(&mut fake, key(KeyCode::Enter));
    assert_eq!(app.focus, Focus::Compose);
    typed(&mut app, &mut fake, "Hello 🌍");
    app.on_key(&mut fake, KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT));
    typed(&mut app, &mut fake, "line two");
    app.on_key(&mut fake, ctrl('j'));
    typed(&mut app, &mut fake, "three");
    app.on_key(&mut fake, key(KeyCode::Backspace));
    assert_eq!(app.compose, "Hello 🌍\nline two\nthre");
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("line two"), "compose box shows the lines: {s}");
    app.on_key(&mut fake, key(KeyCode::Enter));
    assert!(
        fake.calls.contains(&Call::Send(
            "u-bob".into(),
            "Hello 🌍\nline two\nthre".into()
        )),
        "{:?}",
        fake.calls
    );
    assert_eq!(app.compose, "");
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("Hello 🌍"), "{s}");
    assert!(s.contains("thre"), "{s}");
    // Blank messages are not sent.
    let sends = fake.calls.len();
    typed(&mut app, &mut fake, "   ");
    app.on_key(&mut fake, key(KeyCode::Enter));
    assert_eq!(fake.calls.len(), sends);
}

#[test]
fn ctrl_r_refreshes_keys() {
    let (mut app, mut fake) = start();
    app.on_key(&mut fake, ctrl('r'));
    assert!(fake.calls.contains(&Call::Refresh("u-bob".into())));
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("Keys changed — You"), "{s}");
    assert!(s.contains("Keys refreshed for bob."), "{s}");
}

#[test]
fn pgup_pages_history_before_the_oldest_id() {
    let mut fake = Fake::new();
    let many: Vec<ChatEvent> = (1..=120)
        .map(|id| {
            msg(
                "u-bob",
                "bob",
                id,
                id % 2 == 0,
                &format!("message {id}"),
                Status::Read,
            )
        })
        .collect();
    fake.messages.insert("u-bob".into(), many);
    let mut app = App::new(&mut fake);
    assert_eq!(fake.calls[0], Call::History("u-bob".into(), None, PAGE));
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("message 120"), "{s}");
    // Page up until the top of what is loaded, then one more loads older.
    for _ in 0..200 {
        app.on_key(&mut fake, key(KeyCode::PageUp));
        screen(&mut app, 100, 30);
        if fake.calls.len() > 2 {
            break;
        }
    }
    assert!(
        fake.calls
            .contains(&Call::History("u-bob".into(), Some(71), PAGE)),
        "{:?}",
        fake.calls
    );
    for _ in 0..400 {
        app.on_key(&mut fake, key(KeyCode::PageUp));
        screen(&mut app, 100, 30);
    }
    assert!(
        fake.calls
            .contains(&Call::History("u-bob".into(), Some(21), PAGE))
    );
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("Beginning of the conversation"), "{s}");
    assert!(s.contains("  message 1 "), "{s}");
    assert!(s.contains("Beginning of the conversation"), "{s}");
}

#[test]
fn safety_panel_shows_the_number_and_v_marks_verified() {
    let (mut app, mut fake) = start();
    app.on_key(&mut fake, ctrl('s'));
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("Safety number with bob"), "{s}");
    assert!(s.contains("12345  67890  11111  22222"), "{s}");
    assert!(s.contains("99999  00000"), "{s}");
    assert!(s.contains("Not verified"), "{s}");
    app.on_key(&mut fake, key(KeyCode::Char('v')));
    assert!(fake.calls.contains(&Call::MarkVerified("u-bob".into())));
    let s = screen(&mut app, 100, 30);
    assert!(
        s.contains("✓ Verified You verified bob's current key."),
        "{s}"
    );
    app.on_key(&mut fake, key(KeyCode::Esc));
    assert_eq!(app.dialog, None);
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("bob ✓"), "{s}");
}

#[test]
fn key_warning_banner_blocks_send_until_accepted() {
    let (mut app, mut fake) = start();
    fake.verified.insert("u-bob".into());
    fake.blocked.insert("u-bob".into());
    fake.live.push_back(ChatEvent::PeerKeyChanged {
        peer: "u-bob".into(),
        peer_username: "bob".into(),
        verified: true,
    });
    app.poll(&mut fake, Duration::ZERO);
    let s = screen(&mut app, 120, 30);
    assert!(
        s.contains("bob's security key changed since you verified it. Sending is paused"),
        "{s}"
    );
    assert!(s.contains("⚠ Key changed"), "{s}");
    assert!(s.contains("accepts the new key"), "{s}");
    // `a` in the list does not accept the key: only the safety panel does, digits shown.
    app.on_key(&mut fake, key(KeyCode::Char('a')));
    assert!(!fake.calls.contains(&Call::AcceptKey("u-bob".into())));
    // Enter does not send; it says why.
    app.on_key(&mut fake, key(KeyCode::Tab));
    typed(&mut app, &mut fake, "hi");
    app.on_key(&mut fake, key(KeyCode::Enter));
    assert!(!fake.calls.iter().any(|c| matches!(c, Call::Send(..))));
    assert_eq!(app.compose, "hi", "the text is kept");
    let s = screen(&mut app, 120, 30);
    assert!(
        s.contains("Sending is paused: bob's security key changed since you verified it"),
        "{s}"
    );
    // The safety panel: `a` accepts.
    app.on_key(&mut fake, ctrl('s'));
    let s = screen(&mut app, 120, 30);
    assert!(s.contains("These digits are"), "{s}");
    assert!(s.contains("Not verified"), "{s}");
    app.on_key(&mut fake, key(KeyCode::Char('a')));
    app.on_key(&mut fake, key(KeyCode::Esc));
    assert!(fake.calls.contains(&Call::AcceptKey("u-bob".into())));
    let s = screen(&mut app, 120, 30);
    assert!(!s.contains("Sending is paused until"), "{s}");
    app.on_key(&mut fake, key(KeyCode::Enter));
    assert!(
        fake.calls
            .contains(&Call::Send("u-bob".into(), "hi".into()))
    );
}

#[test]
fn new_chat_dialog_shows_no_such_user_then_opens_the_chat() {
    let (mut app, mut fake) = start();
    app.on_key(&mut fake, ctrl('n'));
    typed(&mut app, &mut fake, "mallory");
    app.on_key(&mut fake, key(KeyCode::Enter));
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("Start a chat"), "{s}");
    assert!(s.contains("no user named mallory"), "{s}");
    for _ in 0.."mallory".len() {
        app.on_key(&mut fake, key(KeyCode::Backspace));
    }
    typed(&mut app, &mut fake, "erin");
    app.on_key(&mut fake, key(KeyCode::Enter));
    assert!(app.dialog.is_none());
    assert_eq!(app.focus, Focus::Compose);
    assert_eq!(app.current().map(|c| c.peer.as_str()), Some("u-erin"));
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("No messages yet"), "{s}");
    assert!(s.contains("Message erin"), "{s}");
    typed(&mut app, &mut fake, "hey");
    app.on_key(&mut fake, key(KeyCode::Enter));
    assert!(
        fake.calls
            .contains(&Call::Send("u-erin".into(), "hey".into()))
    );
}

#[test]
fn help_and_quit_keys() {
    let (mut app, mut fake) = start();
    app.on_key(&mut fake, key(KeyCode::Char('?')));
    assert_eq!(app.dialog, Some(Dialog::Help));
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("Refresh keys"), "{s}");
    app.on_key(&mut fake, key(KeyCode::Esc));
    assert_eq!(app.dialog, None);
    // `?` in the compose box is text.
    app.on_key(&mut fake, key(KeyCode::Tab));
    app.on_key(&mut fake, key(KeyCode::Char('?')));
    assert_eq!(app.compose, "?");
    app.on_key(&mut fake, ctrl('q'));
    assert!(app.quit);
}

#[test]
fn down_opens_the_next_conversation_and_marks_it_read() {
    let (mut app, mut fake) = start();
    app.on_key(&mut fake, key(KeyCode::Down));
    assert_eq!(app.current().map(|c| c.peer.as_str()), Some("u-carol"));
    assert!(
        fake.calls
            .contains(&Call::History("u-carol".into(), None, PAGE))
    );
    let s = screen(&mut app, 100, 24);
    assert!(!s.contains("carol (3)"), "{s}");
}

#[test]
fn wrap_counts_wide_characters() {
    assert_eq!(view::wrap("世界世界世界", 4), vec!["世界", "世界", "世界"]);
    assert_eq!(view::wrap("ab cd ef", 5), vec!["ab cd", "ef"]);
    assert_eq!(view::wrap("a\n\nb", 5), vec!["a", "", "b"]);
}

#[test]
fn a_run_of_undecryptable_messages_is_one_line_with_a_count() {
    let (mut app, mut fake) = start();
    for id in 30..34 {
        fake.live.push_back(ChatEvent::Undecryptable {
            peer: "u-bob".into(),
            id,
            reason: "not_my_key".into(),
        });
    }
    fake.live.push_back(ChatEvent::Undecryptable {
        peer: "u-bob".into(),
        id: 34,
        reason: "bad_mac".into(),
    });
    app.poll(&mut fake, Duration::ZERO);
    let s = screen(&mut app, 120, 30);
    assert!(
        s.contains("4 messages can't be decrypted in this terminal (their keys are gone)"),
        "{s}"
    );
    assert_eq!(s.matches("can't be decrypted").count(), 1, "{s}");
    assert!(
        s.contains("Message could not be verified — not shown (bad_mac)"),
        "{s}"
    );
}

#[test]
fn a_view_scrolled_up_stays_put_when_a_message_arrives() {
    let mut fake = Fake::new();
    let many: Vec<ChatEvent> = (1..=40)
        .map(|id| {
            msg(
                "u-bob",
                "bob",
                id,
                false,
                &format!("message {id}"),
                Status::Sent,
            )
        })
        .collect();
    fake.messages.insert("u-bob".into(), many);
    let mut app = App::new(&mut fake);
    screen(&mut app, 100, 20);
    app.on_key(&mut fake, key(KeyCode::PageUp));
    let before = screen(&mut app, 100, 20);
    assert!(before.contains("more lines below"), "{before}");
    fake.live
        .push_back(msg("u-bob", "bob", 41, false, "a new one", Status::Sent));
    app.poll(&mut fake, Duration::ZERO);
    let after = screen(&mut app, 100, 20);
    // The same messages on screen; only the count below changed.
    let body = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.contains("message "))
            .filter_map(|l| l.split("││").nth(1).map(str::to_owned))
            .collect()
    };
    assert_eq!(body(&before), body(&after), "{after}");
    assert!(!after.contains("a new one"), "{after}");
    // PgDn to the bottom shows it.
    for _ in 0..10 {
        app.on_key(&mut fake, key(KeyCode::PageDown));
    }
    let s = screen(&mut app, 100, 20);
    assert!(s.contains("a new one"), "{s}");
}

#[test]
fn the_contacts_messages_of_one_minute_share_a_header() {
    let (mut app, mut fake) = start();
    for (id, text) in [(40, "one"), (41, "two")] {
        fake.live.push_back(ChatEvent::Message {
            peer: "u-bob".into(),
            peer_username: "bob".into(),
            id,
            mine: false,
            text: text.into(),
            created_at: 1_700_005_000,
            status: Status::Sent,
        });
    }
    app.poll(&mut fake, Duration::ZERO);
    let s = screen(&mut app, 100, 30);
    let header = format!("{} bob", view::time_text(1_700_005_000));
    assert_eq!(s.matches(&header).count(), 1, "{s}");
    assert!(s.contains("  one") && s.contains("  two"), "{s}");
}

#[test]
fn backlog_older_than_the_history_waits_behind_a_marker_and_paging_continues_from_the_history() {
    let mut fake = Fake::new();
    let many: Vec<ChatEvent> = (1..=70)
        .map(|id| {
            msg(
                "u-bob",
                "bob",
                id,
                false,
                &format!("message {id}"),
                Status::Sent,
            )
        })
        .collect();
    fake.messages.insert("u-bob".into(), many);
    let mut app = App::new(&mut fake);
    // The backlog of a long absence brings 1..10 live.
    for id in 1..=10 {
        fake.live.push_back(msg(
            "u-bob",
            "bob",
            id,
            false,
            &format!("message {id}"),
            Status::Sent,
        ));
    }
    app.poll(&mut fake, Duration::ZERO);
    for _ in 0..30 {
        screen(&mut app, 100, 30);
        app.on_key(&mut fake, key(KeyCode::PageUp));
        if fake
            .calls
            .iter()
            .any(|c| matches!(c, Call::History(_, Some(_), _)))
        {
            break;
        }
    }
    let s = screen(&mut app, 100, 30);
    // Paging went on from the history's oldest (21), not from the backlog's (1).
    assert!(
        fake.calls
            .contains(&Call::History("u-bob".into(), Some(21), PAGE)),
        "{:?}",
        fake.calls
    );
    assert!(!s.contains("not shown yet"), "all loaded now: {s}");
    // Before that page, the marker stood in for 1..10.
    let mut fake = Fake::new();
    let many: Vec<ChatEvent> = (1..=70)
        .map(|id| {
            msg(
                "u-bob",
                "bob",
                id,
                false,
                &format!("message {id}"),
                Status::Sent,
            )
        })
        .collect();
    fake.messages.insert("u-bob".into(), many);
    let mut app = App::new(&mut fake);
    for id in 1..=10 {
        fake.live.push_back(msg(
            "u-bob",
            "bob",
            id,
            false,
            &format!("message {id}"),
            Status::Sent,
        ));
    }
    app.poll(&mut fake, Duration::ZERO);
    let s = screen(&mut app, 100, 200);
    assert!(
        s.contains("10 earlier messages received but not shown yet"),
        "{s}"
    );
    assert!(!s.contains("message 10 "), "{s}");
}

#[test]
fn the_lost_keys_notice_goes_when_the_messages_decrypt_after_all() {
    let (mut app, mut fake) = start();
    fake.live.push_back(ChatEvent::LocalKeysLost {
        peer: "u-bob".into(),
        peer_username: "bob".into(),
    });
    for id in 30..33 {
        fake.live.push_back(ChatEvent::Undecryptable {
            peer: "u-bob".into(),
            id,
            reason: "unknown_key_set".into(),
        });
    }
    app.poll(&mut fake, Duration::ZERO);
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("no longer has the keys"), "{s}");
    // The key exchange arrives later (the backlog): the same messages decrypt.
    for id in 30..33 {
        fake.live.push_back(msg(
            "u-bob",
            "bob",
            id,
            false,
            &format!("late {id}"),
            Status::Sent,
        ));
    }
    app.poll(&mut fake, Duration::ZERO);
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("late 32"), "{s}");
    assert!(!s.contains("no longer has the keys"), "{s}");
    assert!(!s.contains("can't be decrypted"), "{s}");
}

#[test]
fn every_screen_draws_at_any_size() {
    let (mut app, mut fake) = start();
    app.on_key(&mut fake, key(KeyCode::Tab));
    typed(
        &mut app,
        &mut fake,
        "a long message with 世界 and 👋 that wraps",
    );
    app.on_key(&mut fake, ctrl('w'));
    assert_eq!(app.compose, "a long message with 世界 and 👋 that ");
    let dialogs = [
        None,
        Some(Dialog::Help),
        Some(Dialog::NewChat {
            input: "someone".into(),
            error: Some("no user named someone".into()),
        }),
        Some(Dialog::Safety {
            peer: "u-bob".into(),
            number: Ok(
                "12345 67890 11111 22222 33333 44444 55555 66666 77777 88888 99999 00000".into(),
            ),
        }),
    ];
    for dialog in dialogs {
        app.dialog = dialog;
        for (w, h) in [(120, 40), (80, 24), (50, 12), (20, 6), (4, 3), (1, 1)] {
            screen(&mut app, w, h);
        }
    }
}

#[test]
fn the_safety_panel_says_when_there_is_no_key_to_compare() {
    let (mut app, mut fake) = start();
    app.on_key(&mut fake, ctrl('n'));
    typed(&mut app, &mut fake, "erin");
    app.on_key(&mut fake, key(KeyCode::Enter));
    app.on_key(&mut fake, ctrl('s'));
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("erin has not published a key yet"), "{s}");
    assert!(!s.contains("v mark as verified"), "{s}");
    app.on_key(&mut fake, key(KeyCode::Char('v')));
    assert!(!fake.calls.contains(&Call::MarkVerified("u-erin".into())));
}

#[test]
fn a_draft_stays_with_its_conversation() {
    let (mut app, mut fake) = start();
    app.on_key(&mut fake, key(KeyCode::Tab));
    typed(&mut app, &mut fake, "half-written for bob");
    app.on_key(&mut fake, key(KeyCode::Tab));
    app.on_key(&mut fake, key(KeyCode::Down));
    assert_eq!(app.current().map(|c| c.peer.as_str()), Some("u-carol"));
    assert_eq!(app.compose, "");
    app.on_key(&mut fake, key(KeyCode::Up));
    assert_eq!(app.compose, "half-written for bob");
    app.on_key(&mut fake, key(KeyCode::Tab));
    app.on_key(&mut fake, key(KeyCode::Enter));
    assert!(
        fake.calls
            .contains(&Call::Send("u-bob".into(), "half-written for bob".into()))
    );
}

#[test]
fn a_notice_in_an_older_page_stays_in_its_place() {
    let mut fake = Fake::new();
    let mut events: Vec<ChatEvent> = vec![ChatEvent::KeysChanged {
        peer: "u-bob".into(),
        peer_username: "bob".into(),
        by_me: false,
        created_at: 1_700_000_000,
    }];
    events.extend((1..=60).map(|id| {
        msg(
            "u-bob",
            "bob",
            id,
            false,
            &format!("message {id}"),
            Status::Sent,
        )
    }));
    fake.messages.insert("u-bob".into(), events);
    let mut app = App::new(&mut fake);
    for _ in 0..40 {
        screen(&mut app, 100, 200);
        app.on_key(&mut fake, key(KeyCode::PageUp));
    }
    let s = screen(&mut app, 100, 200);
    let keys = s.find("Keys changed").expect("the notice");
    let first = s.find("  message 1 ").expect("message 1");
    let last = s.find("  message 60 ").expect("message 60");
    assert!(keys < first && first < last, "{s}");
}

#[test]
fn a_paste_keeps_its_line_breaks_and_is_not_sent_line_by_line() {
    let (mut app, mut fake) = start();
    // From the list: the paste goes to the compose box of the open conversation.
    app.paste("first line\r\nsecond line\n");
    assert_eq!(app.focus, Focus::Compose);
    assert_eq!(app.compose, "first line\nsecond line\n");
    assert!(!fake.calls.iter().any(|c| matches!(c, Call::Send(..))));
    app.on_key(&mut fake, key(KeyCode::Enter));
    assert!(fake.calls.contains(&Call::Send(
        "u-bob".into(),
        "first line\nsecond line\n".into()
    )));
    // Into the new-chat field: one line.
    app.on_key(&mut fake, ctrl('n'));
    app.paste(" erin\n");
    app.on_key(&mut fake, key(KeyCode::Enter));
    assert_eq!(app.current().map(|c| c.peer.as_str()), Some("u-erin"));
}

#[test]
fn opening_a_conversation_with_unread_messages_marks_where_they_start() {
    let mut fake = Fake::new();
    fake.messages.insert(
        "u-carol".into(),
        (1..=5)
            .map(|id| {
                msg(
                    "u-carol",
                    "carol",
                    id,
                    false,
                    &format!("carol {id}"),
                    Status::Sent,
                )
            })
            .collect(),
    );
    let mut app = App::new(&mut fake);
    app.on_key(&mut fake, key(KeyCode::Down));
    let s = screen(&mut app, 100, 30);
    // carol had 3 unread: the line stands above "carol 3".
    let line = s.find("3 new messages").expect("the new-messages line");
    assert!(s.find("carol 2").expect("2") < line, "{s}");
    assert!(line < s.find("carol 3").expect("3"), "{s}");
    // Gone after leaving and coming back.
    app.on_key(&mut fake, key(KeyCode::Up));
    app.on_key(&mut fake, key(KeyCode::Down));
    let s = screen(&mut app, 100, 30);
    assert!(!s.contains("new messages"), "{s}");
}

#[test]
fn refresh_is_off_for_a_deleted_account_and_while_sending_is_held_back() {
    let (mut app, mut fake) = start();
    fake.blocked.insert("u-bob".into());
    app.on_key(&mut fake, ctrl('r'));
    assert!(!fake.calls.contains(&Call::Refresh("u-bob".into())));
    assert!(
        app.notice
            .as_ref()
            .is_some_and(|n| n.text.contains("Sending is paused"))
    );
    app.on_key(&mut fake, key(KeyCode::End));
    app.on_key(&mut fake, key(KeyCode::Home));
    app.on_key(&mut fake, key(KeyCode::End));
    // dave (deleted) is the last row.
    assert_eq!(app.current().map(|c| c.peer.as_str()), Some("u-dave"));
    app.on_key(&mut fake, ctrl('r'));
    assert!(!fake.calls.contains(&Call::Refresh("u-dave".into())));
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("dave deleted their account"), "{s}");
}
