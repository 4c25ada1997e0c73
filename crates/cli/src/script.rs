//! The scriptable mode: `send`, `read`, `watch`, `conversations`, `safety-number`, `verify`,
//! `accept-key`, `refresh`; exit codes from [`crate::exit`]. This interface is stable (the
//! browser interop test drives it):
//!
//! - `parley-chat send USER TEXT` (`TEXT` = `-`: standard input, multi-line; a final newline is
//!   dropped) → prints the stored message's id. Exit 7 when held back (a verified contact's key
//!   changed: `accept-key` or `verify` first), 8 no such user, 5 refused, 4 network.
//! - `parley-chat read USER [--limit N] [--json]` → the newest `N` (default 50) messages and
//!   notices, oldest first, and marks the contact's messages read. Human lines:
//!   `HH:MM you: text ✓` (`✓` sent, `✓✓` delivered, `✓✓ read`) / `HH:MM name: text` (UTC);
//!   with `--json` one [`ChatEvent`] per line.
//! - `parley-chat watch [--json] [--commands]` → connects the WebSocket and prints every event
//!   as it happens (one JSON object per line with `--json`, flushed per line) until interrupted.
//!   With `--commands` it also reads JSON commands from standard input, one per line, and ends
//!   (exit 0) at the end of the input:
//!   - `{"send": {"to": "bob", "text": "…"}}` → `{"event": "sent", "peer": ID, "id": N}` (the
//!     message itself also comes as a `message` event)
//!   - `{"refresh": "bob"}` → the `keys_changed` event (`by_me: true`), then `{"event": "ok", "command": "refresh", "peer": ID}`
//!   - `{"verify": "bob"}`, `{"accept_key": "bob"}`, `{"mark_read": "bob"}` (up to the newest
//!     message from bob) → `{"event": "ok", "command": "verify"|"accept_key"|"mark_read", "peer": ID}`
//!   - `{"safety_number": "bob"}` → `{"event": "safety_number", "peer": ID, "number": "12345 …"}`
//!   - `{"history": {"with": "bob", "limit": 50}}` → the page's events, then `{"event": "ok", "command": "history", "peer": ID}`
//!   - a failed command → `{"event": "error", "code": …, "message": …, "command": NAME}`
//!     (`code`: the server's error code, or `blocked`, `not_found`, `usage`, `network`,
//!     `sign_in_needed`, `failed`); a line that is not a command →
//!     `{"event": "error", "code": "bad_command", …}`.
//!
//!   `watch` also prints `{"event": "error", "code": "identity_replaced", …}` when another
//!   device published a key for this account (it goes on), and `{"event": "error", "code":
//!   "session_ended", …}` when the session ended (then it exits 3).
//!   One account is used by one process at a time: while `watch` runs, other commands for the
//!   same account exit 6 — send through `--commands`. Live, a message is reported once per
//!   process (keyed by its id) whether it came pushed, as backlog or by catch-up; `history`
//!   pages report it again.
//! - `parley-chat conversations [--json]` → one row per conversation (JSON: one
//!   [`crate::events::ConversationSummary`] per line).
//! - `parley-chat safety-number USER [--json]` → the 60 digits in 12 groups (3 rows of 4 groups;
//!   `--json`: `{"event": "safety_number", "peer", "number"}` on one line).
//! - `parley-chat verify USER`, `parley-chat accept-key USER` → mark the contact's current key
//!   verified / accept their new key (prints a line saying so).
//! - `parley-chat refresh USER [--json]` → new keys for the conversation (E6), prints
//!   "Keys changed" (or the event as JSON).
//!
//! Events ([`ChatEvent`], tagged `"event"`): `message` {peer, peer_username, id, mine, text,
//! created_at, status: sent|delivered|read}, `delivered` {peer, id}, `read` {peer, up_to},
//! `keys_changed` {peer, peer_username, by_me, created_at}, `peer_key_changed` {peer,
//! peer_username, verified}, `local_keys_lost` {peer, peer_username}, `undecryptable` {peer, id,
//! reason (`replay`, `bad_mac`, `unknown_key_set`, …)}, `peer_deleted`, `connection` {state:
//! connected|reconnecting|offline}, `backlog_done`, `error` {code, message}.

