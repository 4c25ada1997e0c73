//! `parley-chat` ↔ `parley-chat` on one real server (issue 12, X5): live messages both ways
//! over the WebSocket (`watch --json --commands`), ticks, Refresh from each side, equal safety
//! numbers, history decrypted after a restart (`read --json`), and the key-change rules: a
//! verified contact's new key blocks `send` (exit 7) until `accept-key`, and the side that lost
//! its keys sees `local_keys_lost` for its old history.

mod chat_support;
mod common;

use chat_support::{Running, api_login, is, json_lines, login, register, run, state_file};
use common::Server;
use serde_json::{Value, json};

const HELLO: &str = "Hello Bob 👋🏽 — Привет, 你好, مرحبا, שלום!\nA second line\n\tand a third";
const REPLY: &str = "Hi Alice 🎉\nこんにちは · Ελληνικά · हिन्दी";

fn message_with<'a>(text: &'a str, mine: bool) -> impl Fn(&Value) -> bool + 'a {
    move |v: &Value| is(v, "message") && v["text"] == text && v["mine"] == mine
}

fn sent_id(w: &mut Running) -> i64 {
    let sent = w.expect("sent", |v| is(v, "sent"));
    sent["id"].as_i64().expect("sent id")
}

#[test]
fn cli_to_cli_live_ticks_refresh_safety_numbers_and_history_after_restart() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tmp");
    let alice = register(&server, &dir.path().join("alice"), "alice");
    let bob = register(&server, &dir.path().join("bob"), "bob");

    let mut a = Running::start(&server, &alice, &["watch", "--json", "--commands"]);
    let mut b = Running::start(&server, &bob, &["watch", "--json", "--commands"]);
    a.expect("alice connected", |v| is(v, "backlog_done"));
    b.expect("bob connected", |v| is(v, "backlog_done"));
    // The account is in use by the watch: another process is refused (exit 6), nothing sent.
    let (code, _, err) = run(&server, &alice, &["send", "bob", "from a second process"]);
    assert_eq!(code, 6, "{err}");

    // Alice → Bob, live; the tick goes to delivered when Bob's client stored it.
    a.command(&json!({"send": {"to": "bob", "text": HELLO}}));
    let hello_id = sent_id(&mut a);
    let got = b.expect("hello at bob", message_with(HELLO, false));
    assert_eq!(got["id"], hello_id, "{:#?} {:#?}", a.seen, b.seen);
    assert_eq!(got["peer"], alice.id);
    assert_eq!(got["peer_username"], "alice");
    // Alice's exchange came before her message: "Secure session started" on both sides.
    let started = |seen: &[Value], by_me: bool| {
        seen.iter()
            .any(|v| is(v, "session_started") && v["by_me"] == by_me && v["peer_username"] != "")
    };
    assert!(started(&b.seen, false), "{:#?}", b.seen);
    assert!(started(&a.seen, true), "{:#?}", a.seen);
    let delivered = a.expect("delivered tick", |v| is(v, "delivered"));
    assert_eq!(delivered["id"], hello_id);
    assert_eq!(delivered["peer"], bob.id);

    // Bob → Alice, live.
    b.command(&json!({"send": {"to": "alice", "text": REPLY}}));
    let reply_id = sent_id(&mut b);
    let got = a.expect("reply at alice", message_with(REPLY, false));
    assert_eq!(got["id"], reply_id);
    b.expect("delivered tick at bob", |v| {
        is(v, "delivered") && v["id"] == reply_id
    });

    // Bob reads: Alice sees the read tick.
    b.command(&json!({"mark_read": "alice"}));
    b.expect("mark_read ok", |v| {
        is(v, "ok") && v["command"] == "mark_read"
    });
    let read = a.expect("read tick", |v| is(v, "read"));
    assert_eq!(read["peer"], bob.id);
    assert!(read["up_to"].as_i64().expect("up_to") >= hello_id);

    // Refresh from Alice: "Keys changed" on both sides; then from Bob.
    a.command(&json!({"refresh": "bob"}));
    a.expect("keys changed by alice", |v| {
        is(v, "keys_changed") && v["by_me"] == true
    });
    b.expect("keys changed at bob", |v| {
        is(v, "keys_changed") && v["by_me"] == false && v["peer"] == alice.id
    });
    b.command(&json!({"refresh": "alice"}));
    b.expect("keys changed by bob", |v| {
        is(v, "keys_changed") && v["by_me"] == true
    });
    a.expect("keys changed at alice", |v| {
        is(v, "keys_changed") && v["by_me"] == false && v["peer"] == bob.id
    });

    // Messages under the refreshed keys, both ways.
    a.command(&json!({"send": {"to": "bob", "text": "after refresh ✓"}}));
    sent_id(&mut a);
    b.expect(
        "after refresh at bob",
        message_with("after refresh ✓", false),
    );
    b.command(&json!({"send": {"to": "alice", "text": "ok 👍"}}));
    sent_id(&mut b);
    a.expect("ok at alice", message_with("ok 👍", false));

    // Equal safety numbers.
    a.command(&json!({"safety_number": "bob"}));
    b.command(&json!({"safety_number": "alice"}));
    let na = a.expect("alice's number", |v| is(v, "safety_number"));
    let nb = b.expect("bob's number", |v| is(v, "safety_number"));
    let number = na["number"].as_str().expect("number");
    assert_eq!(number.split(' ').count(), 12);
    assert!(
        number
            .split(' ')
            .all(|g| g.len() == 5 && g.bytes().all(|c| c.is_ascii_digit()))
    );
    assert_eq!(na["number"], nb["number"]);

    // A bad command is answered, not fatal.
    a.command(&json!({"frobnicate": "bob"}));
    a.expect("error for a bad command", |v| is(v, "error"));
    a.command(&json!({"send": {"to": "nobody", "text": "x"}}));
    let err = a.expect("error for an unknown user", |v| is(v, "error"));
    assert_eq!(err["command"], "send");

    assert!(a.finish().success());
    assert!(b.finish().success());

    // After the restart: history decrypted from the sealed state, oldest first, with ticks.
    let (code, out, err) = run(&server, &alice, &["read", "bob", "--json"]);
    assert_eq!(code, 0, "{err}");
    let events = json_lines(&out);
    let texts: Vec<&str> = events
        .iter()
        .filter(|v| is(v, "message"))
        .map(|v| v["text"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(texts, [HELLO, REPLY, "after refresh ✓", "ok 👍"], "{out}");
    let hello = events
        .iter()
        .find(|v| is(v, "message") && v["id"] == hello_id)
        .expect("hello in history");
    assert_eq!(hello["mine"], true);
    assert_eq!(hello["status"], "read");
    assert_eq!(
        events.iter().filter(|v| is(v, "keys_changed")).count(),
        2,
        "{out}"
    );
    assert!(!events.iter().any(|v| is(v, "undecryptable")), "{out}");

    let (code, out, err) = run(&server, &bob, &["read", "alice"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("alice: Hello Bob 👋🏽"), "{out}");
    assert!(out.contains("you: Hi Alice 🎉"), "{out}");
    assert!(out.contains("ok 👍 ✓✓"), "{out}");

    // `send` from the command line prints the id; the list shows the conversation.
    let (code, out, err) = run(&server, &alice, &["send", "bob", "one more"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.trim().parse::<i64>().is_ok(), "{out}");
    let (code, out, _) = run(&server, &bob, &["conversations", "--json"]);
    assert_eq!(code, 0);
    let rows = json_lines(&out);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["peer_username"], "alice");
    assert_eq!(rows[0]["unread"], 1);
    // Exit codes: no such user.
    let (code, _, err) = run(&server, &alice, &["send", "nobody", "x"]);
    assert_eq!(code, 8, "{err}");
}

#[test]
fn verified_key_change_blocks_send_until_accepted_and_lost_keys_are_reported() {
    let mut server = Server::start();
    let dir = tempfile::tempdir().expect("tmp");
    let alice = register(&server, &dir.path().join("alice"), "alice");
    let bob = register(&server, &dir.path().join("bob"), "bob");

    let (code, _, err) = run(&server, &alice, &["send", "bob", "before the change"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(&server, &bob, &["read", "alice", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        json_lines(&out)
            .iter()
            .any(message_with("before the change", false))
    );

    // Alice verifies Bob (after comparing safety numbers).
    let (code, out_a, _) = run(&server, &alice, &["safety-number", "bob", "--json"]);
    assert_eq!(code, 0);
    let (code, out_b, _) = run(&server, &bob, &["safety-number", "alice", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(
        json_lines(&out_a)[0]["number"],
        json_lines(&out_b)[0]["number"]
    );
    let (code, _, err) = run(&server, &alice, &["verify", "bob"]);
    assert_eq!(code, 0, "{err}");

    // Bob loses his local state and signs in again: a new identity key, announced live to
    // Alice's watch (`key` frame → keys fetched → the warning, sending held back).
    let mut a = Running::start(&server, &alice, &["watch", "--json", "--commands"]);
    a.expect("alice connected", |v| is(v, "backlog_done"));
    std::fs::remove_file(state_file(&server, &bob)).expect("remove bob's state");
    login(&mut server, &bob);
    let warning = a.expect("key change at alice", |v| is(v, "peer_key_changed"));
    assert_eq!(warning["verified"], true);
    assert_eq!(warning["peer"], bob.id);
    a.command(&json!({"send": {"to": "bob", "text": "held back live"}}));
    let err = a.expect("blocked send", |v| is(v, "error"));
    assert_eq!(err["code"], "blocked");
    assert!(a.finish().success());

    let (code, out, err) = run(&server, &bob, &["read", "alice", "--json"]);
    assert_eq!(code, 0, "{err}");
    let events = json_lines(&out);
    assert!(
        events
            .iter()
            .any(|v| is(v, "local_keys_lost") && v["peer"] == alice.id),
        "{out}"
    );
    assert!(!events.iter().any(message_with("before the change", false)));

    // Alice's next `read` (a new process) still shows the pending warning.
    let (code, out, err) = run(&server, &alice, &["read", "bob", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        json_lines(&out)
            .iter()
            .any(|v| is(v, "peer_key_changed") && v["verified"] == true),
        "{out}"
    );
    let (code, _, err) = run(&server, &alice, &["send", "bob", "held back"]);
    assert_eq!(code, 7, "{err}");
    assert!(err.contains("security key changed"), "{err}");
    let (code, out, _) = run(&server, &alice, &["conversations", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(json_lines(&out)[0]["key_warning"], true);
    assert_eq!(json_lines(&out)[0]["verified"], false);
    let (code, _, err) = run(&server, &alice, &["send", "bob", "still held back"]);
    assert_eq!(code, 7, "{err}");

    // Accepting the new key lets sending resume, under keys with Bob's new identity.
    let (code, _, err) = run(&server, &alice, &["accept-key", "bob"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(&server, &alice, &["read", "bob", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        !json_lines(&out).iter().any(|v| is(v, "peer_key_changed")),
        "{out}"
    );
    let (code, _, err) = run(&server, &alice, &["send", "bob", "after the change"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(&server, &bob, &["read", "alice", "--json"]);
    assert_eq!(code, 0, "{err}");
    let events = json_lines(&out);
    assert!(
        events.iter().any(message_with("after the change", false)),
        "{out}"
    );
    assert!(
        !events.iter().any(message_with("held back", false)),
        "{out}"
    );
}

#[test]
fn backlog_on_connect_and_reconnect_after_a_server_restart() {
    let mut server = Server::start();
    let dir = tempfile::tempdir().expect("tmp");
    let alice = register(&server, &dir.path().join("alice"), "alice");
    let bob = register(&server, &dir.path().join("bob"), "bob");

    // Sent while Bob is offline: the backlog when his watch connects, then `backlog_done`.
    for text in ["first while away", "second while away"] {
        let (code, _, err) = run(&server, &alice, &["send", "bob", text]);
        assert_eq!(code, 0, "{err}");
    }
    let mut b = Running::start(&server, &bob, &["watch", "--json", "--commands"]);
    b.expect(
        "first from the backlog",
        message_with("first while away", false),
    );
    b.expect(
        "second from the backlog",
        message_with("second while away", false),
    );
    b.expect("backlog done", |v| is(v, "backlog_done"));
    // Acknowledged (after the save): delivered, as Alice's history shows soon after.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (code, out, err) = run(&server, &alice, &["read", "bob", "--json"]);
        assert_eq!(code, 0, "{err}");
        let messages: Vec<Value> = json_lines(&out)
            .into_iter()
            .filter(|v| is(v, "message"))
            .collect();
        assert_eq!(messages.len(), 2, "{out}");
        if messages.iter().all(|v| v["status"] == "delivered") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never delivered: {out}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    // The server goes away and comes back on the same address: Bob's watch reconnects.
    server.restart(None);
    b.expect("reconnecting", |v| {
        is(v, "connection") && v["state"] == "reconnecting"
    });
    b.expect("connected again", |v| {
        is(v, "connection") && v["state"] == "connected"
    });
    b.expect("backlog done again", |v| is(v, "backlog_done"));
    let (code, _, err) = run(&server, &alice, &["send", "bob", "after the restart"]);
    assert_eq!(code, 0, "{err}");
    b.expect(
        "live after the reconnect",
        message_with("after the restart", false),
    );
    // `send USER -`: the text from standard input, multi-line (the final newline dropped).
    let mut child = server
        .cli(&alice.state_dir)
        .args(["--user", "alice", "send", "bob", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn send");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all("from stdin ✉\nsecond line\n".as_bytes())
            .expect("write");
    }
    let out = child.wait_with_output().expect("send -");
    assert!(out.status.success());
    let id: i64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("the id");
    let got = b.expect(
        "from stdin",
        message_with("from stdin ✉\nsecond line", false),
    );
    assert_eq!(got["id"], id);
    // Nothing was shown twice.
    let shown = b
        .seen
        .iter()
        .filter(|v| is(v, "message") && v["text"] == "first while away")
        .count();
    assert_eq!(shown, 1, "{:#?}", b.seen);

    // Another device of Bob's publishes a new identity key: the watch says so.
    let (api, signed) = api_login(&mut server, &bob);
    let mut other = parley_chat::keystore::AccountState {
        user_id: signed.user.id.clone(),
        ..Default::default()
    };
    parley_chat::engine::ensure_identity(&api, &mut other).expect("publish another key");
    let replaced = b.expect("identity replaced", |v| is(v, "error"));
    assert_eq!(replaced["code"], "identity_replaced");

    // Every session of Bob's revoked elsewhere: the socket closes with 4001, `watch` says so
    // and ends with exit code 3 (sign in again) instead of reconnecting.
    let (api, _) = api_login(&mut server, &bob);
    api.post_empty("/api/sessions/revoke-all", &json!({}))
        .expect("revoke all");
    let ended = b.expect("session ended", |v| is(v, "error"));
    assert_eq!(ended["code"], "session_ended");
    b.stdin.take();
    let status = b.child.wait().expect("watch ends");
    assert_eq!(status.code(), Some(3));
    let (code, _, err) = run(&server, &bob, &["read", "alice"]);
    assert_eq!(code, 3, "{err}");
}

#[test]
fn a_replayed_message_from_a_hostile_server_is_rejected() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tmp");
    let alice = register(&server, &dir.path().join("alice"), "alice");
    let bob = register(&server, &dir.path().join("bob"), "bob");
    let (code, out, err) = run(&server, &alice, &["send", "bob", "pay Bob 5 €"]);
    assert_eq!(code, 0, "{err}");
    let id: i64 = out.trim().parse().expect("id");
    let (code, out, err) = run(&server, &bob, &["read", "alice", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        json_lines(&out)
            .iter()
            .any(message_with("pay Bob 5 €", false))
    );

    // The server (compromised) stores the same payload again under a new id — past its own
    // one-IV-once index, as a row without an IV slot.
    let db = server.data_dir.path().join("parley.db");
    let sql = format!(
        "INSERT INTO messages (sender_id, recipient_id, pair_key, kind, payload, created_at) \
         SELECT sender_id, recipient_id, pair_key, kind, payload, created_at FROM messages WHERE id = {id};"
    );
    let done = std::process::Command::new("sqlite3")
        .args(["-cmd", ".timeout 5000"])
        .arg(&db)
        .arg(sql)
        .output()
        .expect("sqlite3");
    assert!(done.status.success(), "{done:?}");

    let (code, out, err) = run(&server, &bob, &["read", "alice", "--json"]);
    assert_eq!(code, 0, "{err}");
    let events = json_lines(&out);
    let shown = events
        .iter()
        .filter(|v| message_with("pay Bob 5 €", false)(v))
        .count();
    assert_eq!(shown, 1, "{out}");
    let replay = events
        .iter()
        .find(|v| is(v, "undecryptable"))
        .unwrap_or_else(|| panic!("no rejected replay: {out}"));
    assert_eq!(replay["reason"], "replay");
    assert!(replay["id"].as_i64().expect("id") > id);
    let (_, human, _) = run(&server, &bob, &["read", "alice"]);
    assert!(human.contains("Rejected replay — not shown"), "{human}");

    // `watch` without --json: human lines.
    let (code, _, err) = run(&server, &alice, &["send", "bob", "in plain words"]);
    assert_eq!(code, 0, "{err}");
    let mut w = Running::start(&server, &bob, &["watch"]);
    let line = w.expect_text("in plain words");
    assert!(line.contains(" alice: in plain words"), "{line}");
    w.expect_text("[up to date]");
}

/// A fresh client reads a conversation longer than one page whose key exchange lies before the
/// page: what arrived since it last looked is taken first (as the browser's backlog comes before
/// its history), so nothing on the page is called lost (E5) — every message decrypts.
#[test]
fn a_first_read_of_a_long_conversation_decrypts_every_message_on_the_page() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tmp");
    let alice = register(&server, &dir.path().join("alice"), "alice");
    let bob = register(&server, &dir.path().join("bob"), "bob");

    // Bob writes 60 messages (his exchange first) while Alice's client has never run.
    let mut b = Running::start(&server, &bob, &["watch", "--json", "--commands"]);
    b.expect("bob connected", |v| is(v, "backlog_done"));
    for n in 1..=60 {
        b.command(&json!({"send": {"to": "alice", "text": format!("Bob {n:02}")}}));
        sent_id(&mut b);
    }
    drop(b);

    let (code, out, err) = run(&server, &alice, &["read", "bob", "--json", "--limit", "50"]);
    assert_eq!(code, 0, "{err}");
    let events = json_lines(&out);
    let texts: Vec<&str> = events
        .iter()
        .filter(|v| is(v, "message"))
        .filter_map(|v| v["text"].as_str())
        .collect();
    let expected: Vec<String> = (11..=60).map(|n| format!("Bob {n:02}")).collect();
    assert_eq!(texts, expected, "{out}");
    assert!(
        !events
            .iter()
            .any(|v| is(v, "local_keys_lost") || is(v, "undecryptable")),
        "nothing lost on a first read: {out}"
    );
    // And paging back (a second process) reaches the first ones, still nothing lost.
    let (code, out, err) = run(&server, &alice, &["read", "bob", "--json", "--limit", "60"]);
    assert_eq!(code, 0, "{err}");
    let events = json_lines(&out);
    assert_eq!(
        events.iter().filter(|v| is(v, "message")).count(),
        60,
        "{out}"
    );
    assert!(!events.iter().any(|v| is(v, "local_keys_lost")), "{out}");
}
