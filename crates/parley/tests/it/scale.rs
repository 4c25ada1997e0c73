//! X2: two Parley instances on one PostgreSQL database. Users on different instances chat in
//! real time (events travel through LISTEN/NOTIFY), and a client whose instance restarts
//! catches up from the database with nothing lost or duplicated.
//!
//! This test always uses PostgreSQL: `PARLEY_TEST_DATABASE_URL`, or the local server the test
//! script provides at 127.0.0.1:5432.

use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{TestApp, base_args, spawn_with};
use crate::flows::*;
use crate::messaging::{backlog_ids, msg, next_json, ws_connect, ws_live};

pub(crate) async fn instance(
    dir: tempfile::TempDir,
    database_url: &str,
    pepper: &str,
    totp_key: &str,
) -> TestApp {
    instance_with(dir, database_url, pepper, totp_key, |_| {}).await
}

/// An instance on a shared database, with the secrets every instance must share, plus `tweak`.
pub(crate) async fn instance_with(
    dir: tempfile::TempDir,
    database_url: &str,
    pepper: &str,
    totp_key: &str,
    tweak: impl FnOnce(&mut parley::core::Config),
) -> TestApp {
    let args = base_args(dir.path());
    let secret = |s: &str| Some(parley::core::secret::Secret::new(s.to_owned()));
    let (db, pepper, totp_key) = (secret(database_url), secret(pepper), secret(totp_key));
    spawn_with(dir, args, move |c| {
        (c.database_url, c.pepper, c.totp_key) = (db, pepper, totp_key);
        tweak(c);
    })
    .await
}

pub(crate) async fn fresh_database() -> String {
    let base = std::env::var("PARLEY_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres:postgres@127.0.0.1:5432".into());
    crate::common::create_database(&base, "parley_scale").await
}

/// The next `message` frame, skipping receipts.
async fn next_message(ws: &mut crate::messaging::Ws) -> serde_json::Value {
    loop {
        let f = next_json(ws).await;
        if f["type"] == "message" {
            return f;
        }
    }
}

async fn ack(ws: &mut crate::messaging::Ws, id: i64) {
    ws.send(Message::Text(
        json!({"type": "ack", "id": id}).to_string().into(),
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn x2_two_instances_deliver_across_and_catch_up_after_a_restart() {
    let url = fresh_database().await;
    let key = |b: u8| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [b; 32]);
    let (pepper, totp_key) = (key(1), key(2));
    let one = instance(tempfile::tempdir().unwrap(), &url, &pepper, &totp_key).await;
    let dir_two = tempfile::tempdir().unwrap();
    let two = instance(dir_two, &url, &pepper, &totp_key).await;

    // Alice signs up on instance 1, Bob on instance 2; sessions are valid on both.
    let alice = one.register("alice").await;
    let bob = two.register("bobby").await;
    let mut alice_ws = ws_live(&one, &alice).await;
    let mut bob_ws = ws_live(&two, &bob).await;

    // Both ways, in real time.
    let id = alice.sent(&bob, msg(1)).await.id;
    let got = next_json(&mut bob_ws).await;
    assert_eq!(
        got["message"]["id"], id,
        "Bob on instance 2 got Alice's message: {got}"
    );
    ack(&mut bob_ws, id).await;
    assert_eq!(
        next_json(&mut alice_ws).await["message"]["id"],
        id,
        "Alice's own echo"
    );
    let d = next_json(&mut alice_ws).await;
    assert_eq!(
        (d["type"].as_str(), d["id"].as_i64()),
        (Some("delivered"), Some(id)),
        "{d}"
    );
    let reply = bob.sent(&alice, msg(2)).await.id;
    assert_eq!(
        next_message(&mut alice_ws).await["message"]["id"],
        reply,
        "Alice on instance 1 got Bob's reply"
    );
    assert_eq!(
        next_message(&mut bob_ws).await["message"]["id"],
        reply,
        "Bob's own echo"
    );

    // Instance 2 stops while Alice keeps sending; Bob's socket is gone.
    let dir_two = two.stop().await;
    drop(bob_ws);
    let mut while_down = Vec::new();
    for i in 0..5 {
        while_down.push(alice.sent(&bob, msg(10 + i)).await.id);
    }
    // It starts again (same database and keys); Bob reconnects and catches up exactly.
    let two = instance(dir_two, &url, &pepper, &totp_key).await;
    let mut bob_ws = ws_connect(&two, &bob).await;
    let caught: Vec<i64> = backlog_ids(&mut bob_ws).await;
    assert_eq!(
        caught, while_down,
        "nothing lost, nothing duplicated (the acked message is not resent)"
    );
    for id in &caught {
        ack(&mut bob_ws, *id).await;
    }
    // And live delivery works again through the restarted instance.
    let live = alice.sent(&bob, msg(99)).await.id;
    assert_eq!(next_message(&mut bob_ws).await["message"]["id"], live);
    one.stop().await;
    two.stop().await;
}

#[tokio::test]
async fn r6_1_throttle_state_is_shared_across_instances() {
    let url = fresh_database().await;
    let key = |b: u8| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [b; 32]);
    let (pepper, totp_key) = (key(3), key(4));
    let one = instance(tempfile::tempdir().unwrap(), &url, &pepper, &totp_key).await;
    let two = instance(tempfile::tempdir().unwrap(), &url, &pepper, &totp_key).await;
    one.register("alice").await;
    // Five failures on instance 1 ...
    for _ in 0..5 {
        let r = one.password_step("alice", "wrong password entirely").await;
        assert_error(&r, 401, "invalid_credentials");
    }
    // ... count on instance 2: even the right password must wait out the delay there.
    let r = two.password_step("alice", PW).await;
    assert_error(&r, 429, "rate_limited");
    one.stop().await;
    two.stop().await;
}
