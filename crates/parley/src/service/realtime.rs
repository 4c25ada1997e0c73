//! Real-time delivery (X1, X2): the WebSocket connections of this instance (`Hub`) and the
//! events that reach them (`Events`). On SQLite, events go straight to the local hub; on
//! PostgreSQL they travel through `NOTIFY parley_events` so every instance hears them, and each
//! instance delivers to its own sockets. Notifications carry only ids (NOTIFY payloads are
//! limited to 8000 bytes); the listener reads the message itself from the database. Anything
//! lost while a listener was disconnected is recovered by clients, which resync on
//! `{"type":"resync"}` and on every reconnect.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parley_api::{Message, ServerFrame};
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::core::config::DbKind;
use crate::db::Db;

/// Frames queued per connection; a client that falls this far behind is disconnected and
/// catches up from the database when it reconnects.
pub const QUEUE: usize = 256;
const CHANNEL: &str = "parley_events";
/// NOTIFY payloads must stay below 8000 bytes: a message is carried in its event below this.
const NOTIFY_INLINE_MAX: usize = 7000;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A new message for these users (its sender's other tabs and its recipient). `message`
    /// is the stored row when it fits in a notification (the listener then reads nothing).
    Message {
        id: i64,
        to: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<Message>,
    },
    /// The recipient's client acknowledged a message.
    Delivered { id: i64, at: i64, to: Vec<String> },
    /// `reader` read their conversation with `peer` up to message `up_to`.
    Read {
        reader: String,
        peer: String,
        up_to: i64,
        at: i64,
        to: Vec<String>,
    },
    /// `user_id` published a new identity key.
    Key { user_id: String, to: Vec<String> },
    /// `user_id` deleted their account (issue 14 item 3): their peers' open chats say so.
    AccountDeleted { user_id: String, to: Vec<String> },
    /// A session ended (logout, revocation, deletion): its sockets close.
    SessionEnded { session: String },
}

/// What a connection task is told to do.
#[derive(Debug, Clone)]
pub enum Frame {
    Text(Arc<str>),
    /// A pushed message: the socket remembers `id` when its user is the `recipient`, so the
    /// backlog never sends it twice and its ack is expected.
    Message {
        id: i64,
        recipient: Arc<str>,
        text: Arc<str>,
    },
    Close(u16, &'static str),
}

struct Conn {
    id: u64,
    session: String,
    tx: mpsc::Sender<Frame>,
}

pub struct Hub {
    next: AtomicU64,
    conns: Mutex<HashMap<String, Vec<Conn>>>,
    /// One permit per open WebSocket (`max_websockets`).
    slots: Arc<Semaphore>,
    /// The cap: `max_websockets`, lowered at start to fit the open-file limit.
    cap: AtomicUsize,
}

/// Unregisters its connection when dropped (the RAII guard of STYLE.md).
pub struct Registration {
    hub: Arc<Hub>,
    user: String,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut conns = self.hub.conns.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = conns.get_mut(&self.user) {
            list.retain(|c| c.id != self.id);
            if list.is_empty() {
                conns.remove(&self.user);
            }
        }
    }
}

