//! The WebSocket `GET /api/ws` (docs/api.md "WebSocket"), as the browser's `socket.js`: one
//! thread owns the socket (tungstenite over a rustls stream, SNI = the server's host), sends
//! the session cookie, `Origin` and `User-Agent` with the handshake, hands every server frame
//! to the engine through a channel, sends the engine's frames (acks), and reconnects with
//! exponential backoff and jitter after anything but the session's end (close code 4001).

use std::io::ErrorKind;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::Duration;

use parley_api::{ClientFrame, ServerFrame};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

use crate::events::Connection;

/// Close code: the session ended (logout, revocation, timeout).
pub const CLOSE_SESSION_ENDED: u16 = 4001;
const BACKOFF_FIRST_MS: u64 = 1_000;
const BACKOFF_MAX_MS: u64 = 30_000;
/// How long a read waits before the thread looks at its outgoing frames.
const READ_SLICE: Duration = Duration::from_millis(100);

/// What the socket thread reports.
#[derive(Debug)]
pub enum WsEvent {
    Frame(Box<ServerFrame>),
    State(Connection),
    /// Close code 4001: signed out; the thread has stopped.
    SessionEnded,
}

/// Everything the thread needs to (re)connect.
#[derive(Clone)]
pub struct WsTarget {
    /// `wss://host:port/api/ws`.
    pub url: String,
    pub host: String,
    pub port: u16,
    pub tls: Arc<ClientConfig>,
    pub cookie: String,
    pub origin: String,
    pub user_agent: String,
}

/// The running socket thread.
pub struct WsHandle {
    pub events: Receiver<WsEvent>,
    pub out: Sender<ClientFrame>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl WsHandle {
    /// Start the thread.
    pub fn start(target: WsTarget) -> WsHandle {
        let (ev_tx, ev_rx) = std::sync::mpsc::channel();
        let (out_tx, out_rx) = std::sync::mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || run(&target, &ev_tx, &out_rx, &stop2));
        WsHandle {
            events: ev_rx,
            out: out_tx,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for WsHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Connected, the thread notices within a read slice and closes the socket; joining
        // would wait out a connection attempt in progress, so it is only given a moment.
        if let Some(t) = self.thread.take() {
            for _ in 0..10 {
                if t.is_finished() {
                    let _ = t.join();
                    return;
                }
                std::thread::sleep(Duration::from_millis(30));
            }
        }
    }
}

type Socket = WebSocket<StreamOwned<ClientConnection, TcpStream>>;

/// Why a connection attempt failed.
enum Refused {
    /// 401 to the handshake: the session is gone (socket.js asks `beforeReconnect`).
    SignedOut,
    Other,
}

fn connect(t: &WsTarget) -> Result<Socket, Refused> {
    connect_inner(t).map_err(|e| match e {
        Some(401) => Refused::SignedOut,
        _ => Refused::Other,
    })
}

fn connect_inner(t: &WsTarget) -> Result<Socket, Option<u16>> {
    let addr = (t.host.as_str(), t.port)
        .to_socket_addrs()
        .map_err(|_| None)?
        .next()
        .ok_or(None)?;
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).map_err(|_| None)?;
    tcp.set_read_timeout(Some(Duration::from_secs(15)))
        .map_err(|_| None)?;
    tcp.set_nodelay(true).map_err(|_| None)?;
    let name = ServerName::try_from(t.host.clone()).map_err(|_| None)?;
    let conn = ClientConnection::new(t.tls.clone(), name).map_err(|_| None)?;
    let stream = StreamOwned::new(conn, tcp);
    let mut req = t.url.as_str().into_client_request().map_err(|_| None)?;
    let headers = req.headers_mut();
    let hv = |s: &str| HeaderValue::from_str(s).map_err(|_| None);
    headers.insert("Cookie", hv(&t.cookie)?);
    headers.insert("Origin", hv(&t.origin)?);
    headers.insert("User-Agent", hv(&t.user_agent)?);
    let (socket, _resp) = tungstenite::client(req, stream).map_err(|e| match e {
        tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp)) => {
            Some(resp.status().as_u16())
        }
        _ => None,
    })?;
    socket
        .get_ref()
        .sock
        .set_read_timeout(Some(READ_SLICE))
        .map_err(|_| None)?;
    Ok(socket)
}

/// Why one connection ended.
enum Ended {
    Stopped,
    SignedOut,
    Lost,
}

fn serve(
    socket: &mut Socket,
    events: &Sender<WsEvent>,
    out: &Receiver<ClientFrame>,
    stop: &AtomicBool,
) -> Ended {
    loop {
        if stop.load(Ordering::SeqCst) {
            let _ = socket.close(None);
            let _ = socket.flush();
            return Ended::Stopped;
        }
        loop {
            match out.try_recv() {
                Ok(frame) => {
                    let text = serde_json::to_string(&frame).unwrap_or_default();
                    if socket.send(Message::text(text)).is_err() {
                        return Ended::Lost;
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return Ended::Stopped,
            }
        }
        match socket.read() {
            Ok(Message::Text(text)) => {
                // Unknown or malformed frames are dropped, as the browser's frames.js does.
                if let Ok(frame) = serde_json::from_str::<ServerFrame>(text.as_str())
                    && events.send(WsEvent::Frame(Box::new(frame))).is_err()
                {
                    return Ended::Stopped;
                }
            }
            Ok(Message::Close(frame)) => {
                if frame.is_some_and(|f| f.code == CloseCode::from(CLOSE_SESSION_ENDED)) {
                    return Ended::SignedOut;
                }
                return Ended::Lost;
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Ended::Lost,
        }
    }
}

fn run(
    target: &WsTarget,
    events: &Sender<WsEvent>,
    out: &Receiver<ClientFrame>,
    stop: &AtomicBool,
) {
    let mut attempt: u32 = 0;
    let mut state = None;
    let mut report = |s: Connection, events: &Sender<WsEvent>| {
        if state != Some(s) {
            state = Some(s);
            let _ = events.send(WsEvent::State(s));
        }
    };
    while !stop.load(Ordering::SeqCst) {
        let ended = match connect(target) {
            Ok(mut socket) => {
                attempt = 0;
                report(Connection::Connected, events);
                serve(&mut socket, events, out, stop)
            }
            Err(Refused::SignedOut) => Ended::SignedOut,
            Err(Refused::Other) => Ended::Lost,
        };
        match ended {
            Ended::Stopped => return,
            Ended::SignedOut => {
                report(Connection::Offline, events);
                let _ = events.send(WsEvent::SessionEnded);
                return;
            }
            Ended::Lost => {}
        }
        report(Connection::Reconnecting, events);
        let base = BACKOFF_MAX_MS.min(BACKOFF_FIRST_MS << attempt.min(10));
        let jitter: [u8; 2] = super::io::os_random();
        let spread = u64::from(u16::from_le_bytes(jitter)) * base / 2 / 65_535;
        let delay = base * 3 / 4 + spread;
        attempt = attempt.saturating_add(1);
        let mut waited = 0;
        while waited < delay && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
            waited += 50;
        }
    }
}
