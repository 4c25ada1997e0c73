//! `parley-chat` ↔ `parley-chat` across two server instances sharing one fresh PostgreSQL
//! database (issue 12, X5): Alice's CLI on instance 1, Bob's on instance 2, messages both ways
//! live over each one's WebSocket (the instances relay through the database), ticks, and the
//! history after a restart read through the other instance.

mod chat_support;
mod common;

use chat_support::{Running, is, json_lines, register, run};
use common::{Server, ServerOptions, create_pg_database};
use serde_json::json;

#[test]
fn cli_to_cli_on_two_instances_sharing_postgresql() {
    let db = create_pg_database("parley_chat_pg");
    let one = Server::start_with(ServerOptions {
        database_url: Some(db.clone()),
        tls_from: None,
    });
    let two = Server::start_with(ServerOptions {
        database_url: Some(db),
        tls_from: Some(one.data_dir.path().join("tls")),
    });
    assert_ne!(one.url, two.url);
    let dir = tempfile::tempdir().expect("tmp");
    let alice = register(&one, &dir.path().join("alice"), "alice");
    let bob = register(&two, &dir.path().join("bob"), "bob");

    let mut a = Running::start(&one, &alice, &["watch", "--json", "--commands"]);
    let mut b = Running::start(&two, &bob, &["watch", "--json", "--commands"]);
    a.expect("alice connected", |v| is(v, "backlog_done"));
    b.expect("bob connected", |v| is(v, "backlog_done"));

    let hello = "Hello from instance 1 👋 — Привет\nsecond line";
    a.command(&json!({"send": {"to": "bob", "text": hello}}));
    let sent = a.expect("sent", |v| is(v, "sent"));
    let got = b.expect("hello at bob on instance 2", |v| {
        is(v, "message") && v["text"] == hello && v["mine"] == false
    });
    assert_eq!(got["id"], sent["id"]);
    a.expect("delivered tick across instances", |v| {
        is(v, "delivered") && v["id"] == sent["id"]
    });

    let reply = "Hi from instance 2 🎉 你好";
    b.command(&json!({"send": {"to": "alice", "text": reply}}));
    let sent = b.expect("sent", |v| is(v, "sent"));
    let got = a.expect("reply at alice on instance 1", |v| {
        is(v, "message") && v["text"] == reply && v["mine"] == false
    });
    assert_eq!(got["id"], sent["id"]);

    b.command(&json!({"mark_read": "alice"}));
    a.expect("read tick across instances", |v| is(v, "read"));

    a.command(&json!({"refresh": "bob"}));
    b.expect("keys changed at bob", |v| {
        is(v, "keys_changed") && v["by_me"] == false
    });

    assert!(a.finish().success());
    assert!(b.finish().success());

    // Alice's history through instance 1 after the restart.
    let (code, out, err) = run(&one, &alice, &["read", "bob", "--json"]);
    assert_eq!(code, 0, "{err}");
    let texts: Vec<String> = json_lines(&out)
        .iter()
        .filter(|v| is(v, "message"))
        .map(|v| v["text"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(texts, [hello, reply]);
}
