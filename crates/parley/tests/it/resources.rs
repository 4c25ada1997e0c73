//! Issue 9 item 2 and the resource tests: no connection can be held open for free. Silent TCP
//! and silent TLS connections are closed, idle HTTP/1.1 keep-alive and HTTP/2 connections are
//! closed, WebSockets hold a connection slot and have their own cap (`503 busy`), a client
//! flooding its WebSocket is cut off — and meanwhile everyone else is answered quickly.
//!
//! Stated times (docs/security.md): TLS handshake 10 s, first request 10 s after it, HTTP/1
//! headers 10 s, idle connection `idle_timeout_secs` (60 s by default; 2 s in these tests).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::Message;

use crate::backlog::unique_msg;
use crate::common::{TestApp, spawn_app_with};
use crate::flows::*;
use crate::messaging::{ws_connect_with, ws_live};

/// What "answered quickly" means while the server is under these loads.
const LATENCY: Duration = Duration::from_secs(1);
/// Slack on top of a stated timeout (timer granularity, a busy 2-core machine).
const SLACK: Duration = Duration::from_secs(4);

async fn spawn_idle(idle_secs: u64, tweak: impl FnOnce(&mut parley::core::Config)) -> TestApp {
    spawn_app_with(move |c| {
        c.idle_timeout_secs = idle_secs;
        tweak(c);
    })
    .await
}

fn held(app: &TestApp) -> usize {
    app.server.as_ref().unwrap().open_connections()
}

async fn tls(app: &TestApp, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
    let mut config = crate::common::tls_config_trusting(&app.tls_dir().join("ca.pem"));
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(app.addr).await.unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap()
}

/// A server that closes connections idle for 2 s, the idle time, and a TLS connection to it
/// that offers `alpn`.
async fn idle_after_2s(alpn: &[u8]) -> (TestApp, Duration, TlsStream<TcpStream>) {
    let idle = Duration::from_secs(2);
    let app = spawn_idle(idle.as_secs(), |_| {}).await;
    let stream = tls(&app, &[alpn]).await;
    (app, idle, stream)
}

/// Waits until the server closes the stream; returns how long that took.
async fn closed_within<S: tokio::io::AsyncRead + Unpin>(s: &mut S, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 256];
    let r = tokio::time::timeout(limit, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        r.is_ok(),
        "the server kept the connection open for {limit:?}"
    );
    started.elapsed()
}

/// A health check; returns how long it took.
async fn health(app: &TestApp) -> Duration {
    let started = Instant::now();
    let res = app.fetch("/api/health").await;
    assert_eq!(res.status(), 200);
    started.elapsed()
}

#[tokio::test]
async fn issue9_item2_silent_tls_connection_closed() {
    let app = spawn_idle(60, |_| {}).await;
    // Connections that finish the TLS handshake and then say nothing (the old server kept them
    // forever: hyper-util's protocol detection has no timeout).
    let mut silent = Vec::new();
    for _ in 0..50 {
        silent.push(tls(&app, &[b"http/1.1"]).await);
    }
    let h2 = tls(&app, &[b"h2"]).await;
    silent.push(h2);
    let held_before = held(&app);
    assert!(held_before >= 51, "{held_before} connections held");
    let limit = parley::server::FIRST_REQUEST_TIMEOUT + SLACK;
    let mut longest = Duration::ZERO;
    for s in &mut silent {
        longest = longest.max(closed_within(s, limit).await);
    }
    assert!(
        longest >= parley::server::FIRST_REQUEST_TIMEOUT - Duration::from_secs(2),
        "not cut before the stated time ({longest:?})"
    );
    wait_until("slots released", SLACK, || held(&app) == 0).await;
    println!(
        "silent TLS: {held_before} held, all closed after {longest:?}, {} held after",
        held(&app)
    );
    app.stop().await;
}

#[tokio::test]
async fn issue9_item2_idle_http2_connection_closed() {
    let (app, idle, stream) = idle_after_2s(b"h2").await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut send_request, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    let conn = tokio::spawn(conn);
    for _ in 0..3 {
        // Requests keep it alive...
        let req = hyper::Request::get(format!("https://localhost:{}/api/health", app.addr.port()))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let res = send_request.send_request(req).await.unwrap();
        assert_eq!(res.status(), 200);
        // The subject: requests half an idle period apart keep the connection alive.
        tokio::time::sleep(idle / 2).await;
    }
    // ... and once idle, the server sends GOAWAY and closes it.
    let started = Instant::now();
    let ended = tokio::time::timeout(idle + SLACK, conn).await;
    assert!(ended.is_ok(), "the idle HTTP/2 connection is still open");
    let took = started.elapsed();
    assert!(
        took >= idle / 2 - Duration::from_millis(200),
        "closed too early: {took:?}"
    );
    wait_until("slot released", SLACK, || held(&app) == 0).await;
    println!("idle HTTP/2 closed {took:?} after the last request ended (idle {idle:?})");
    app.stop().await;
}

