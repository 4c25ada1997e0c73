//! Issue 10: the cap on open WebSockets (a clear `503 busy` with a JSON body and `Retry-After`,
//! a closed socket frees its place), and messages sent on the WebSocket (`send` → `sent` or
//! `error`, the same rules and error codes as `POST /api/conversations/{peer}/messages`).

use std::time::Duration;

use parley_api::{ClientFrame, ServerFrame};
use parley_api::{ErrorBody, Message};
use serde_json::{Value, json};

use crate::backlog::unique_msg;
use crate::common::{TestApp, spawn_app_with};
use crate::flows::*;
use crate::messaging::{backlog, ws_connect_with, ws_live};

/// A server with the settings `tweak` makes, alice and bobby signed up, and a live WebSocket
/// for each.
async fn both_online(
    tweak: impl FnOnce(&mut parley::core::Config),
) -> (TestApp, User, User, Ws, Ws) {
    let app = spawn_app_with(tweak).await;
    let alice = app.register("alice").await;
    let bob = app.register("bobby").await;
    let a = ws_live(&app, &alice).await;
    let b = ws_live(&app, &bob).await;
    (app, alice, bob, a, b)
}

#[tokio::test]
async fn issue10_websocket_cap_refuses_with_503_and_a_closed_socket_frees_a_slot() {
    let (app, alice, bob, first, mut second) = both_online(|c| c.max_websockets = 2).await;

    let origin = format!("https://localhost:{}", app.addr.port());
    let third = ws_connect_with(&app, &alice.cookie, &origin).await;
    let retry_after = refused_busy(third, "a 3rd WebSocket");
    assert_eq!(retry_after.as_deref(), Some("1"));
    // The two open sockets still work.
    let (s, b) = alice.send_message(&bob, unique_msg()).await;
    assert_eq!(s, 201, "{b}");
    let f = next_frame(&mut second).await;
    assert!(matches!(f, ServerFrame::Message { .. }), "{f:?}");

    // Closing one frees its place.
    close_ws(first).await;
    let limit = Duration::from_secs(5);
    let mut again = poll(
        "a slot freed by a closed socket is reused",
        limit,
        || async { ws_connect_with(&app, &alice.cookie, &origin).await.ok() },
    )
    .await;
    backlog(&mut again).await;
    drop((again, second));
    app.stop().await;
}

/// Send `payload` to `peer` on the WebSocket, tagged `tag`.
async fn send_on(ws: &mut Ws, tag: Option<String>, peer: &str, payload: Value) {
    let peer_id = peer.to_string();
    send_frame(
        ws,
        ClientFrame::Send {
            tag,
            peer_id,
            payload,
        },
    )
    .await;
}

/// The next `sent` answer: its tag and the stored message (skipping other frames, e.g. the
/// echo of one's own message).
async fn next_sent(ws: &mut Ws) -> (Option<String>, Message) {
    next_where(ws, "sent", |f| match f {
        ServerFrame::Sent { tag, message } => Some((tag, message)),
        _ => None,
    })
    .await
}

/// The next `error` answer: its tag and the error body (skipping other frames).
async fn next_error(ws: &mut Ws) -> (Option<String>, ErrorBody) {
    next_where(ws, "error", |f| match f {
        ServerFrame::Error { tag, error } => Some((tag, error)),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn issue10_send_on_the_websocket_stores_pushes_and_answers_like_the_post() {
    let (app, alice, bob, mut a, mut b) = both_online(|c| c.max_websockets = 100).await;

    // A send is answered `sent` with the stored message, pushed to the peer, and in history.
    let payload = unique_msg();
    send_on(&mut a, Some("t1".into()), &bob.id, payload.clone()).await;
    let (tag, sent) = next_sent(&mut a).await;
    assert_eq!(tag.as_deref(), Some("t1"));
    let id = sent.id;
    assert_eq!(sent.sender_id, alice.id);
    assert_eq!(sent.recipient_id, bob.id);
    assert_eq!(sent.payload, payload);
    assert_eq!(next_message(&mut b).await.id, id);
    let page: parley_api::MessagePage = bob
        .get_json(&format!("/api/conversations/{}/messages", alice.id))
        .await;
    assert_eq!(page.messages[0].id, id);

    // The same IV again: refused with the POST's code, nothing stored.
    send_on(&mut a, Some("t2".into()), &bob.id, payload.clone()).await;
    let (tag, refused) = next_error(&mut a).await;
    assert_eq!(tag.as_deref(), Some("t2"));
    assert_eq!(refused.error, "iv_reused", "{refused:?}");
    let post = alice.send_message(&bob, payload.clone()).await;
    assert_error(&post, 409, "iv_reused");

    // A bad payload, an unknown peer and oneself: the POST's codes and fields.
    send_on(&mut a, Some("t3".into()), &bob.id, json!({"v": 2})).await;
    let (tag, bad) = next_error(&mut a).await;
    assert_eq!(
        (tag.as_deref(), bad.error.as_str(), bad.field.as_deref()),
        (Some("t3"), "validation_failed", Some("v"))
    );
    send_on(&mut a, None, &"0".repeat(32), unique_msg()).await;
    let (tag, unknown) = next_error(&mut a).await;
    assert_eq!(unknown.error, "not_found");
    assert!(tag.is_none(), "{unknown:?}");
    send_on(&mut a, Some("x".repeat(65)), &bob.id, unique_msg()).await;
    assert_eq!(next_error(&mut a).await.1.field.as_deref(), Some("tag"));

    // Many in flight on one socket: every one answered, in the order sent, ids ascending, and
    // each pushed to the peer exactly once.
    let n = 60;
    for i in 0..n {
        send_on(&mut a, Some(format!("m{i}")), &bob.id, unique_msg()).await;
    }
    let mut ids = Vec::new();
    for i in 0..n {
        let (tag, sent) = next_sent(&mut a).await;
        assert_eq!(tag, Some(format!("m{i}")));
        ids.push(sent.id);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let mut got = Vec::new();
    while got.len() < n {
        got.push(next_message(&mut b).await.id);
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
    let (app, _alice, bob, mut a, b) = both_online(|c| c.quota_sends_per_minute = 2).await;
    for i in 0..3 {
        send_on(&mut a, Some(i.to_string()), &bob.id, unique_msg()).await;
    }
    assert_eq!(next_sent(&mut a).await.0.as_deref(), Some("0"));
    assert_eq!(next_sent(&mut a).await.0.as_deref(), Some("1"));
    let (tag, over) = next_error(&mut a).await;
    assert_eq!(tag.as_deref(), Some("2"));
    assert_eq!(over.error, "quota_exceeded", "{over:?}");
    assert!(over.retry_after_secs.is_some());
    drop((a, b));
    app.stop().await;
}