impl Hub {
    pub fn new(max_websockets: usize) -> Hub {
        Hub {
            next: AtomicU64::new(0),
            conns: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(max_websockets)),
            cap: AtomicUsize::new(max_websockets),
        }
    }

    /// Lower the cap (never raise it); returns the cap now.
    pub fn limit(&self, cap: usize) -> usize {
        let old = self.cap.load(Ordering::SeqCst);
        if cap < old {
            self.slots.forget_permits(old - cap);
            self.cap.store(cap, Ordering::SeqCst);
        }
        self.cap.load(Ordering::SeqCst)
    }

    /// The cap on open WebSockets.
    pub fn cap(&self) -> usize {
        self.cap.load(Ordering::SeqCst)
    }

    /// WebSockets open (holding a slot) right now (also the `websockets_open` metric).
    pub fn open_websockets(&self) -> usize {
        self.cap().saturating_sub(self.slots.available_permits())
    }

    /// A WebSocket slot, or `None` when `max_websockets` sockets are open.
    pub fn reserve(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }

    /// Tell every socket of this instance to close (shutdown: 1012 "service restart").
    pub fn close_all(&self, code: u16, reason: &'static str) {
        self.broadcast(Frame::Close(code, reason));
    }

    pub fn register(
        self: &Arc<Self>,
        user: &str,
        session: &str,
    ) -> (Registration, mpsc::Receiver<Frame>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(user.to_owned())
            .or_default()
            .push(Conn {
                id,
                session: session.to_owned(),
                tx,
            });
        (
            Registration {
                hub: self.clone(),
                user: user.to_owned(),
                id,
            },
            rx,
        )
    }

    /// Queue a frame for every connection of `user`; a full queue drops that connection.
    pub fn send_to(&self, user: &str, frame: Frame) {
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = conns.get_mut(user) {
            list.retain(|c| match c.tx.try_send(frame.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::info!("a WebSocket client fell behind; disconnecting it");
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
        }
    }

    /// Push a stored message to its recipient's and its sender's sockets: the frame is
    /// serialised once, whatever the number of sockets.
    pub fn push_message(&self, m: &Message) {
        let recipient: Arc<str> = Arc::from(m.recipient_id.as_str());
        let text: Arc<str> = Arc::from(ServerFrame::Message { message: m.clone() }.to_text());
        for user in [m.recipient_id.as_str(), m.sender_id.as_str()] {
            self.send_to(
                user,
                Frame::Message {
                    id: m.id,
                    recipient: recipient.clone(),
                    text: text.clone(),
                },
            );
        }
    }

    pub fn close_session(&self, session: &str) {
        let conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        for c in conns.values().flatten().filter(|c| c.session == session) {
            let _ = c.tx.try_send(Frame::Close(4001, "session ended"));
        }
    }

    pub fn broadcast(&self, frame: Frame) {
        let conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        for c in conns.values().flatten() {
            let _ = c.tx.try_send(frame.clone());
        }
    }

    pub fn connections(&self) -> usize {
        self.conns
            .lock()
            .map(|c| c.values().map(Vec::len).sum())
            .unwrap_or(0)
    }
}

/// Publishes events to every instance.
#[derive(Clone)]
pub struct Events {
    pub hub: Arc<Hub>,
    db: Db,
    /// The SQLite writer pushes each message it commits, in id order (`Db::writer`), so
    /// `message_stored` has nothing left to do.
    pushed_on_commit: bool,
}

impl Events {
    /// On PostgreSQL also start the listener that feeds this instance's hub.
    pub async fn start(
        db: Db,
        database_url: &str,
        max_websockets: usize,
    ) -> anyhow::Result<Events> {
        let hub = Arc::new(Hub::new(max_websockets));
        let pushed_on_commit = match (&db.kind, &db.writer) {
            (DbKind::Sqlite, Some(writer)) => {
                let hub = hub.clone();
                writer.on_commit(Arc::new(move |m: &Message| hub.push_message(m)))
            }
            _ => false,
        };
        let events = Events {
            hub,
            db,
            pushed_on_commit,
        };
        if events.db.kind == DbKind::Postgres {
            let mut listener = sqlx::postgres::PgListener::connect(database_url).await?;
            listener.listen(CHANNEL).await?;
            let this = events.clone();
            tokio::spawn(async move {
                loop {
                    match listener.try_recv().await {
                        Ok(Some(n)) => match serde_json::from_str::<Event>(n.payload()) {
                            Ok(e) => this.dispatch(e).await,
                            Err(e) => tracing::warn!(error = %e, "unreadable notification"),
                        },
                        Ok(None) => {
                            // The connection dropped and was re-established: anything sent
                            // meanwhile is lost here, so every client fetches what it missed.
                            tracing::warn!("event listener reconnected; asking clients to resync");
                            this.hub
                                .broadcast(Frame::Text(Arc::from(ServerFrame::Resync.to_text())));
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "event listener failed; retrying");
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        }
                    }
                }
            });
        }
        Ok(events)
    }

    /// A message was stored: push it to its recipient's and sender's sockets on every instance
    /// (unless the SQLite writer did already, at its commit).
    pub async fn message_stored(&self, m: &Message) {
        if self.pushed_on_commit {
            return;
        }
        if self.db.kind != DbKind::Postgres {
            return self.hub.push_message(m);
        }
        let inline = serde_json::to_string(m).map_or(usize::MAX, |t| t.len()) < NOTIFY_INLINE_MAX;
        self.publish(Event::Message {
            id: m.id,
            to: vec![m.recipient_id.clone(), m.sender_id.clone()],
            message: inline.then(|| m.clone()),
        })
        .await;
    }

    pub async fn publish(&self, event: Event) {
        if self.db.kind == DbKind::Postgres {
            let payload = match serde_json::to_string(&event) {
                Ok(p) => p,
                Err(e) => return tracing::error!(error = %e, "cannot encode event"),
            };
            let sent = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(payload)
                .execute(&self.db.pool)
                .await;
            if let Err(e) = sent {
                // Clients still catch up from the database on their next reconnect/resync.
                tracing::error!(error = %e, "cannot publish event; delivering locally only");
                self.dispatch(event).await;
            }
        } else {
            self.dispatch(event).await;
        }
    }

    /// Deliver an event to this instance's sockets.
    async fn dispatch(&self, event: Event) {
        let (to, frame) = match event {
            Event::Message { id, to, message } => {
                let m = match message {
                    Some(m) => m,
                    None => match self.db.message(id).await {
                        Ok(Some(m)) => m,
                        Ok(None) => return,
                        Err(e) => {
                            return tracing::warn!(error = %e, "cannot load message for push");
                        }
                    },
                };
                let recipient: Arc<str> = Arc::from(m.recipient_id.as_str());
                let text: Arc<str> = Arc::from(ServerFrame::Message { message: m }.to_text());
                for user in to {
                    self.hub.send_to(
                        &user,
                        Frame::Message {
                            id,
                            recipient: recipient.clone(),
                            text: text.clone(),
                        },
                    );
                }
                return;
            }
            Event::Delivered { id, at, to } => (to, ServerFrame::Delivered { id, at }),
            Event::Read {
                reader,
                peer,
                up_to,
                at,
                to,
            } => (
                to,
                ServerFrame::Read {
                    reader,
                    peer,
                    up_to,
                    at,
                },
            ),
            Event::Key { user_id, to } => (to, ServerFrame::Key { user_id }),
            Event::AccountDeleted { user_id, to } => (to, ServerFrame::AccountDeleted { user_id }),
            Event::SessionEnded { session } => return self.hub.close_session(&session),
        };
        let text: Arc<str> = Arc::from(frame.to_text());
        for user in to {
            self.hub.send_to(&user, Frame::Text(text.clone()));
        }
    }
}