#[tokio::test]
async fn issue9_item2_idle_http1_keepalive_connection_closed() {
    let (app, idle, stream) = idle_after_2s(b"http/1.1").await;
    let (mut send_request, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    let req = hyper::Request::get("/api/health")
        .header("host", "localhost")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    assert_eq!(send_request.send_request(req).await.unwrap().status(), 200);
    let started = Instant::now();
    let ended = tokio::time::timeout(idle + SLACK, conn).await;
    assert!(
        ended.is_ok(),
        "the idle keep-alive connection is still open"
    );
    println!(
        "idle HTTP/1.1 keep-alive closed after {:?}",
        started.elapsed()
    );
    app.stop().await;
}

#[tokio::test]
async fn issue9_item2_many_silent_sockets_while_others_are_answered() {
    let app = spawn_idle(60, |_| {}).await;
    // 3,000 TCP connections that never start TLS and 300 that finish it and go silent: none of
    // them may delay anybody else.
    let mut tcp = Vec::new();
    for _ in 0..3_000 {
        tcp.push(TcpStream::connect(app.addr).await.unwrap());
    }
    let mut silent_tls = Vec::new();
    for _ in 0..300 {
        silent_tls.push(tls(&app, &[b"http/1.1"]).await);
    }
    let held_under_load = held(&app);
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        worst = worst.max(health(&app).await);
    }
    assert!(worst < LATENCY, "others waited {worst:?}");
    // All of them are closed within the stated times, and their slots come back.
    let limit = parley::server::HANDSHAKE_TIMEOUT + parley::server::FIRST_REQUEST_TIMEOUT + SLACK;
    for s in &mut silent_tls {
        closed_within(s, limit).await;
    }
    for s in &mut tcp {
        closed_within(s, limit).await;
    }
    // (app.client keeps its one keep-alive connection)
    wait_until("slots released", SLACK, || held(&app) <= 1).await;
    println!(
        "{held_under_load} connections held under load (others answered in at most {worst:?}); {} after",
        held(&app)
    );
    app.stop().await;
}

#[tokio::test]
async fn issue9_item2_websockets_hold_a_connection_slot_and_have_a_cap() {
    let app = spawn_idle(60, |c| {
        c.max_connections = 64;
        c.max_websockets = 6;
    })
    .await;
    let mut users = Vec::new();
    for name in ["alice", "bobby", "carol"] {
        users.push(app.register(name).await);
    }
    let idle_held = held(&app);
    let mut sockets = Vec::new();
    for u in &users {
        for _ in 0..2 {
            let ws = ws_live(&app, u).await;
            sockets.push(ws);
        }
    }
    // The old server released the slot at the upgrade: six open sockets held nothing.
    assert!(
        held(&app) >= idle_held + 6,
        "6 WebSockets hold {} slots (idle: {idle_held})",
        held(&app)
    );
    // The seventh is refused with a clear answer.
    let origin = format!("https://localhost:{}", app.addr.port());
    let seventh = ws_connect_with(&app, &users[0].cookie, &origin).await;
    refused_busy(seventh, "a 7th WebSocket");
    // Ordinary requests still get through, and a closed socket frees its place.
    assert!(health(&app).await < LATENCY);
    close_ws(sockets.pop().unwrap()).await;
    let limit = Duration::from_secs(5);
    let again = poll(
        "a slot freed by a closed socket is reused",
        limit,
        || async { ws_connect_with(&app, &users[0].cookie, &origin).await.ok() },
    )
    .await;
    drop((sockets, again));
    wait_until("slots released", SLACK, || held(&app) <= idle_held + 1).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn issue9_item2_websocket_flood_is_cut_off_and_others_keep_going() {
    let app = spawn_idle(60, |_| {}).await;
    let mallory = app.register("mallory").await;
    let alice = app.register("alice").await;
    let bob = app.register("bobby").await;
    let mut bob_ws = ws_live(&app, &bob).await;

    // Mallory sends frames as fast as she can: acks of messages that were never pushed to her.
    let flood = ws_live(&app, &mallory).await;
    let (mut tx, mut rx) = flood.split();
    let sender = tokio::spawn(async move {
        let mut sent = 0u64;
        let frame = serde_json::to_string(&ack_frame(987_654_321)).unwrap();
        while tx.send(Message::Text(frame.as_str().into())).await.is_ok() {
            sent += 1;
            if sent.is_multiple_of(64) {
                tokio::task::yield_now().await;
            }
            if sent > 2_000_000 {
                break;
            }
        }
        sent
    });
    let started = Instant::now();
    // SQLite: cut off in well under a second; PostgreSQL (a transaction per bogus ack): a few
    // seconds on a busy machine. The socket is split (the task above floods its sending half),
    // so this half is read raw: only its close frame counts.
    let close = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(m) = rx.next().await {
            if let Ok(Message::Close(c)) = m {
                return c.map(|c| u16::from(c.code));
            }
            if m.is_err() {
                return None;
            }
        }
        None
    })
    .await
    .expect("the flooding socket is closed within 30 s");
    let cut_after = started.elapsed();
    assert_eq!(close, Some(1008), "closed as a policy violation");
    let sent = sender.await.unwrap();

    // Meanwhile and after, Alice's messages reach Bob at once.
    let mut worst = Duration::ZERO;
    for _ in 0..10 {
        let t = Instant::now();
        let id = alice.sent(&bob, unique_msg()).await.id;
        assert_eq!(message_of(next_frame(&mut bob_ws).await).id, id);
        worst = worst.max(t.elapsed());
    }
    assert!(worst < LATENCY, "delivery took {worst:?}");
    println!(
        "flood: {sent} frames sent, cut off with 1008 after {cut_after:?}; others' delivery at most {worst:?}"
    );
    app.stop().await;
}
