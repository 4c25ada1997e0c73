//! `GET /api/ws`: one WebSocket per tab, on the same origin, authenticated by the session
//! cookie with an `Origin` check (no token in the URL). On connect the server sends every
//! message not yet acknowledged, in pages of `BACKLOG_PAGE` (the next page only once the
//! previous one is acknowledged, so memory stays bounded however long the backlog), then
//! `{"type":"backlog_done"}`; meanwhile and afterwards it pushes new messages, receipts and key
//! events. The client acknowledges each message it has stored (`{"type":"ack","id":N}` or
//! `{"type":"ack","ids":[…]}`, at most `ACK_IDS_MAX` ids); only then is it marked delivered
//! (Signal's ack-based delivery). A socket sends each message at most once.
//!
//! Limits (docs/security.md): `max_websockets` open sockets (then `503 busy`); each socket
//! holds one of the server's connection slots until it closes; client frames are metered by
//! a token bucket (`FRAME_BUDGET`, refilled at `FRAME_RATE` per second; acks of messages this
//! socket pushed are free) and a socket that floods is closed with 1008. Server pings every
//! 25 s; a session that ends or times out closes its sockets (code 4001); a server shutting
//! down closes them with 1012.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, Uri, header};
use axum::response::Response;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesOrdered;
use futures_util::{SinkExt, StreamExt};
use parley_api as api;
pub use parley_api::ClientFrame;
use parley_api::ServerFrame;
pub use parley_api::limits::{ACK_IDS_MAX, BACKLOG_PAGE, MAX_FRAME_BYTES};
use tokio::sync::{OwnedSemaphorePermit, oneshot};

use crate::core::AppError;
use crate::db::messages::Turn;
use crate::db::sessions::SessionRow;
use crate::http::AppState;
use crate::http::auth::{PassiveSession, cookie, origin_matches, request_host};
use crate::service::realtime::Frame;
use crate::service::sessions::COOKIE;

const PING_EVERY: Duration = Duration::from_secs(25);
const DEAD_AFTER: Duration = Duration::from_secs(70);
const REVALIDATE_EVERY: Duration = Duration::from_secs(20);
/// Pushed messages awaiting their ack that one socket remembers (beyond, the oldest is
/// forgotten: it stays undelivered and comes back in the next backlog — never lost).
pub const OUTSTANDING_MAX: usize = 4096;
/// Client frames (and acked ids this socket did not push) a socket may send in a burst...
pub const FRAME_BUDGET: f64 = 1000.0;
/// ... and per second after it. A frame acknowledging a message this socket pushed is free;
/// each acked id it did not push costs 2 (a database write), checked before the write.
pub const FRAME_RATE: f64 = 500.0;

/// The read buffer of a WebSocket (issue 10; tungstenite's default is 128 KiB).
pub const WS_READ_BUFFER: usize = 4 * 1024;
/// What a socket's write buffer may hold at most (tungstenite's default is unlimited).
pub const WS_MAX_WRITE_BUFFER: usize = 1024 * 1024;

/// The connection slot of the TLS connection a request came on (set by `server`); a WebSocket
/// keeps it until it closes, so sockets count against `max_connections`.
#[derive(Clone)]
pub struct ConnSlot(pub Arc<OwnedSemaphorePermit>);

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

#[utoipa::path(
    get,
    path = "/ws",
    tag = "realtime",
    security(("session" = [])),
    responses((status = 101, description = "Switching to the WebSocket protocol: frames are `ServerFrame` and `ClientFrame`"), (status = "default", description = "An error: `{\"error\": code, \"message\"}` (docs/api.md, Errors)", body = api::ErrorBody))
)]
pub async fn connect(
    State(state): State<AppState>,
    PassiveSession(auth): PassiveSession,
    conn_slot: Option<Extension<ConnSlot>>,
    headers: HeaderMap,
    uri: Uri,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, AppError> {
    // Not a handshake (a plain GET): the app's error, not axum's plain text.
    let ws = ws.map_err(|e| AppError::WebSocketExpected(e.body_text()))?;
    check_origin(&state, &headers, &uri)?;
    // Per-session quota first (429), then the instance-wide cap (503); both held while open.
    let quota_slot = state.quotas.socket(&auth.session.id_hash)?;
    let Some(ws_slot) = state.events.hub.reserve() else {
        tracing::warn!("WebSocket refused: max_websockets sockets are open");
        return Err(AppError::Busy);
    };
    let token = cookie(&headers, COOKIE).unwrap_or_default().to_owned();
    let slots = (quota_slot, ws_slot, conn_slot.map(|Extension(s)| s));
    Ok(ws
        // Issue 10: tungstenite's defaults (128 KiB read buffer, 128 KiB write threshold) cost
        // ~130 KiB per idle socket. Client frames are at most MAX_FRAME_BYTES, so a small read
        // buffer only means a 16 KiB frame takes a few reads; every `send` flushes, so the
        // write buffer never holds more than the frame being written (one server frame, up to
        // a 64 KiB payload plus its JSON); the cap is a safety net, never reached.
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(WS_MAX_WRITE_BUFFER)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| async move {
            let _slots = slots;
            run(state, auth.session, token, socket).await;
        }))
}

