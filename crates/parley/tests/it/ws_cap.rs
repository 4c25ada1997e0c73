//! Issue 10: the cap on open WebSockets (a clear `503 busy` with a JSON body and `Retry-After`,
//! a closed socket frees its place), and messages sent on the WebSocket (`send` → `sent` or
//! `error`, the same rules and error codes as `POST /api/conversations/{peer}/messages`).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::backlog::unique_msg;
use crate::common::{TestApp, base_args, spawn_with};
use crate::flows::*;
use crate::messaging::{Ws, backlog, next_json, ws_connect, ws_connect_with};

async fn spawn_cap(max_websockets: usize) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let args = base_args(dir.path());
    spawn_with(dir, args, move |c| c.max_websockets = max_websockets).await
}

#[tokio::test]
async fn issue10_websocket_cap_refuses_with_503_and_a_closed_socket_frees_a_slot() {
    let app = spawn_cap(2).await;
    let alice = app.register("alice").await;
    let bob = app.register("bobby").await;
    let mut first = ws_connect(&app, &alice).await;
    backlog(&mut first).await;
    let mut second = ws_connect(&app, &bob).await;
    backlog(&mut second).await;

    let origin = format!("https://localhost:{}", app.addr.port());
    match ws_connect_with(&app, &alice.cookie, &origin).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), 503);
            assert_eq!(
                res.headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()),
                Some("1")
            );
            let body: Value =
                serde_json::from_slice(res.body().as_deref().unwrap_or_default()).unwrap();
            assert_eq!(body["error"], "busy", "{body}");
            assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
        other => panic!("a 3rd WebSocket was not refused: {:?}", other.map(|_| ())),
    }
    // The two open sockets still work.
    let (s, b) = alice.send_message(&bob, unique_msg()).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(next_json(&mut second).await["type"], "message");

    // Closing one frees its place.
    first.close(None).await.unwrap();
    while first.next().await.is_some() {}
    drop(first);
    let mut again = None;
    for _ in 0..50 {
        if let Ok(ws) = ws_connect_with(&app, &alice.cookie, &origin).await {
            again = Some(ws);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut again = again.expect("a slot freed by a closed socket is reused");
    backlog(&mut again).await;
    drop((again, second));
    app.stop().await;
}

async fn send_frame(ws: &mut Ws, frame: Value) {
    ws.send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
}

/// The next frame of `type` (skipping others, e.g. the echo of one's own message).
async fn next_of(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let f = next_json(ws).await;
        if f["type"] == kind {
            return f;
        }
        assert_ne!(f["type"], "closed", "closed while waiting for {kind}");
    }
}

