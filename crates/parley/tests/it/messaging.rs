//! The relay (E1–E10 server side, X1): authorization, shape limits, real-time WebSocket
//! delivery with acknowledgements, catch-up after reconnecting, and hostile input.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use parley_api::ServerFrame;
use parley_api::{Conversations, FoundUser, Keys, MessagePage};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::{TestApp, spawn_app};
use crate::flows::*;

fn b64(n: usize, fill: u8) -> String {
    STANDARD.encode(vec![fill; n])
}

/// IV counters for `msg`: every call gets a new one, since the server refuses a repeated
/// (sender, key set, IV) (E3, issue 8).
static NEXT_IV: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The 12-byte IV of counter `n`, base64.
pub fn iv(n: u64) -> String {
    let mut bytes = [0u8; 12];
    bytes[4..].copy_from_slice(&n.to_be_bytes());
    STANDARD.encode(bytes)
}

/// A well-formed (opaque to the server) encrypted-message payload, with an IV never used before.
pub fn msg(n: u8) -> Value {
    let counter = NEXT_IV.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    json!({"v": 1, "type": "msg", "key_set": "ks1", "iv": iv(counter), "ciphertext": b64(40, n), "mac": b64(32, n)})
}

/// A page of `me`'s conversation with `peer` (`query`: `?before=…&limit=…`).
async fn history(me: &User, peer: &str, query: &str) -> MessagePage {
    me.get_json(&format!("/api/conversations/{peer}/messages{query}"))
        .await
}

pub async fn ws_connect_with(
    app: &TestApp,
    cookie: &str,
    origin: &str,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    ws_open(app.addr, &app.tls_dir().join("ca.pem"), cookie, origin).await
}

/// A WebSocket to the server at `addr` (trusting `ca`) with a session cookie and an `Origin`,
/// as a browser opens it; the error carries a refusal.
pub async fn ws_open(
    addr: std::net::SocketAddr,
    ca: &std::path::Path,
    cookie: &str,
    origin: &str,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let config = Arc::new(crate::common::tls_config_trusting(ca));
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let mut req = format!("wss://localhost:{}/api/ws", addr.port())
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "cookie",
        format!("__Host-parley_session={cookie}").parse().unwrap(),
    );
    req.headers_mut().insert("origin", origin.parse().unwrap());
    tokio_tungstenite::client_async(req, tls)
        .await
        .map(|(ws, _)| ws)
}

pub async fn ws_connect(app: &TestApp, user: &User) -> Ws {
    ws_connect_with(
        app,
        &user.cookie,
        &format!("https://localhost:{}", app.addr.port()),
    )
    .await
    .unwrap()
}

/// A WebSocket for `user` with its backlog read to the end: live from here on.
pub async fn ws_live(app: &TestApp, user: &User) -> Ws {
    let mut ws = ws_connect(app, user).await;
    backlog(&mut ws).await;
    ws
}

/// The ids of the backlog's messages, in order.
pub async fn backlog_ids(ws: &mut Ws) -> Vec<i64> {
    let frames = backlog(ws).await;
    frames.into_iter().map(|f| message_of(f).id).collect()
}

/// Frames up to `backlog_done` (not included).
pub async fn backlog(ws: &mut Ws) -> Vec<ServerFrame> {
    let mut out = Vec::new();
    loop {
        match next_frame(ws).await {
            ServerFrame::BacklogDone => return out,
            f => out.push(f),
        }
    }
}

#[tokio::test]
async fn e_sender_comes_from_the_session_and_only_members_read() {
    let (app, alice, bob) = alice_and_bob().await;
    let carol = app.register("carol").await;
    // A payload that claims another sender changes nothing.
    let mut p = msg(1);
    p["sender_id"] = json!(bob.id);
    let sent = alice.sent(&bob, p).await;
    assert_eq!(sent.sender_id, alice.id);
    assert_eq!(sent.recipient_id, bob.id);
    // Bob sees it; Carol, asking about either of them, sees only her own (empty) conversations.
    assert_eq!(history(&bob, &alice.id, "").await.messages.len(), 1);
    assert!(history(&carol, &alice.id, "").await.messages.is_empty());
    assert!(history(&carol, &bob.id, "").await.messages.is_empty());
    // Unknown peers and oneself are refused.
    let r = carol.send_to(&"0".repeat(32), msg(1)).await;
    assert_error(&r, 404, "not_found");
    let r = carol.send_message(&carol, msg(1)).await;
    assert_error(&r, 422, "validation_failed");
    // Without a session or a CSRF token nothing is sent.
    let r = app.browser().with_csrf("").send_to(&bob.id, msg(1)).await;
    assert_error(&r, 401, "unauthorized");
    let r = alice.with_csrf("").send_to(&bob.id, msg(1)).await;
    assert_error(&r, 403, "csrf_failed");
    app.stop().await;
}

