//! `GET /api/ws`: one WebSocket per tab, on the same origin, authenticated by the session
//! cookie with an `Origin` check (no token in the URL). On connect the server sends every
//! message not yet acknowledged, then `{"type":"backlog_done"}`; afterwards it pushes new
//! messages, receipts and key events. The client acknowledges each message it has stored
//! (`{"type":"ack","id":N}`); only then is it marked delivered (Signal's ack-based delivery).
//! Server pings every 25 s; a session that ends or times out closes its sockets (code 4001).

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, Uri, header};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;

use crate::core::AppError;
use crate::db::sessions::SessionRow;
use crate::http::AppState;
use crate::http::auth::{PassiveSession, cookie, origin_matches, request_host};
use crate::service::realtime::{Event, Frame};
use crate::service::sessions::{self, COOKIE};

const PING_EVERY: Duration = Duration::from_secs(25);
const DEAD_AFTER: Duration = Duration::from_secs(70);
const REVALIDATE_EVERY: Duration = Duration::from_secs(20);
const BACKLOG_MAX: i64 = 1000;

/// Browsers always send `Origin` on WebSocket handshakes; it must be this site.
fn check_origin(state: &AppState, headers: &HeaderMap, uri: &Uri) -> Result<(), AppError> {
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .ok_or(AppError::CrossSite)?;
    let host = request_host(headers, uri);
    if !origin_matches(&state.config, origin, host.as_deref()) {
        return Err(AppError::CrossSite);
    }
    Ok(())
}

pub async fn connect(
    State(state): State<AppState>,
    PassiveSession(auth): PassiveSession,
    headers: HeaderMap,
    uri: Uri,
    ws: WebSocketUpgrade,
) -> Result<Response, AppError> {
    check_origin(&state, &headers, &uri)?;
    let slot = state.quotas.socket(&auth.session.id_hash)?; // held while the socket is open
    let token = cookie(&headers, COOKIE).unwrap_or_default().to_owned();
    Ok(ws
        .max_message_size(16 * 1024)
        .on_upgrade(move |socket| async move {
            run(state, auth.session, token, socket).await;
            drop(slot);
        }))
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientFrame {
    Ack { id: i64 },
}

async fn run(state: AppState, session: SessionRow, token: String, socket: WebSocket) {
    let user = session.user_id.clone();
    let (_registration, mut rx) = state.events.hub.register(&user, &session.id_hash);
    let (mut sink, mut stream) = socket.split();

    // The backlog: everything not yet acknowledged, oldest first.
    match state.db.undelivered(&user, BACKLOG_MAX).await {
        Ok(list) => {
            for m in list {
                let frame = serde_json::json!({"type": "message", "message": m}).to_string();
                if sink.send(Message::Text(frame.into())).await.is_err() {
                    return;
                }
            }
        }
        Err(e) => return tracing::warn!(error = %e, "cannot load the backlog"),
    }
    if sink
        .send(Message::Text(r#"{"type":"backlog_done"}"#.into()))
        .await
        .is_err()
    {
        return;
    }

    let mut ping = tokio::time::interval(PING_EVERY);
    let mut revalidate = tokio::time::interval(REVALIDATE_EVERY);
    let mut last_seen = Instant::now();
    let close = |code: u16, reason: &'static str| {
        Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }))
    };
    loop {
        tokio::select! {
            frame = rx.recv() => match frame {
                Some(Frame::Text(t)) => {
                    if sink.send(Message::Text(t.as_ref().into())).await.is_err() { break; }
                }
                Some(Frame::Close(code, reason)) => {
                    let _ = sink.send(close(code, reason)).await;
                    break;
                }
                None => {
                    // Dropped by the hub: the client fell behind. It reconnects and catches up.
                    let _ = sink.send(close(4008, "too slow; reconnect")).await;
                    break;
                }
            },
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(t))) => {
                    last_seen = Instant::now();
                    if let Ok(ClientFrame::Ack { id }) = serde_json::from_str::<ClientFrame>(&t) {
                        let now = state.clock.now();
                        match state.db.mark_delivered(&user, id, now).await {
                            Ok(Some(sender)) => {
                                state.events.publish(Event::Delivered { id, at: now, to: vec![sender, user.clone()] }).await;
                            }
                            Ok(None) => {}
                            Err(e) => tracing::warn!(error = %e, "cannot record an ack"),
                        }
                    }
                }
                Some(Ok(Message::Pong(_) | Message::Ping(_) | Message::Binary(_))) => last_seen = Instant::now(),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            },
            _ = ping.tick() => {
                if last_seen.elapsed() > DEAD_AFTER { break; }
                // Pings are not user activity: they never touch the session (4.2.3-idle-30m).
                if sink.send(Message::Ping(Vec::new().into())).await.is_err() { break; }
            },
            _ = revalidate.tick() => {
                // Idle and absolute limits apply to open sockets too (4.2.3-terminate).
                // The close reason says why, since the session is gone for later requests.
                match sessions::validate(&state.db, &state.clock, &token).await {
                    Ok(_) => {}
                    Err(AppError::SessionExpired { reason: "absolute" }) => {
                        let _ = sink.send(close(4001, "session ended: absolute")).await;
                        break;
                    }
                    Err(AppError::SessionExpired { .. }) => {
                        let _ = sink.send(close(4001, "session ended: idle")).await;
                        break;
                    }
                    Err(AppError::Unauthorized) => {
                        let _ = sink.send(close(4001, "session ended")).await;
                        break;
                    }
                    // A database hiccup signs nobody out; the next check decides.
                    Err(e) => tracing::warn!(error = %e, "cannot re-check a WebSocket's session"),
                }
            }
        }
    }
}