#[tokio::test]
async fn issue10_send_on_the_websocket_stores_pushes_and_answers_like_the_post() {
    let app = spawn_cap(100).await;
    let alice = app.register("alice").await;
    let bob = app.register("bobby").await;
    let mut a = ws_connect(&app, &alice).await;
    backlog(&mut a).await;
    let mut b = ws_connect(&app, &bob).await;
    backlog(&mut b).await;

    // A send is answered `sent` with the stored message, pushed to the peer, and in history.
    let payload = unique_msg();
    send_frame(
        &mut a,
        json!({"type": "send", "tag": "t1", "peer_id": bob.id, "payload": payload}),
    )
    .await;
    let sent = next_of(&mut a, "sent").await;
    assert_eq!(sent["tag"], "t1");
    let id = sent["message"]["id"].as_i64().unwrap();
    assert_eq!(sent["message"]["sender_id"], alice.id);
    assert_eq!(sent["message"]["recipient_id"], bob.id);
    assert_eq!(sent["message"]["payload"], payload);
    let pushed = next_of(&mut b, "message").await;
    assert_eq!(pushed["message"]["id"], id);
    let (s, page) = body(
        bob.client
            .get(app.url(&format!("/api/conversations/{}/messages", alice.id)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["messages"][0]["id"], id);

    // The same IV again: refused with the POST's code, nothing stored.
    send_frame(
        &mut a,
        json!({"type": "send", "tag": "t2", "peer_id": bob.id, "payload": payload}),
    )
    .await;
    let refused = next_of(&mut a, "error").await;
    assert_eq!(refused["tag"], "t2");
    assert_eq!(refused["error"], "iv_reused", "{refused}");
    let post = alice.send_message(&bob, payload.clone()).await;
    assert_error(&post, 409, "iv_reused");

    // A bad payload, an unknown peer and oneself: the POST's codes and fields.
    send_frame(
        &mut a,
        json!({"type": "send", "tag": "t3", "peer_id": bob.id, "payload": {"v": 2}}),
    )
    .await;
    let bad = next_of(&mut a, "error").await;
    assert_eq!(
        (
            bad["tag"].as_str(),
            bad["error"].as_str(),
            bad["field"].as_str()
        ),
        (Some("t3"), Some("validation_failed"), Some("v"))
    );
    send_frame(
        &mut a,
        json!({"type": "send", "peer_id": "0".repeat(32), "payload": unique_msg()}),
    )
    .await;
    let unknown = next_of(&mut a, "error").await;
    assert_eq!(unknown["error"], "not_found");
    assert!(unknown.get("tag").is_none(), "{unknown}");
    send_frame(
        &mut a,
        json!({"type": "send", "tag": "x".repeat(65), "peer_id": bob.id, "payload": unique_msg()}),
    )
    .await;
    assert_eq!(next_of(&mut a, "error").await["field"], "tag");

    // Many in flight on one socket: every one answered, in the order sent, ids ascending, and
    // each pushed to the peer exactly once.
    let n = 60;
    for i in 0..n {
        send_frame(
            &mut a,
            json!({"type": "send", "tag": format!("m{i}"), "peer_id": bob.id, "payload": unique_msg()}),
        )
        .await;
    }
    let mut ids = Vec::new();
    for i in 0..n {
        let f = next_of(&mut a, "sent").await;
        assert_eq!(f["tag"], format!("m{i}"));
        ids.push(f["message"]["id"].as_i64().unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let mut got = Vec::new();
    while got.len() < n {
        let f = next_of(&mut b, "message").await;
        got.push(f["message"]["id"].as_i64().unwrap());
    }
    // SQLite's writer pushes in id order; PostgreSQL's NOTIFYs of concurrent sends may
    // interleave (as with POSTs): there, once each.
    let sqlite = std::env::var("PARLEY_TEST_DATABASE_URL")
        .unwrap_or_default()
        .is_empty();
    if sqlite {
        assert_eq!(got, ids, "pushed once each, in id order");
    }
    got.sort_unstable();
    assert_eq!(got, ids, "pushed once each");
    drop((a, b));
    app.stop().await;
}

/// The send quota and a deleted peer apply on the WebSocket as on the POST.
#[tokio::test]
async fn issue10_send_on_the_websocket_meets_the_send_quota() {
    let dir = tempfile::tempdir().unwrap();
    let args = base_args(dir.path());
    let app = spawn_with(dir, args, |c| c.quota_sends_per_minute = 2).await;
    let alice = app.register("alice").await;
    let bob = app.register("bobby").await;
    let mut a = ws_connect(&app, &alice).await;
    backlog(&mut a).await;
    for i in 0..3 {
        send_frame(
            &mut a,
            json!({"type": "send", "tag": i.to_string(), "peer_id": bob.id, "payload": unique_msg()}),
        )
        .await;
    }
    assert_eq!(next_of(&mut a, "sent").await["tag"], "0");
    assert_eq!(next_of(&mut a, "sent").await["tag"], "1");
    let over = next_of(&mut a, "error").await;
    assert_eq!(over["tag"], "2");
    assert_eq!(over["error"], "quota_exceeded", "{over}");
    assert!(over["retry_after_secs"].as_u64().is_some());
    drop(a);
    app.stop().await;
}