#[tokio::test]
async fn e_payload_shape_and_size_limits_get_clear_errors() {
    let (app, alice, bob) = alice_and_bob().await;
    let cases = [
        (json!("just a string"), "payload"),
        (
            json!({"v": 1, "type": "msg", "key_set": "ks", "iv": "not base64!", "ciphertext": b64(40, 1), "mac": b64(32, 1)}),
            "iv",
        ),
        (
            json!({"v": 1, "type": "msg", "key_set": "ks", "iv": b64(16, 1), "ciphertext": b64(40, 1), "mac": b64(32, 1)}),
            "iv",
        ),
        (
            json!({"v": 1, "type": "msg", "key_set": "ks", "iv": b64(12, 1), "ciphertext": b64(40, 1)}),
            "mac",
        ),
        (
            json!({"v": 1, "type": "msg", "key_set": "ks", "iv": b64(12, 1), "ciphertext": b64(49 * 1024, 1), "mac": b64(32, 1)}),
            "payload",
        ),
        (json!({"v": 1, "type": "shout", "key_set": "ks"}), "type"),
        (json!({"v": 9, "type": "msg", "key_set": "ks"}), "v"),
        (
            json!({"v": 1, "type": "ecdh", "key_set": "ks", "salt": 1, "keys": {"a": "b"}}),
            "keys",
        ),
    ];
    for (payload, field) in cases {
        let r = alice.send_message(&bob, payload.clone()).await;
        assert_error(&r, 422, "validation_failed");
        assert_eq!(r.1["field"], field, "{payload}: {}", r.1);
    }
    let r = alice
        .post(
            &format!("/api/conversations/{}/messages", bob.id),
            json!({"nothing": 1}),
        )
        .await;
    assert_error(&r, 422, "invalid_body");
    assert!(
        history(&bob, &alice.id, "").await.messages.is_empty(),
        "nothing stored"
    );
    app.stop().await;
}

#[tokio::test]
async fn e10_sql_injection_strings_are_stored_and_returned_verbatim() {
    let (app, alice, bob) = alice_and_bob().await;
    let evil = "'); DROP TABLE messages; -- \" OR 1=1 <script>alert(1)</script>";
    let mut p = msg(3);
    p["note"] = json!(evil);
    assert_eq!(alice.send_message(&bob, p).await.0, 201);
    let h = history(&bob, &alice.id, "").await;
    assert_eq!(h.messages[0].payload["note"], evil);
    let lookup = |name: &'static str| {
        let req = alice.client.get(app.url("/api/users"));
        async move { body(req.query(&[("username", name)]).send().await.unwrap()).await }
    };
    assert_error(&lookup("' OR '1'='1").await, 404, "not_found");
    let found: FoundUser = parse(&lookup("bobby").await, 200);
    assert_eq!(found.id, bob.id);
    app.stop().await;
}

