//! `parley-chat` ↔ `parley-chat` on one real server (issue 12, X5): live messages both ways
//! over the WebSocket (`watch --json --commands`), ticks, Refresh from each side, equal safety
//! numbers, history decrypted after a restart (`read --json`), and the key-change rules: a
//! verified contact's new key blocks `send` (exit 7) until `accept-key`, and the side that lost
//! its keys sees `local_keys_lost` for its old history.

mod chat_support;
mod common;

use chat_support::{Running, is, json_lines, login, register, run, state_file};
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

    // Alice → Bob, live; the tick goes to delivered when Bob's client stored it.
    a.command(&json!({"send": {"to": "bob", "text": HELLO}}));
    let hello_id = sent_id(&mut a);
    let got = b.expect("hello at bob", message_with(HELLO, false));
    assert_eq!(got["id"], hello_id);
    assert_eq!(got["peer"], alice.id);
    assert_eq!(got["peer_username"], "alice");
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

    // Bob loses his local state and signs in again: a new identity key.
    std::fs::remove_file(state_file(&server, &bob)).expect("remove bob's state");
    login(&mut server, &bob);
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

    // Alice: the key-change warning (verified), and sending held back.
    let (code, out, err) = run(&server, &alice, &["read", "bob", "--json"]);
    assert_eq!(code, 0, "{err}");
    let events = json_lines(&out);
    assert!(
        events
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