/// Parse a client text frame: `Some(ids to acknowledge)`, or `None` for anything else
/// (unknown frames are ignored, as before; they still cost budget).
pub fn parse_client_frame(text: &str) -> Option<Vec<i64>> {
    match parse_frame(text) {
        Parsed::Ack(ids) => Some(ids),
        _ => None,
    }
}

/// A client text frame, read.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    /// Ids to acknowledge (at most `ACK_IDS_MAX + 1`).
    Ack(Vec<i64>),
    /// A message to send (issue 10): as `POST /api/conversations/{peer_id}/messages`.
    Send {
        tag: Option<String>,
        peer_id: String,
        payload: serde_json::Value,
    },
    /// Anything else: ignored (it still costs budget).
    Other,
}

pub fn parse_frame(text: &str) -> Parsed {
    match serde_json::from_str::<ClientFrame>(text) {
        Ok(ClientFrame::Ack { id, mut ids }) => {
            if ids.len() > ACK_IDS_MAX {
                return Parsed::Other;
            }
            ids.extend(id);
            Parsed::Ack(ids)
        }
        Ok(ClientFrame::Send {
            tag,
            peer_id,
            payload,
        }) => Parsed::Send {
            tag,
            peer_id,
            payload,
        },
        Err(_) => Parsed::Other,
    }
}

/// How long a closing socket waits for its sends in flight to be stored.
const DRAIN: Duration = Duration::from_secs(10);

/// Sends of one socket in flight at once (stored concurrently, answered in frame order); the
/// socket reads no further frame until one is answered.
pub const SENDS_IN_FLIGHT: usize = 32;

/// Store a message sent on the socket and make its answer frame: `sent`, or `error` with the
/// body `POST /api/conversations/{peer_id}/messages` would have answered.
async fn ws_send(
    state: AppState,
    session: Arc<(String, String, AtomicI64)>,
    tag: Option<String>,
    peer_id: String,
    payload: serde_json::Value,
    turn: Turn,
) -> String {
    let (user, id_hash, last_active) = &*session;
    let result = async {
        if tag
            .as_ref()
            .is_some_and(|t| t.chars().count() > api::SEND_TAG_MAX_CHARS)
        {
            return Err(AppError::validation(
                "tag",
                format!(
                    "`tag` is longer than {} characters",
                    api::SEND_TAG_MAX_CHARS
                ),
            ));
        }
        let m = state
            .messaging
            .send_in_turn(user, &peer_id, &payload, Some(turn))
            .await?;
        // A send is a user action, as the POST is (4.2.3-idle-30m), written at most once per
        // TOUCH_EVERY_SECS.
        let at = state
            .sessions
            .touch_if_due(id_hash, last_active.load(Ordering::Relaxed))
            .await;
        match at {
            Ok(at) => last_active.store(at, Ordering::Relaxed),
            Err(e) => tracing::warn!(error = %e, "cannot mark a session active"),
        }
        Ok(m)
    }
    .await;
    match result {
        Ok(message) => ServerFrame::Sent { tag, message }.to_text(),
        Err(e) => {
            if let AppError::Internal(inner) = &e {
                tracing::error!(
                    error = format!("{inner:#}"),
                    "internal error (WebSocket send)"
                );
            }
            ServerFrame::Error {
                tag,
                error: e.body(),
            }
            .to_text()
        }
    }
}

/// A token bucket for client frames.
struct Budget {
    tokens: f64,
    at: Instant,
}