use std::io::{BufRead, Read, Write};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::engine::{Engine, error_event};
use crate::events::{ChatEvent, Status};
use crate::exit::{self, Exit};
use crate::profile::Profile;

/// `parley-chat send USER TEXT`.
#[derive(Clone, Debug, clap::Args)]
pub struct SendArgs {
    /// The recipient's exact username.
    pub to: String,
    /// The message; `-` reads it from standard input (multi-line). Prefer `-`: an argument is
    /// visible to other local users (`ps`) and stays in the shell's history.
    pub text: String,
}

/// `parley-chat read USER`.
#[derive(Clone, Debug, clap::Args)]
pub struct ReadArgs {
    /// The contact's exact username.
    pub with: String,
    /// At most this many of the newest messages.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

/// `parley-chat watch`.
#[derive(Clone, Debug, clap::Args)]
pub struct WatchArgs {
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Also read JSON commands from standard input, one per line (see the module's doc); the
    /// end of the input ends the command.
    #[arg(long)]
    pub commands: bool,
}

/// A command naming one contact.
#[derive(Clone, Debug, clap::Args)]
pub struct PeerArgs {
    /// The contact's exact username.
    pub with: String,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

/// `parley-chat conversations`.
#[derive(Clone, Debug, clap::Args)]
pub struct ListArgs {
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

/// Print one line and flush (scripts read line by line).
fn emit_line(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

fn emit_json(v: &impl serde::Serialize) -> Result<()> {
    emit_line(&serde_json::to_string(v)?)
}

/// `HH:MM` (UTC) of a Unix time.
pub fn clock(at: i64) -> String {
    let secs = at.rem_euclid(86_400);
    format!("{:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

/// An event as one human line (empty: nothing to show).
/// [`human`] safe for a terminal: a contact's text and the server's messages carry no escape
/// sequences, carriage returns or other controls (text.rs).
pub fn human_line(ev: &ChatEvent) -> String {
    crate::text::printable(&human(ev))
}

pub fn human(ev: &ChatEvent) -> String {
    match ev {
        ChatEvent::Message {
            peer_username,
            mine,
            text,
            created_at,
            status,
            ..
        } => {
            let who = if *mine { "you" } else { peer_username.as_str() };
            let ticks = match (mine, status) {
                (false, _) => "",
                (true, Status::Sent) => " ✓",
                (true, Status::Delivered) => " ✓✓",
                (true, Status::Read) => " ✓✓ read",
            };
            let text = text.replace('\n', "\n      ");
            format!("{} {who}: {text}{ticks}", clock(*created_at))
        }
        ChatEvent::Delivered { id, .. } => format!("      (message {id} delivered ✓✓)"),
        ChatEvent::Read { up_to, .. } => format!("      (read up to message {up_to} ✓✓)"),
        ChatEvent::SessionStarted {
            peer_username,
            by_me,
            created_at,
            ..
        } => {
            let who = if *by_me { "you" } else { peer_username.as_str() };
            format!("{} — Secure session started ({who})", clock(*created_at))
        }
        ChatEvent::KeysChanged {
            peer_username,
            by_me,
            created_at,
            ..
        } => {
            let who = if *by_me { "you" } else { peer_username.as_str() };
            format!("{} — Keys changed ({who})", clock(*created_at))
        }
        ChatEvent::PeerKeyChanged {
            peer_username,
            verified,
            ..
        } => {
            if *verified {
                format!(
                    "⚠ {peer_username}'s security key changed since you verified it. Sending is paused: compare the safety number, then `parley-chat accept-key {peer_username}`."
                )
            } else {
                format!(
                    "⚠ {peer_username}'s security key changed. Compare the safety number (`parley-chat safety-number {peer_username}`)."
                )
            }
        }
        ChatEvent::LocalKeysLost { .. } => {
            "⚠ Some messages can’t be decrypted here: the local keys they need are gone (local state was lost or replaced).".to_owned()
        }
        ChatEvent::Undecryptable { id, reason, .. } => match reason.as_str() {
            "replay" => format!("      Rejected replay — not shown (message {id})"),
            "unknown_key_set" | "not_my_key" => {
                format!("      Message can’t be decrypted here (its keys are gone) (message {id})")
            }
            "malformed" => format!("      This message is damaged — not shown (message {id})"),
            _ => format!("      Message could not be verified — not shown (message {id}, {reason})"),
        },
        ChatEvent::PeerDeleted { peer_username, .. } => {
            format!("{peer_username} deleted their account.")
        }
        ChatEvent::Connection { state } => format!("[connection: {state:?}]").to_lowercase(),
        ChatEvent::BacklogDone => "[up to date]".to_owned(),
        ChatEvent::Error { message, .. } => format!("error: {message}"),
    }
}

fn print_events(events: &[ChatEvent], as_json: bool) -> Result<()> {
    for ev in events {
        if as_json {
            emit_json(ev)?;
        } else {
            let line = human_line(ev);
            if !line.is_empty() {
                emit_line(&line)?;
            }
        }
    }
    Ok(())
}

/// The id of the message an event list sent.
fn sent_id(events: &[ChatEvent]) -> Option<i64> {
    events.iter().rev().find_map(|e| match e {
        ChatEvent::Message { id, mine: true, .. } => Some(*id),
        _ => None,
    })
}

pub fn send(profile: &Profile, args: &SendArgs) -> Result<()> {
    let text = if args.text == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the message from standard input")?;
        if s.ends_with('\n') {
            s.pop();
            if s.ends_with('\r') {
                s.pop();
            }
        }
        s
    } else {
        args.text.clone()
    };
    if text.trim().is_empty() {
        return Err(Exit::new(exit::USAGE, "the message is empty").into());
    }
    let mut engine = Engine::open(profile)?;
    let events = engine.send(&args.to, &text)?;
    let id = sent_id(&events).context("the message was not sent")?;
    emit_line(&id.to_string())
}

pub fn read(profile: &Profile, args: &ReadArgs) -> Result<()> {
    let mut engine = Engine::open(profile)?;
    let peer = engine.resolve(&args.with)?;
    let events = engine.history(&peer, None, args.limit)?;
    let mut all = engine.poll(Duration::ZERO);
    all.extend(events);
    print_events(&all, args.json)?;
    let newest = newest_from_peer(&all);
    if let Some(up_to) = newest {
        engine.mark_read(&peer, up_to)?;
    }
    Ok(())
}

fn newest_from_peer(events: &[ChatEvent]) -> Option<i64> {
    events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Message {
                id, mine: false, ..
            } => Some(*id),
            _ => None,
        })
        .max()
}

pub fn conversations(profile: &Profile, args: &ListArgs) -> Result<()> {
    let mut engine = Engine::open(profile)?;
    for row in engine.conversations()? {
        if args.json {
            emit_json(&row)?;
        } else {
            let mut flags = String::new();
            if row.unread > 0 {
                flags.push_str(&format!(" ({} unread)", row.unread));
            }
            if row.verified {
                flags.push_str(" ✓ verified");
            }
            if row.key_warning {
                flags.push_str(" ⚠ key changed");
            }
            if row.peer_deleted {
                flags.push_str(" (account deleted)");
            }
            emit_line(&format!("{}{flags}", row.peer_username))?;
        }
    }
    Ok(())
}

pub fn safety_number(profile: &Profile, args: &PeerArgs) -> Result<()> {
    let mut engine = Engine::open(profile)?;
    let peer = engine.resolve(&args.with)?;
    let number = engine.safety_number(&peer)?;
    if args.json {
        return emit_json(&json!({"event": "safety_number", "peer": peer, "number": number}));
    }
    let groups: Vec<&str> = number.split(' ').collect();
    emit_line(&format!("Safety number with {}:", args.with))?;
    for row in groups.chunks(4) {
        emit_line(&format!("  {}", row.join(" ")))?;
    }
    if engine.key_warning(&peer) {
        emit_line(&format!(
            "{}'s security key changed. These digits are for the new key: compare them before you accept it (`parley-chat accept-key {}`).",
            args.with, args.with
        ))?;
    }
    let verified = engine.is_verified(&peer);
    emit_line(if verified {
        "✓ Verified"
    } else {
        "Not verified: compare in person or on a call, then `parley-chat verify USER`."
    })
}

pub fn verify(profile: &Profile, args: &PeerArgs) -> Result<()> {
    let mut engine = Engine::open(profile)?;
    let peer = engine.resolve(&args.with)?;
    engine.mark_verified(&peer)?;
    if args.json {
        return emit_json(&json!({"event": "ok", "command": "verify", "peer": peer}));
    }
    emit_line(&format!("✓ You verified {}'s current key.", args.with))
}

pub fn accept_key(profile: &Profile, args: &PeerArgs) -> Result<()> {
    let mut engine = Engine::open(profile)?;
    let peer = engine.resolve(&args.with)?;
    engine.accept_key(&peer)?;
    if args.json {
        return emit_json(&json!({"event": "ok", "command": "accept_key", "peer": peer}));
    }
    emit_line(&format!(
        "Accepted {}'s new key: sending is allowed again (not verified).",
        args.with
    ))
}

pub fn refresh(profile: &Profile, args: &PeerArgs) -> Result<()> {
    let mut engine = Engine::open(profile)?;
    let peer = engine.resolve(&args.with)?;
    let mut events = engine.poll(Duration::ZERO);
    events.extend(engine.refresh_keys(&peer)?);
    print_events(&events, args.json)
}

/// One `--commands` line, answered with JSON lines.
fn run_command(engine: &mut Engine, line: &str) -> Result<()> {
    let cmd: Value = match serde_json::from_str(line) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return emit_json(&json!({"event": "error", "code": "bad_command",
                "message": "a command is one JSON object per line"}));
        }
    };
    let Some((name, arg)) = cmd.as_object().and_then(|o| o.iter().next()) else {
        return emit_json(
            &json!({"event": "error", "code": "bad_command", "message": "empty command"}),
        );
    };
    let name = name.clone();
    let result = command(engine, &name, arg);
    match result {
        Ok(()) => Ok(()),
        Err(e) => {
            let mut v = serde_json::to_value(error_event(&e))?;
            if let Some(o) = v.as_object_mut() {
                o.insert("command".into(), Value::String(name));
            }
            emit_json(&v)
        }
    }
}

fn peer_arg(arg: &Value) -> Result<String> {
    arg.as_str()
        .map(str::to_owned)
        .ok_or_else(|| Exit::new(exit::USAGE, "the command's argument is a username").into())
}

fn command(engine: &mut Engine, name: &str, arg: &Value) -> Result<()> {
    match name {
        "send" => {
            let to = arg
                .get("to")
                .and_then(Value::as_str)
                .ok_or_else(|| Exit::new(exit::USAGE, "send needs \"to\""))?;
            let text = arg
                .get("text")
                .and_then(Value::as_str)
                .ok_or_else(|| Exit::new(exit::USAGE, "send needs \"text\""))?;
            let peer = engine.resolve(to)?;
            let events = engine.send(&peer, text)?;
            print_events(&events, true)?;
            let id = sent_id(&events).context("the message was not sent")?;
            emit_json(&json!({"event": "sent", "peer": peer, "id": id}))
        }
        "refresh" => {
            let peer = engine.resolve(&peer_arg(arg)?)?;
            let events = engine.refresh_keys(&peer)?;
            print_events(&events, true)?;
            emit_json(&json!({"event": "ok", "command": "refresh", "peer": peer}))
        }
        "verify" => {
            let peer = engine.resolve(&peer_arg(arg)?)?;
            engine.mark_verified(&peer)?;
            emit_json(&json!({"event": "ok", "command": "verify", "peer": peer}))
        }
        "accept_key" => {
            let peer = engine.resolve(&peer_arg(arg)?)?;
            engine.accept_key(&peer)?;
            emit_json(&json!({"event": "ok", "command": "accept_key", "peer": peer}))
        }
        "mark_read" => {
            let peer = engine.resolve(&peer_arg(arg)?)?;
            let events = engine.history(&peer, None, 50)?;
            if let Some(up_to) = newest_from_peer(&events) {
                engine.mark_read(&peer, up_to)?;
            }
            emit_json(&json!({"event": "ok", "command": "mark_read", "peer": peer}))
        }
        "safety_number" => {
            let peer = engine.resolve(&peer_arg(arg)?)?;
            let number = engine.safety_number(&peer)?;
            emit_json(&json!({"event": "safety_number", "peer": peer, "number": number}))
        }
        "history" => {
            let with = arg
                .get("with")
                .and_then(Value::as_str)
                .ok_or_else(|| Exit::new(exit::USAGE, "history needs \"with\""))?;
            let limit = arg
                .get("limit")
                .and_then(Value::as_u64)
                .map_or(50, |n| usize::try_from(n).unwrap_or(50));
            let peer = engine.resolve(with)?;
            let events = engine.history(&peer, None, limit)?;
            print_events(&events, true)?;
            emit_json(&json!({"event": "ok", "command": "history", "peer": peer}))
        }
        other => Err(Exit::new(exit::USAGE, format!("unknown command {other:?}")).into()),
    }
}

pub fn watch(profile: &Profile, args: &WatchArgs) -> Result<()> {
    let mut engine = Engine::open(profile)?;
    engine.connect()?;
    let as_json = args.json || args.commands;
    let commands = if args.commands {
        let (tx, rx) = mpsc::channel::<Option<String>>();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(Some(line)).is_err() {
                    return;
                }
            }
            let _ = tx.send(None);
        });
        Some(rx)
    } else {
        None
    };
    loop {
        let events = engine.poll(Duration::from_millis(100));
        print_events(&events, as_json)?;
        if events
            .iter()
            .any(|e| matches!(e, ChatEvent::Error { code, .. } if code == "session_ended"))
        {
            return Err(Exit::new(
                exit::SIGN_IN_NEEDED,
                "the session has ended: run `parley-chat login`",
            )
            .into());
        }
        if let Some(rx) = &commands {
            loop {
                match rx.try_recv() {
                    Ok(Some(line)) => {
                        if !line.trim().is_empty() {
                            run_command(&mut engine, line.trim())?;
                            // Events the command queued (e.g. a key change it found).
                            let events = engine.poll(Duration::ZERO);
                            print_events(&events, as_json)?;
                        }
                    }
                    Ok(None) | Err(mpsc::TryRecvError::Disconnected) => return Ok(()),
                    Err(mpsc::TryRecvError::Empty) => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A contact's message cannot clear the screen, set the title or fake one of one's own
    /// lines with a carriage return in `read` / `watch` output.
    #[test]
    fn a_hostile_message_prints_without_controls() {
        let ev = ChatEvent::Message {
            peer: "p".into(),
            peer_username: "mallory".into(),
            id: 1,
            mine: false,
            text: "hi\x1b[2J\x1b]0;pwned\x07\r12:01 you: I agree ✓✓ read\nline two".into(),
            created_at: 0,
            status: Status::Delivered,
        };
        let line = human_line(&ev);
        assert!(!line.contains(['\x1b', '\x07', '\r']), "{line:?}");
        assert!(line.contains("mallory: hi"), "{line:?}");
        assert!(
            line.contains("\n      line two"),
            "multi-line text still indented: {line:?}"
        );
    }
}
