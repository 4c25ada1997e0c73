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
use crate::messaging::{backlog, msg, next_json, send, ws_connect};

const PW: &str = "violet lantern 42 orbit";

pub(crate) async fn instance(
    dir: tempfile::TempDir,
    database_url: &str,
    pepper: &str,
    totp_key: &str,
) -> TestApp {
    let args = base_args(dir.path());
    let (db, pepper, totp_key) = (
        database_url.to_owned(),
        pepper.to_owned(),
        totp_key.to_owned(),
    );
    spawn_with(dir, args, move |c| {
        c.database_url = Some(parley::core::secret::Secret::new(db));
        c.pepper = Some(parley::core::secret::Secret::new(pepper));
        c.totp_key = Some(parley::core::secret::Secret::new(totp_key));
    })
    .await
}

pub(crate) async fn fresh_database() -> String {
    use sqlx::Connection;
    let base = std::env::var("PARLEY_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres:postgres@127.0.0.1:5432".into());
    let base = base.trim_end_matches('/');
    let name = format!("parley_scale_{}", parley::service::crypto::random_id());
    let mut admin = sqlx::postgres::PgConnection::connect(&format!("{base}/postgres"))
        .await
        .expect("a PostgreSQL server (scripts/setup-test-deps.sh starts one)");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    format!("{base}/{name}")
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
    let alice = register(&one, "alice", PW).await;
    let bob = register(&two, "bobby", PW).await;
    let mut alice_ws = ws_connect(&one, &alice).await;
    backlog(&mut alice_ws).await;
    let mut bob_ws = ws_connect(&two, &bob).await;
    backlog(&mut bob_ws).await;

    // Both ways, in real time.
    let id = send(&one, &alice, &bob, msg(1)).await.1["message"]["id"]
        .as_i64()
        .unwrap();
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
    let reply = send(&two, &bob, &alice, msg(2)).await.1["message"]["id"]
        .as_i64()
        .unwrap();
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
        while_down.push(
            send(&one, &alice, &bob, msg(10 + i)).await.1["message"]["id"]
                .as_i64()
                .unwrap(),
        );
    }
    // It starts again (same database and keys); Bob reconnects and catches up exactly.
    let two = instance(dir_two, &url, &pepper, &totp_key).await;
    let mut bob_ws = ws_connect(&two, &bob).await;
    let caught: Vec<i64> = backlog(&mut bob_ws)
        .await
        .iter()
        .map(|f| f["message"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        caught, while_down,
        "nothing lost, nothing duplicated (the acked message is not resent)"
    );
    for id in &caught {
        ack(&mut bob_ws, *id).await;
    }
    // And live delivery works again through the restarted instance.
    let live = send(&one, &alice, &bob, msg(99)).await.1["message"]["id"]
        .as_i64()
        .unwrap();
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
    register(&one, "alice", PW).await;
    // Five failures on instance 1 ...
    for _ in 0..5 {
        let r = login_password(
            &one,
            &browser(&one),
            "alice",
            "wrong password entirely",
            None,
        )
        .await;
        assert_error(&r, 401, "invalid_credentials");
    }
    // ... count on instance 2: even the right password must wait out the delay there.
    let r = login_password(&two, &browser(&two), "alice", PW, None).await;
    assert_error(&r, 429, "rate_limited");
    one.stop().await;
    two.stop().await;
}