impl Budget {
    fn new() -> Budget {
        Budget {
            tokens: FRAME_BUDGET,
            at: Instant::now(),
        }
    }

    /// Spend `cost`; false when the bucket is empty (the client floods).
    fn spend(&mut self, cost: f64) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * FRAME_RATE;
        self.tokens = (self.tokens + refill).min(FRAME_BUDGET);
        self.at = now;
        self.tokens -= cost;
        self.tokens >= 0.0
    }
}

/// Messages this socket pushed to its user and not yet acknowledged (bounded).
#[derive(Default)]
struct Outstanding {
    ids: HashSet<i64>,
    order: VecDeque<i64>,
}

impl Outstanding {
    fn insert(&mut self, id: i64) {
        if self.ids.insert(id) {
            self.order.push_back(id);
            while self.ids.len() > OUTSTANDING_MAX {
                if let Some(old) = self.order.pop_front() {
                    self.ids.remove(&old);
                }
            }
            if self.order.len() > 2 * OUTSTANDING_MAX {
                let ids = &self.ids;
                self.order.retain(|x| ids.contains(x));
            }
        }
    }
    fn contains(&self, id: i64) -> bool {
        self.ids.contains(&id)
    }
    fn remove(&mut self, id: i64) -> bool {
        self.ids.remove(&id)
    }
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

async fn run(state: AppState, session: SessionRow, token: String, socket: WebSocket) {
    let user = session.user_id.clone();
    let (_registration, mut rx) = state.events.hub.register(&user, &session.id_hash);
    let (mut sink, mut stream) = socket.split();

    // Pushed to this socket, awaiting the client's ack (live pushes and backlog pages).
    let mut outstanding = Outstanding::default();
    // The backlog: its cursor (None once `backlog_done` was sent) and the ids of the page in
    // flight; the next page is read only when all of those are acknowledged.
    let mut cursor: Option<i64> = Some(0);
    let mut page: HashSet<i64> = HashSet::new();
    let mut budget = Budget::new();
    // Sends on this socket being stored, answered in the order they came.
    let mut sending: FuturesOrdered<BoxFuture<'static, String>> = FuturesOrdered::new();
    // The turn of the last send: the next one takes its id after it.
    let mut last_turn: Option<oneshot::Receiver<()>> = None;
    let who = Arc::new((
        user.clone(),
        session.id_hash.clone(),
        AtomicI64::new(session.last_active_at),
    ));

    let mut ping = tokio::time::interval(PING_EVERY);
    let mut revalidate = tokio::time::interval(REVALIDATE_EVERY);
    let mut last_seen = Instant::now();
    'open: loop {
        if let Some(after) = cursor
            && page.is_empty()
        {
            let list = match state.messaging.backlog(&user, after, BACKLOG_PAGE).await {
                Ok(list) => list,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot load the backlog");
                    let _ = sink.send(close(1011, "try again")).await;
                    break;
                }
            };
            let last_page = (list.len() as i64) < BACKLOG_PAGE;
            cursor = list.last().map(|m| m.id).or(cursor);
            for m in list {
                if outstanding.contains(m.id) {
                    continue; // pushed live already
                }
                outstanding.insert(m.id);
                page.insert(m.id);
                let frame = ServerFrame::Message { message: m }.to_text();
                if sink.send(Message::Text(frame.into())).await.is_err() {
                    break 'open;
                }
            }
            if last_page {
                // Everything unacknowledged when this page was read has now been sent.
                cursor = None;
                page.clear();
                if sink
                    .send(Message::Text(ServerFrame::BacklogDone.to_text().into()))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }
        tokio::select! {
            frame = rx.recv() => match frame {
                Some(Frame::Text(t)) => {
                    if sink.send(Message::Text(t.as_ref().into())).await.is_err() { break; }
                }
                Some(Frame::Message { id, recipient, text }) => {
                    let mine = recipient.as_ref() == user.as_str();
                    if mine && outstanding.contains(id) { continue; }
                    if mine { outstanding.insert(id); }
                    if sink.send(Message::Text(text.as_ref().into())).await.is_err() { break; }
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
            Some(answer) = sending.next(), if !sending.is_empty() => {
                if sink.send(Message::Text(answer.into())).await.is_err() { break; }
            },
            incoming = stream.next(), if sending.len() < SENDS_IN_FLIGHT => {
                let cost = match &incoming {
                    Some(Ok(Message::Text(t))) => {
                        last_seen = Instant::now();
                        let ids = match parse_frame(t) {
                            Parsed::Ack(ids) => ids,
                            Parsed::Send { tag, peer_id, payload } => {
                                // One token, checked before any database work; the send quota
                                // applies as to the POST.
                                if !budget.spend(1.0) {
                                    tracing::info!("a WebSocket client sent too many frames; closing it");
                                    let _ = sink.send(close(1008, "too many frames")).await;
                                    break;
                                }
                                let (queued, next) = oneshot::channel();
                                let turn = Turn { after: last_turn.replace(next), queued };
                                sending.push_back(Box::pin(ws_send(
                                    state.clone(),
                                    who.clone(),
                                    tag,
                                    peer_id,
                                    payload,
                                    turn,
                                )));
                                continue;
                            }
                            Parsed::Other => Vec::new(),
                        };
                        // A frame that acknowledges something this socket pushed is free
                        // (there are only as many as messages); anything else costs.
                        let (mut cost, mut useful) = (0.0, false);
                        for &id in &ids {
                            // An id this socket did not push means a database write: 2.
                            if outstanding.remove(id) { useful = true; } else { cost += 2.0; }
                            page.remove(&id);
                        }
                        if !useful { cost += 1.0; }
                        // The budget is checked before any database work.
                        if !budget.spend(cost) {
                            tracing::info!("a WebSocket client sent too many frames; closing it");
                            let _ = sink.send(close(1008, "too many frames")).await;
                            break;
                        }
                        if !ids.is_empty()
                            && let Err(e) = state.messaging.ack(&user, &ids).await
                        {
                            // Not recorded: these messages are still undelivered. The
                            // client reconnects and gets them again in its backlog.
                            tracing::warn!(error = %e, "cannot record an ack");
                            let _ = sink.send(close(1011, "try again")).await;
                            break;
                        }
                        0.0
                    }
                    Some(Ok(Message::Pong(_) | Message::Ping(_) | Message::Binary(_))) => {
                        last_seen = Instant::now();
                        1.0
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                };
                if !budget.spend(cost) {
                    tracing::info!("a WebSocket client sent too many frames; closing it");
                    let _ = sink.send(close(1008, "too many frames")).await;
                    break;
                }
            },
            _ = ping.tick() => {
                if last_seen.elapsed() > DEAD_AFTER { break; }
                // Pings are not user activity: they never touch the session (4.2.3-idle-30m).
                if sink.send(Message::Ping(Vec::new().into())).await.is_err() { break; }
            },
            _ = revalidate.tick() => {
                // Idle and absolute limits apply to open sockets too (4.2.3-terminate).
                // The close reason says why, since the session is gone for later requests.
                match state.sessions.validate(&token).await {
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
    // Finish what the client started before it left: sends already read are stored (their
    // answers can no longer be sent), bounded.
    let _ = tokio::time::timeout(DRAIN, async { while sending.next().await.is_some() {} }).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames() {
        assert_eq!(
            parse_client_frame(r#"{"type":"ack","id":5}"#),
            Some(vec![5])
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"ack","ids":[1,2,3]}"#),
            Some(vec![1, 2, 3])
        );
        assert_eq!(parse_client_frame(r#"{"type":"nope"}"#), None);
        assert_eq!(parse_client_frame("not json"), None);
        assert_eq!(
            parse_frame(r#"{"type":"send","tag":"a","peer_id":"p","payload":{"v":1}}"#),
            Parsed::Send {
                tag: Some("a".into()),
                peer_id: "p".into(),
                payload: serde_json::json!({"v": 1})
            }
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"send","peer_id":"p","payload":{}}"#),
            None
        );
        let many = format!(r#"{{"type":"ack","ids":{:?}}}"#, vec![1; ACK_IDS_MAX + 1]);
        assert_eq!(parse_client_frame(&many), None);
    }

    #[test]
    fn outstanding_is_bounded() {
        let mut o = Outstanding::default();
        for id in 0..(OUTSTANDING_MAX as i64 + 10) {
            o.insert(id);
        }
        assert_eq!(o.ids.len(), OUTSTANDING_MAX);
        assert!(!o.contains(0) && o.contains(OUTSTANDING_MAX as i64 + 9));
    }
}