#[tokio::test]
async fn keys_are_published_kept_with_history_and_validated() {
    let (app, alice, bob) = alice_and_bob().await;
    let k1 = crate::keysets::point(1);
    let k2 = crate::keysets::point(2);
    assert_eq!(
        alice.post("/api/keys", json!({"public_key": k1})).await.0,
        201
    );
    assert_eq!(
        alice.post("/api/keys", json!({"public_key": k1})).await.0,
        200,
        "idempotent"
    );
    assert_eq!(
        alice.post("/api/keys", json!({"public_key": k2})).await.0,
        201
    );
    let r = alice
        .post("/api/keys", json!({"public_key": b64(65, 4)}))
        .await;
    assert_error(&r, 400, "bad_public_key");
    let keys: Keys = bob.get_json(&format!("/api/users/{}/keys", alice.id)).await;
    assert_eq!(keys.current.as_ref().unwrap().public_key, k2);
    assert_eq!(keys.history.len(), 2, "every key ever published: {keys:?}");
    // Back in the first browser: publishing k1 again makes it current; history keeps both.
    let again = alice.post("/api/keys", json!({"public_key": k1})).await;
    assert_eq!(again.0, 200, "{}", again.1);
    let keys: Keys = bob.get_json(&format!("/api/users/{}/keys", alice.id)).await;
    assert_eq!(keys.current.as_ref().unwrap().public_key, k1, "{keys:?}");
    assert_eq!(keys.history.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn x1_websocket_pushes_in_real_time_and_acks_mark_delivery() {
    let (app, alice, bob) = alice_and_bob().await;
    let mut bob_ws = ws_connect(&app, &bob).await;
    assert!(backlog(&mut bob_ws).await.is_empty());
    let mut alice_ws = ws_live(&app, &alice).await;

    let payload = msg(7);
    let id = alice.sent(&bob, payload.clone()).await.id;
    let pushed = message_of(next_frame(&mut bob_ws).await);
    assert_eq!(pushed.id, id);
    assert_eq!(pushed.payload, payload);
    // Alice's own tab sees her message too (other tabs stay in sync).
    assert_eq!(message_of(next_frame(&mut alice_ws).await).id, id);
    // Bob acknowledges; Alice hears it was delivered.
    ack(&mut bob_ws, id).await;
    let d = next_frame(&mut alice_ws).await;
    assert!(
        matches!(d, ServerFrame::Delivered { id: got, .. } if got == id),
        "{d:?}"
    );
    let h = history(&alice, &bob.id, "").await;
    assert!(h.messages[0].delivered_at.is_some());
    // A read receipt reaches Alice too, and the unread count drops.
    let conv: Conversations = bob.get_json("/api/conversations").await;
    assert_eq!(conv.conversations[0].unread, 1);
    assert_eq!(conv.conversations[0].peer_username, "alice");
    bob.post(
        &format!("/api/conversations/{}/read", alice.id),
        json!({"up_to": id}),
    )
    .await;
    let ServerFrame::Read { reader, peer, .. } = next_frame(&mut alice_ws).await else {
        panic!("a read receipt");
    };
    assert_eq!(peer, alice.id, "names the conversation");
    assert_eq!(reader, bob.id);
    let conv: Conversations = bob.get_json("/api/conversations").await;
    assert_eq!(conv.conversations[0].unread, 0);
    app.stop().await;
}

#[tokio::test]
async fn x1_reconnect_catches_up_with_nothing_lost() {
    let (app, alice, bob) = alice_and_bob().await;
    // Bob is offline while Alice sends five messages.
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(alice.sent(&bob, msg(i)).await.id);
    }
    let mut ws = ws_connect(&app, &bob).await;
    let got: Vec<i64> = backlog_ids(&mut ws).await;
    assert_eq!(got, ids, "the backlog, in order");
    // He acknowledges three, then the socket drops.
    for id in &ids[..3] {
        ack(&mut ws, *id).await;
    }
    // The server has stored the three acks (Alice sees them delivered) before the drop.
    wait_for("three acks stored", Duration::from_secs(5), || async {
        let page: parley_api::MessagePage = alice
            .get_json(&format!("/api/conversations/{}/messages", bob.id))
            .await;
        page.messages
            .iter()
            .filter(|m| m.delivered_at.is_some())
            .count()
            == 3
    })
    .await;
    drop(ws);
    ids.push(alice.sent(&bob, msg(9)).await.id);
    let mut ws = ws_connect(&app, &bob).await;
    let got: Vec<i64> = backlog_ids(&mut ws).await;
    assert_eq!(got, ids[3..].to_vec(), "exactly the unacknowledged ones");
    app.stop().await;
}

#[tokio::test]
async fn x1_websocket_needs_a_full_session_and_this_origin() {
    let app = spawn_app().await;
    let bob = app.register("bobby").await;
    let origin = format!("https://localhost:{}", app.addr.port());
    assert!(
        ws_connect_with(&app, &bob.cookie, "https://evil.example")
            .await
            .is_err(),
        "cross-site"
    );
    assert!(
        ws_connect_with(&app, "forged", &origin).await.is_err(),
        "no session"
    );
    // A session that passed only the password step cannot open one (7.1-no-higher-aal).
    let client = app.browser();
    let res = client.login_response("bobby", PW).await;
    let pending = session_cookie(&res);
    assert!(
        ws_connect_with(&app, &pending, &origin).await.is_err(),
        "pending session"
    );
    app.stop().await;
}

/// A fresh server with bobby signed up and his WebSocket live.
async fn bob_online() -> (TestApp, User, Ws) {
    let app = spawn_app().await;
    let bob = app.register("bobby").await;
    let ws = ws_live(&app, &bob).await;
    (app, bob, ws)
}

#[tokio::test]
async fn r7_1_secret_3_logout_closes_the_sessions_websockets() {
    let (app, bob, mut ws) = bob_online().await;
    assert_eq!(bob.post("/api/logout", json!({})).await.0, 204);
    assert_eq!(next_event(&mut ws).await, WsEvent::Closed(Some(4001)));
    app.stop().await;
}

#[tokio::test]
async fn r4_2_3_terminate_an_idle_timeout_closes_open_websockets() {
    let (app, _bob, mut ws) = bob_online().await;
    app.state().clock.advance(31 * 60);
    // The socket re-checks its session every 20 s.
    let code = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match read_event(&mut ws).await {
                Some(WsEvent::Closed(code)) => return code,
                Some(WsEvent::Frame(_)) => continue,
                None => return None,
            }
        }
    })
    .await
    .expect("closed within 30 s");
    assert_eq!(code, Some(4001));
    app.stop().await;
}

#[tokio::test]
async fn history_pages_in_both_directions_with_a_bounded_size() {
    let (app, alice, bob) = alice_and_bob().await;
    let mut ids = Vec::new();
    for i in 0..120u32 {
        ids.push(alice.sent(&bob, msg((i % 250) as u8)).await.id);
    }
    let latest = history(&bob, &alice.id, "").await;
    let page: Vec<i64> = latest.messages.iter().map(|m| m.id).collect();
    assert_eq!(page, ids[70..].to_vec(), "the latest 50, ascending");
    let older = history(&bob, &alice.id, &format!("?before={}&limit=30", page[0])).await;
    let older: Vec<i64> = older.messages.iter().map(|m| m.id).collect();
    assert_eq!(older, ids[40..70].to_vec());
    let newer = history(&bob, &alice.id, &format!("?after={}&limit=1000", ids[10])).await;
    assert_eq!(
        newer.messages.len(),
        109,
        "all 109 newer ones fit in one clamped page"
    );
    assert_eq!(newer.limit, 200, "clamped");
    app.stop().await;
}
