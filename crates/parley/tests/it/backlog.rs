//! Issue 9 item 7: the WebSocket backlog has no ceiling. It is sent in pages of
//! `BACKLOG_PAGE`, the next page only once the previous one is acknowledged (bounded memory on
//! both sides), until every unacknowledged message was sent once; then `backlog_done`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use parley::http::ws::BACKLOG_PAGE;
use parley_api::{ClientFrame, ServerFrame};
use serde_json::{Value, json};

use crate::flows::*;
use crate::messaging::ws_connect;

/// A well-formed `msg` payload with an IV never used before in this test process (the server
/// may refuse a repeated (sender, key set, IV)).
pub fn unique_msg() -> Value {
    use base64::Engine;
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut iv = [0u8; 12];
    iv[4..].copy_from_slice(&n.to_be_bytes());
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    json!({"v": 1, "type": "msg", "key_set": "ks1", "iv": b64(&iv), "ciphertext": b64(&[7u8; 40]), "mac": b64(&[9u8; 32])})
}

/// `count` messages from `from` to `to` through the API, `parallel` at a time; their ids in
/// ascending order.
pub async fn send_many(from: &User, to: &User, count: usize, parallel: usize) -> Vec<i64> {
    use futures_util::StreamExt;
    let mut ids: Vec<i64> = futures_util::stream::iter(0..count)
        .map(|_| async move { from.sent(to, unique_msg()).await.id })
        .buffer_unordered(parallel)
        .collect()
        .await;
    ids.sort_unstable();
    ids
}

pub async fn ack_all(ws: &mut Ws, ids: &[i64]) {
    for chunk in ids.chunks(200) {
        let ids = chunk.to_vec();
        send_frame(ws, ClientFrame::Ack { id: None, ids }).await;
    }
}

#[tokio::test]
async fn issue9_item7_ten_thousand_offline_messages_delivered_exactly_once() {
    const COUNT: usize = 10_000;
    let (app, alice, bob) = alice_and_bob().await;
    let started = Instant::now();
    let sent = send_many(&alice, &bob, COUNT, 16).await;
    let send_time = started.elapsed();

    let started = Instant::now();
    let mut ws = ws_connect(&app, &bob).await;
    let mut got = Vec::with_capacity(COUNT);
    let mut seen = HashSet::new();
    let mut unacked = Vec::new();
    let mut pages = 0;
    // Page 2 starts with this message; it must not come before page 1 is acknowledged. (On
    // PostgreSQL a few of the newest messages may also arrive as live pushes, their NOTIFY
    // landing after this socket registered: those are not pages.)
    let page_two_first = sent[BACKLOG_PAGE as usize];
    loop {
        // A quiet moment means the server waits for acks.
        let Some(f) = event_within(&mut ws, Duration::from_millis(400)).await else {
            assert!(
                started.elapsed() < Duration::from_secs(180),
                "the backlog stalled"
            );
            if unacked.is_empty() {
                continue; // a slow page read (a busy machine)
            }
            ack_all(&mut ws, &unacked).await;
            unacked.clear();
            pages += 1;
            continue;
        };
        match f {
            WsEvent::Frame(ServerFrame::Message { message }) => {
                let id = message.id;
                assert!(seen.insert(id), "message {id} sent twice");
                assert!(
                    pages > 0 || id != page_two_first,
                    "a second page before the first was acknowledged"
                );
                got.push(id);
                unacked.push(id);
                if pages > 0 && unacked.len() as i64 >= BACKLOG_PAGE {
                    ack_all(&mut ws, &unacked).await;
                    unacked.clear();
                    pages += 1;
                }
            }
            WsEvent::Frame(ServerFrame::BacklogDone) => break,
            _ => {}
        }
    }
    ack_all(&mut ws, &unacked).await;
    let drain_time = started.elapsed();
    assert_eq!(got.len(), COUNT, "every message arrived");
    got.sort_unstable();
    assert_eq!(got, sent, "every message exactly once");

    // Everything is recorded as delivered: a new connection has no backlog left.
    let mut again = ws_connect(&app, &bob).await;
    let mut tries = 0;
    loop {
        let f = next_frame(&mut again).await;
        if f == ServerFrame::BacklogDone {
            break;
        }
        // Acks of the last page may still be in flight when this socket reads its backlog.
        assert!(matches!(f, ServerFrame::Message { .. }), "{f:?}");
        tries += 1;
        assert!(tries <= BACKLOG_PAGE, "the backlog was not drained");
    }
    println!(
        "{COUNT} messages: sent through the API in {send_time:?}, delivered over the WebSocket in {drain_time:?} ({} pages)",
        pages + 1
    );
    app.stop().await;
}

#[tokio::test]
async fn issue9_item7_live_pushes_during_a_backlog_are_not_sent_twice() {
    let (app, alice, bob) = alice_and_bob().await;
    let first = send_many(&alice, &bob, 250, 8).await;
    let mut ws = ws_connect(&app, &bob).await;
    // The first page arrives; while it is unacknowledged, new messages are pushed live.
    let mut got = Vec::new();
    for _ in 0..BACKLOG_PAGE {
        got.push(message_of(next_frame(&mut ws).await).id);
    }
    let live = send_many(&alice, &bob, 5, 1).await;
    // Only backlog messages are acknowledged until the end: the live ones stay unacknowledged,
    // so the later backlog pages must skip them (this socket already sent them).
    let mut unacked: Vec<i64> = got.clone();
    loop {
        match next_frame(&mut ws).await {
            ServerFrame::Message { message } => {
                let id = message.id;
                got.push(id);
                if !live.contains(&id) {
                    unacked.push(id);
                }
            }
            ServerFrame::BacklogDone => break,
            _ => {}
        }
        if unacked.len() as i64 >= BACKLOG_PAGE {
            ack_all(&mut ws, &unacked).await;
            unacked.clear();
        }
    }
    ack_all(&mut ws, &unacked).await;
    ack_all(&mut ws, &live).await;
    let mut want: Vec<i64> = first.iter().chain(&live).copied().collect();
    want.sort_unstable();
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted, want,
        "each message exactly once (live pushes are not repeated in the backlog)"
    );
    app.stop().await;
}
