//! Benchmarks (not tests) of issue 10: the `relay` and `idle` figures of docs/performance.md,
//! Parley beside a bare relay measured in the same run.
//!
//!     cargo run --release --example relay_bench -- relay [--pairs 1,10,50] [--sizes 100,4096]
//!                                                        [--secs 5] [--window 4] [--ws-send]
//!                                                        [--database-url postgres://…]
//!                                                        [--instances 2]
//!     cargo run --release --example relay_bench -- idle [--conns 1000,10000]
//!
//! (or `scripts/bench.sh relay|idle [--smoke]`). Each server runs in its own child process (this
//! binary again, `serve parley|bare <dir>`), so its CPU time and memory can be read from
//! `/proc/<pid>`:
//!
//! - **parley**: `parley::server::start` on a fresh temporary data directory (SQLite), with the
//!   test CAPTCHA answer, 127.0.0.1 as a trusted proxy (each sign-up comes from its own
//!   `X-Forwarded-For` address) and the per-user quotas raised out of the way.
//! - **bare**: tokio + tokio-rustls + tokio-tungstenite with Parley's TLS policy (TLS 1.3 only,
//!   X25519, ChaCha20-Poly1305, the same rustls provider) and tungstenite's default buffers; a
//!   client says its id in its first frame, then every text frame `"<to> <seq> <payload>"` is
//!   forwarded to `<to>`. No authentication, no storage.
//!
//! `relay` registers 2 × max(pairs) users through the real API (CAPTCHA, password, TOTP), opens
//! one authenticated WebSocket per user as the browser does (session cookie + `Origin`), and for
//! each pair count and payload size runs
//! - a closed loop (each pair keeps `window` messages in flight: POST by the sender, delivery on
//!   the recipient's socket, which acknowledges each message as the web client does) for the
//!   saturation rate, the server's CPU per delivered message (utime + stime) and its context
//!   switches per message (every thread);
//! - an open loop at half that rate for send→deliver latency (p50/p99).
//!
//! `--database-url postgres://user:password@host:port` runs Parley on PostgreSQL (a fresh database
//! per server, dropped at the end) instead of SQLite; `--instances 2` then starts two Parley
//! processes sharing it: senders use the first (POST and socket), recipients hold their socket on
//! the second, so every message crosses instances by LISTEN/NOTIFY. CPU, context switches and
//! memory are then those of both processes together.
//!
//! The bare relay carries the same bytes (the JSON `msg` payload) the same way. The load
//! generator shares the machine's cores with the server: the figures are a bound, not a
//! capacity plan. It asserts nothing except that messages arrive.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::{SinkExt, StreamExt};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[path = "common/pg_database.rs"]
mod pg_database;
#[path = "common/sign_up.rs"]
mod sign_up;

const CAPTCHA: &str = "bench";
/// Linux reports /proc times in USER_HZ, 100 on every architecture Parley runs on.
const TICKS_PER_SEC: f64 = 100.0;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Parley,
    Bare,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Parley => "parley",
            Kind::Bare => "bare",
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    raise_nofile();
    let rt = tokio::runtime::Runtime::new().unwrap();
    match args.first().map(String::as_str) {
        Some("serve") => {
            let kind = if args[1] == "parley" {
                Kind::Parley
            } else {
                Kind::Bare
            };
            rt.block_on(serve(kind, PathBuf::from(&args[2]), args.get(3).cloned()));
        }
        Some("relay") => rt.block_on(relay(&args[1..])),
        Some("idle") => rt.block_on(idle(&args[1..])),
        _ => {
            eprintln!("usage: relay_bench relay|idle [options] (see the file's header)");
            std::process::exit(2);
        }
    }
}

/// The value of the last `--name a,b,c` as numbers, or the default.
fn list(args: &[String], name: &str, default: &[u64]) -> Vec<u64> {
    args.iter()
        .rposition(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.split(',').map(|n| n.trim().parse().unwrap()).collect())
        .unwrap_or_else(|| default.to_vec())
}

/// Raise the open-file limit as far as allowed (the servers hold one descriptor per socket).
fn raise_nofile() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let want = 1 << 20;
    if setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(want),
            maximum: Some(want),
        },
    )
    .is_err()
    {
        let hard = getrlimit(Resource::Nofile).maximum;
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: hard,
                maximum: hard,
            },
        );
    }
}

fn nofile() -> u64 {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX)
}

// ---------------------------------------------------------------------------------------------
// The servers (child processes)
// ---------------------------------------------------------------------------------------------

async fn serve(kind: Kind, dir: PathBuf, database_url: Option<String>) {
    match kind {
        Kind::Parley => serve_parley(&dir, database_url).await,
        Kind::Bare => serve_bare(&dir).await,
    }
}

async fn serve_parley(dir: &Path, database_url: Option<String>) {
    let mut config = parley::core::Config::load(
        None,
        &parley::cli::ServeArgs {
            data_dir: Some(dir.to_path_buf()),
            listen: Some("127.0.0.1:0".parse().unwrap()),
            ..parley::cli::ServeArgs::default()
        },
    )
    .unwrap();
    config.database_url = database_url.map(parley::core::secret::Secret::new);
    config.test_captcha_answer = Some(CAPTCHA.into());
    config.breach_api_url = String::new();
    config.trusted_proxies = vec!["127.0.0.1".into()];
    config.quota_sends_per_minute = 1_000_000;
    config.quota_sockets_per_session = 1_000_000;
    config.quota_user_lookups_per_minute = 1_000_000;
    config.max_connections = 200_000;
    config.max_websockets = 199_999;
    config.validate().unwrap();
    let server = parley::server::start(config).await.unwrap();
    let ca = server
        .ca_file
        .clone()
        .unwrap_or_else(|| dir.join("tls/ca.pem"));
    ready(server.local_addr, &ca);
    std::future::pending::<()>().await;
}

fn ready(addr: SocketAddr, ca: &Path) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "READY {addr} {}", ca.display()).unwrap();
    out.flush().unwrap();
}

async fn serve_bare(dir: &Path) {
    let ca = parley::tls::certs::new_ca("localhost").unwrap();
    let site = parley::tls::certs::issue_site(&ca.cert, &ca.key, "localhost").unwrap();
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, &ca.cert).unwrap();
    let chain = CertificateDer::pem_slice_iter(site.cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(site.key.as_bytes()).unwrap();
    let mut tls =
        rustls::ServerConfig::builder_with_provider(Arc::new(parley::tls::policy::provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ready(listener.local_addr().unwrap(), &ca_path);
    type Peers = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Message>>>>;
    let peers: Peers = Arc::default();
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, peers) = (acceptor.clone(), peers.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let Ok(ws) = tokio_tungstenite::accept_async(tls).await else {
                return;
            };
            let (mut sink, mut stream) = ws.split();
            let Some(Ok(Message::Text(id))) = stream.next().await else {
                return;
            };
            let id = id.to_string();
            let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
            peers.lock().unwrap().insert(id.clone(), tx);
            let writer = tokio::spawn(async move {
                while let Some(m) = rx.recv().await {
                    if sink.send(m).await.is_err() {
                        break;
                    }
                }
            });
            while let Some(Ok(m)) = stream.next().await {
                if let Message::Text(t) = &m {
                    let to = t.as_str().split(' ').next().unwrap_or("");
                    let target = peers.lock().unwrap().get(to).cloned();
                    if let Some(target) = target {
                        let _ = target.send(m);
                    }
                }
            }
            peers.lock().unwrap().remove(&id);
            writer.abort();
        });
    }
}

/// Where Parley keeps its data in a run (`--database-url`, `--instances`).
#[derive(Clone, Debug, Default)]
struct Backend {
    /// A PostgreSQL server (`postgres://user:password@host:port`); SQLite when `None`.
    postgres: Option<String>,
    /// Parley processes sharing the database (more than one needs PostgreSQL).
    instances: usize,
}

impl Backend {
    fn from_args(args: &[String]) -> Backend {
        let postgres = args
            .iter()
            .position(|a| a == "--database-url")
            .map(|i| args[i + 1].trim_end_matches('/').to_string());
        let instances = list(args, "--instances", &[1])[0].max(1) as usize;
        assert!(
            instances == 1 || postgres.is_some(),
            "--instances above 1 needs --database-url (instances share a PostgreSQL database)"
        );
        Backend {
            postgres,
            instances,
        }
    }

    fn describe(&self) -> String {
        match (&self.postgres, self.instances) {
            (None, _) => "SQLite, 1 instance".into(),
            (Some(_), n) => format!("PostgreSQL, {n} instance{}", if n > 1 { "s" } else { "" }),
        }
    }
}

/// One server process.
struct Process {
    child: tokio::process::Child,
    pid: u32,
    addr: SocketAddr,
}

/// A server (one or more child processes) and what the load generator needs to reach it.
struct Server {
    kind: Kind,
    processes: Vec<Process>,
    tls: Arc<rustls::ClientConfig>,
    /// The PostgreSQL database made for this server (its URL): dropped by `stop`.
    database: Option<String>,
    _dir: tempfile::TempDir,
}

/// Start one server process (`serve <kind> <dir> [database URL]`) and wait for its READY line:
/// the process, and its CA file.
async fn spawn_process(kind: Kind, dir: &Path, database_url: Option<&str>) -> (Process, PathBuf) {
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .arg("serve")
        .arg(kind.name())
        .arg(dir)
        .args(database_url)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(120), lines.next_line())
        .await
        .expect("the server starts within 120 s")
        .unwrap()
        .expect("the server prints READY");
    let mut words = line.split(' ').skip(1);
    let addr: SocketAddr = words.next().unwrap().parse().unwrap();
    let ca = PathBuf::from(words.next().unwrap());
    (Process { child, pid, addr }, ca)
}

async fn spawn_server(kind: Kind, backend: &Backend) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let database = match (&backend.postgres, kind) {
        (Some(base), Kind::Parley) => {
            Some(pg_database::create_database(base, "parley_bench").await)
        }
        _ => None,
    };
    let count = if kind == Kind::Parley {
        backend.instances
    } else {
        1
    };
    // One after the other in the same data directory: the later ones reuse the first one's
    // certificate, CA and secrets (pepper, TOTP key), as instances of one deployment do.
    let mut processes = Vec::new();
    let mut ca = PathBuf::new();
    for _ in 0..count {
        let (process, ca_file) = spawn_process(kind, dir.path(), database.as_deref()).await;
        processes.push(process);
        ca = ca_file;
    }
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    Server {
        kind,
        processes,
        tls: Arc::new(tls),
        database,
        _dir: dir,
    }
}

/// (user + system CPU seconds, context switches of every thread) of process `pid`.
fn process_cpu(pid: u32) -> (f64, u64) {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return (0.0, 0); // the process has exited
    };
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    // Fields 14 and 15 of proc(5), counted from field 3 (the state) here.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let mut switches = 0;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
            for line in status.lines() {
                if line.contains("ctxt_switches:") {
                    switches += line
                        .split_whitespace()
                        .nth(1)
                        .and_then(|n| n.parse::<u64>().ok())
                        .unwrap_or(0);
                }
            }
        }
    }
    (ticks as f64 / TICKS_PER_SEC, switches)
}

/// CPU seconds of every PostgreSQL server process on this machine (postmaster and backends):
/// the database's share of a message when Parley runs on a local PostgreSQL. Backends that
/// exit between two readings take their time with them, so this is a lower bound.
fn postgres_cpu() -> f64 {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    procs
        .flatten()
        .filter_map(|p| p.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .map(|pid| process_cpu(pid).0)
        .sum()
}

/// Resident memory of process `pid`, KiB.
fn process_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

impl Server {
    /// The first instance: sign-ups, POSTs and the senders' sockets.
    fn addr(&self) -> SocketAddr {
        self.processes[0].addr
    }

    /// The instance where recipients hold their sockets (the last one).
    fn far(&self) -> usize {
        self.processes.len() - 1
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr().port())
    }

    /// (user + system CPU seconds, context switches of every thread) of the server's processes.
    fn cpu(&self) -> (f64, u64) {
        self.processes
            .iter()
            .map(|p| process_cpu(p.pid))
            .fold((0.0, 0), |(c, s), (c1, s1)| (c + c1, s + s1))
    }

    /// Resident memory of the server's processes, KiB.
    fn rss_kib(&self) -> u64 {
        self.processes.iter().map(|p| process_rss_kib(p.pid)).sum()
    }

    async fn stop(self) {
        for mut p in self.processes {
            let _ = p.child.kill().await;
        }
        if let Some(url) = &self.database {
            pg_database::drop_database(url).await;
        }
    }

    /// A TLS connection to instance `instance`, from the loopback address `src` when given.
    async fn tls_connect(
        &self,
        src: Option<IpAddr>,
        instance: usize,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        if let Some(ip) = src {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        let tcp = socket.connect(self.processes[instance].addr).await?;
        tcp.set_nodelay(true)?;
        tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect("localhost".try_into().unwrap(), tcp)
            .await
    }

    /// An open WebSocket for `user` on instance `instance`: Parley's `/api/ws` with the session
    /// cookie and `Origin` as a browser sends them (then the backlog is read to its end), or the
    /// bare relay's, told the user's id.
    async fn ws(&self, user: &User, src: Option<IpAddr>, instance: usize) -> Ws {
        let tls = self.tls_connect(src, instance).await.unwrap();
        let path = if self.kind == Kind::Parley {
            "/api/ws"
        } else {
            "/"
        };
        let port = self.processes[instance].addr.port();
        let mut req = format!("wss://localhost:{port}{path}")
            .into_client_request()
            .unwrap();
        if self.kind == Kind::Parley {
            let h = req.headers_mut();
            h.insert(
                "cookie",
                format!("__Host-parley_session={}", user.cookie)
                    .parse()
                    .unwrap(),
            );
            h.insert(
                "origin",
                format!("https://localhost:{port}").parse().unwrap(),
            );
        }
        let (mut ws, _) = tokio_tungstenite::client_async(req, tls).await.unwrap();
        if self.kind == Kind::Parley {
            loop {
                let frame = tokio::time::timeout(Duration::from_secs(30), ws.next())
                    .await
                    .expect("backlog_done within 30 s")
                    .expect("the socket stays open")
                    .unwrap();
                if let Message::Text(t) = frame
                    && t.as_str().contains("\"backlog_done\"")
                {
                    break;
                }
            }
        } else {
            ws.send(Message::text(user.id.clone())).await.unwrap();
        }
        ws
    }
}

// ---------------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------------

struct User {
    id: String,
    client: reqwest::Client,
    csrf: String,
    cookie: String,
}

static NEXT_USER: AtomicU64 = AtomicU64::new(1);

/// Sign up through the real API as the browser does (CAPTCHA, password, TOTP code from the
/// provisioning secret, "saved" the recovery codes); the bare relay only needs an id.
async fn register(server: &Server) -> User {
    let n = NEXT_USER.fetch_add(1, Ordering::Relaxed);
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured({
            // HTTP/2 as a browser negotiates it (the WebSockets use HTTP/1.1: `server.tls`).
            let mut tls = (*server.tls).clone();
            tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            tls
        })
        .resolve("localhost", server.addr())
        .cookie_store(true)
        .build()
        .unwrap();
    if server.kind == Kind::Bare {
        return User {
            id: format!("u{n}"),
            client,
            csrf: String::new(),
            cookie: String::new(),
        };
    }
    let ip = format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255);
    let done = sign_up::sign_up(&client, &server.url(""), &format!("bench{n}"), &ip, CAPTCHA).await;
    User {
        id: done.id,
        client,
        csrf: done.csrf,
        cookie: done.cookie,
    }
}

async fn register_many(server: &Server, n: usize) -> Vec<User> {
    // Sign-ups are Argon2 hashes: a few at a time is all the server can do anyway.
    futures_util::stream::iter(0..n)
        .map(|_| register(server))
        .buffered(4)
        .collect()
        .await
}

// ---------------------------------------------------------------------------------------------
// relay
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Stats {
    delivered: AtomicU64,
    record: AtomicBool,
    latencies: Mutex<Vec<Duration>>,
}

type Pending = Arc<Mutex<HashMap<u64, (Instant, Option<oneshot::Sender<()>>)>>>;

/// One sender → recipient pair: how to send, and the messages on their way.
struct Pair {
    kind: Kind,
    to: String,
    client: reqwest::Client,
    url: String,
    csrf: String,
    bare_tx: Option<mpsc::UnboundedSender<String>>,
    pending: Pending,
}

static NEXT_SEQ: AtomicU64 = AtomicU64::new(1);
/// `--ws-send`: Parley's senders send on their WebSocket (`{"type":"send"}`, issue 10) instead
/// of `POST /api/conversations/{peer}/messages`.
static WS_SEND: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn iv(n: u64) -> String {
    let mut bytes = [0u8; 12];
    bytes[4..].copy_from_slice(&n.to_be_bytes());
    STANDARD.encode(bytes)
}

/// A `msg` payload the server accepts (E3: a new IV each time) with `size` ciphertext bytes.
fn payload(seq: u64, ciphertext: &str) -> Value {
    json!({"v": 1, "type": "msg", "key_set": "bench", "iv": iv(seq),
           "ciphertext": ciphertext, "mac": STANDARD.encode([7u8; 32])})
}

impl Pair {
    /// Send message `seq`; `done` fires when it is delivered.
    async fn send(&self, ciphertext: &str, done: Option<oneshot::Sender<()>>) {
        let seq = NEXT_SEQ.fetch_add(1, Ordering::Relaxed);
        self.pending
            .lock()
            .unwrap()
            .insert(seq, (Instant::now(), done));
        let body = json!({"payload": payload(seq, ciphertext)});
        match self.kind {
            Kind::Parley if self.bare_tx.is_some() => {
                let frame = json!({"type": "send", "peer_id": self.to, "payload": body["payload"]});
                let _ = self.bare_tx.as_ref().unwrap().send(frame.to_string());
            }
            Kind::Parley => {
                let res = self
                    .client
                    .post(&self.url)
                    .header("x-csrf-token", &self.csrf)
                    .json(&body)
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status() == 201 => {}
                    Ok(r) => eprintln!("send refused: {} {}", r.status(), r.text().await.unwrap()),
                    Err(e) => eprintln!("send failed: {e}"),
                }
            }
            Kind::Bare => {
                let _ = self
                    .bare_tx
                    .as_ref()
                    .unwrap()
                    .send(format!("{} {seq} {}", self.to, body["payload"]));
            }
        }
    }
}

fn delivered(pending: &Pending, stats: &Stats, seq: u64) {
    let Some((sent, done)) = pending.lock().unwrap().remove(&seq) else {
        return;
    };
    stats.delivered.fetch_add(1, Ordering::Relaxed);
    if stats.record.load(Ordering::Relaxed) {
        stats.latencies.lock().unwrap().push(sent.elapsed());
    }
    if let Some(done) = done {
        let _ = done.send(());
    }
}

/// Open both sockets of a pair and start reading them.
async fn open_pair(server: &Server, a: &User, b: &User, stats: Arc<Stats>) -> Pair {
    let pending: Pending = Arc::default();
    let sender_ws = server.ws(a, None, 0).await;
    let mut recipient_ws = server.ws(b, None, server.far()).await;
    let (sink, mut stream) = sender_ws.split();
    // The sender's own socket: Parley echoes its messages there (for other tabs) and tells it of
    // deliveries; read and drop. The bare relay's sender socket carries the sends.
    tokio::spawn(async move {
        while let Some(Ok(frame)) = stream.next().await {
            if let Message::Text(t) = frame
                && t.as_str().starts_with(r#"{"type":"error""#)
            {
                eprintln!("send refused: {}", t.as_str());
            }
        }
    });
    let on_socket = server.kind == Kind::Bare || WS_SEND.load(Ordering::Relaxed);
    let bare_tx = on_socket.then(|| {
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let mut sink = sink;
        tokio::spawn(async move {
            while let Some(text) = rx.recv().await {
                if sink.send(Message::text(text)).await.is_err() {
                    break;
                }
            }
        });
        tx
    });
    let (kind, me, p) = (server.kind, b.id.clone(), pending.clone());
    tokio::spawn(async move {
        while let Some(Ok(frame)) = recipient_ws.next().await {
            let Message::Text(t) = frame else { continue };
            let seq = match kind {
                Kind::Bare => t.as_str().split(' ').nth(1).and_then(|s| s.parse().ok()),
                Kind::Parley => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    let m = &v["message"];
                    if v["type"] != "message"
                        || m["recipient_id"].to_string().trim_matches('"') != me
                    {
                        continue;
                    }
                    // Acknowledge as the web client does (web/chat/inbox.js).
                    let ack = json!({"type": "ack", "id": m["id"]}).to_string();
                    if recipient_ws.send(Message::text(ack)).await.is_err() {
                        break;
                    }
                    let iv = STANDARD
                        .decode(m["payload"]["iv"].as_str().unwrap())
                        .unwrap();
                    Some(u64::from_be_bytes(iv[4..].try_into().unwrap()))
                }
            };
            if let Some(seq) = seq {
                delivered(&p, &stats, seq);
            }
        }
    });
    Pair {
        kind: server.kind,
        to: b.id.clone(),
        client: a.client.clone(),
        url: server.url(&format!("/api/conversations/{}/messages", b.id)),
        csrf: a.csrf.clone(),
        bare_tx,
        pending,
    }
}

struct Figures {
    rate: f64,
    cpu_us: f64,
    /// The PostgreSQL server's CPU per message (Parley on PostgreSQL only).
    db_cpu_us: Option<f64>,
    switches: f64,
    p50_ms: f64,
    p99_ms: f64,
    open_rate: f64,
    lost: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

async fn measure(
    server: &Server,
    pairs: &[Arc<Pair>],
    stats: &Arc<Stats>,
    size: usize,
    secs: f64,
    window: usize,
    strace: bool,
) -> Figures {
    let ciphertext: Arc<str> = STANDARD.encode(vec![0x5au8; size]).into();
    // Closed loop: `window` messages in flight per pair.
    let running = Arc::new(AtomicBool::new(true));
    let mut workers = Vec::new();
    for pair in pairs {
        for _ in 0..window {
            let (pair, running, ct) = (pair.clone(), running.clone(), ciphertext.clone());
            workers.push(tokio::spawn(async move {
                while running.load(Ordering::Relaxed) {
                    let (tx, rx) = oneshot::channel();
                    pair.send(&ct, Some(tx)).await;
                    if tokio::time::timeout(Duration::from_secs(10), rx)
                        .await
                        .is_err()
                    {
                        eprintln!("a message was not delivered within 10 s");
                    }
                }
            }));
        }
    }
    tokio::time::sleep(Duration::from_secs_f64((secs / 4.0).min(1.0))).await;
    let tracer =
        (strace && server.kind == Kind::Parley).then(|| start_strace(server.processes[0].pid));
    if tracer.is_some() {
        tokio::time::sleep(Duration::from_millis(500)).await; // attached to every thread
    }
    let on_postgres = server.database.is_some();
    let db0 = postgres_cpu();
    let (cpu0, cs0) = server.cpu();
    let d0 = stats.delivered.load(Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let (cpu1, cs1) = server.cpu();
    let db1 = postgres_cpu();
    let d1 = stats.delivered.load(Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    if let Some(tracer) = tracer {
        stop_strace(tracer, d1 - d0).await;
    }
    running.store(false, Ordering::Relaxed);
    for w in workers {
        let _ = tokio::time::timeout(Duration::from_secs(15), w).await;
    }
    let n = (d1 - d0).max(1) as f64;
    let rate = n / elapsed;

    // Open loop at half the saturation rate, spread over the pairs.
    let open_rate = (rate / 2.0).max(1.0);
    stats.latencies.lock().unwrap().clear();
    stats.record.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let mut sent = 0u64;
    let mut tasks = Vec::new();
    while started.elapsed().as_secs_f64() < secs {
        let due = (started.elapsed().as_secs_f64() * open_rate) as u64;
        while sent < due {
            let (pair, ct) = (
                pairs[sent as usize % pairs.len()].clone(),
                ciphertext.clone(),
            );
            tasks.push(tokio::spawn(async move { pair.send(&ct, None).await }));
            sent += 1;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for t in tasks {
        let _ = t.await;
    }
    let drain = Instant::now();
    while drain.elapsed() < Duration::from_secs(10)
        && pairs.iter().any(|p| !p.pending.lock().unwrap().is_empty())
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stats.record.store(false, Ordering::Relaxed);
    let mut lat = std::mem::take(&mut *stats.latencies.lock().unwrap());
    lat.sort();
    let lost = pairs
        .iter()
        .map(|p| {
            let mut m = p.pending.lock().unwrap();
            let n = m.len();
            m.clear();
            n
        })
        .sum();
    Figures {
        rate,
        cpu_us: (cpu1 - cpu0) / n * 1e6,
        db_cpu_us: on_postgres.then(|| (db1 - db0) / n * 1e6),
        switches: (cs1 - cs0) as f64 / n,
        p50_ms: percentile(&lat, 0.5),
        p99_ms: percentile(&lat, 0.99),
        open_rate,
        lost,
    }
}

/// `strace -c -f` attached to the server for the measured interval of a closed loop.
fn start_strace(pid: u32) -> (tokio::process::Child, tempfile::NamedTempFile) {
    let out = tempfile::NamedTempFile::new().unwrap();
    let child = tokio::process::Command::new("strace")
        .args(["-c", "-f", "-o"])
        .arg(out.path())
        .arg("-p")
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("strace installed");
    (child, out)
}

async fn stop_strace((mut child, out): (tokio::process::Child, tempfile::NamedTempFile), n: u64) {
    let pid = child.id().unwrap().to_string();
    let _ = tokio::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await;
    let _ = child.wait().await;
    let summary = std::fs::read_to_string(out.path()).unwrap();
    let mut calls: Vec<(String, u64)> = summary
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let name = *f.last()?;
            (f.len() >= 5 && f[0].parse::<f64>().is_ok() && name != "total")
                .then(|| Some((name.to_string(), f[3].parse().ok()?)))
                .flatten()
        })
        .collect();
    calls.sort_by_key(|c| std::cmp::Reverse(c.1));
    let total: u64 = calls.iter().map(|c| c.1).sum();
    let n = n.max(1) as f64;
    let top: Vec<String> = calls
        .iter()
        .take(10)
        .map(|(name, c)| format!("{name} {:.1}", *c as f64 / n))
        .collect();
    println!(
        "strace parley: {:.1} syscalls per delivered message ({n} messages under strace): {}",
        total as f64 / n,
        top.join(", ")
    );
}

fn print_figures(kind: Kind, pairs: usize, size: usize, f: &Figures) {
    println!(
        "relay {:<6} pairs={pairs:<3} size={size:<5} {:>9.0} msg/s  {:>8.1} µs CPU/msg{}  {:>6.2} cs/msg  open loop {:>7.0} msg/s: p50={:>7.2} ms p99={:>7.2} ms{}",
        kind.name(),
        f.rate,
        f.cpu_us,
        f.db_cpu_us
            .map(|d| format!(" (+{d:.1} µs in PostgreSQL)"))
            .unwrap_or_default(),
        f.switches,
        f.open_rate,
        f.p50_ms,
        f.p99_ms,
        if f.lost > 0 {
            format!("  ({} not delivered)", f.lost)
        } else {
            String::new()
        }
    );
}

async fn relay(args: &[String]) {
    let pair_counts = list(args, "--pairs", &[1, 10, 50]);
    let sizes = list(args, "--sizes", &[100, 4096]);
    let secs = list(args, "--secs", &[5])[0] as f64;
    let window = list(args, "--window", &[4])[0] as usize;
    // Syscalls per message of Parley's closed loop (its figures are then strace's, not Parley's).
    let strace = args.iter().any(|a| a == "--strace");
    if args.iter().any(|a| a == "--ws-send") {
        WS_SEND.store(true, Ordering::Relaxed);
    }
    let backend = Backend::from_args(args);
    let max_pairs = *pair_counts.iter().max().unwrap() as usize;
    println!(
        "== relay: pairs {pair_counts:?}, payload sizes {sizes:?} bytes, {secs} s per loop, {window} in flight per pair (closed loop); {} CPUs; Parley on {}, sends by {} ==",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        backend.describe(),
        if WS_SEND.load(Ordering::Relaxed) {
            "WebSocket send frames"
        } else {
            "POST"
        }
    );
    let mut servers = Vec::new();
    let mut all_pairs = Vec::new();
    let mut all_stats = Vec::new();
    for kind in [Kind::Parley, Kind::Bare] {
        let server = spawn_server(kind, &backend).await;
        let started = Instant::now();
        let users = register_many(&server, 2 * max_pairs).await;
        let stats = Arc::new(Stats::default());
        let mut pairs = Vec::new();
        for i in 0..max_pairs {
            pairs.push(Arc::new(
                open_pair(&server, &users[2 * i], &users[2 * i + 1], stats.clone()).await,
            ));
        }
        println!(
            "{}: {} users signed up and connected in {:.1} s",
            kind.name(),
            users.len(),
            started.elapsed().as_secs_f64()
        );
        servers.push(server);
        all_pairs.push(pairs);
        all_stats.push(stats);
    }
    let mut rows = Vec::new();
    for &np in &pair_counts {
        for &size in &sizes {
            let mut figs = Vec::new();
            for (i, server) in servers.iter().enumerate() {
                let f = measure(
                    server,
                    &all_pairs[i][..np as usize],
                    &all_stats[i],
                    size as usize,
                    secs,
                    window,
                    strace,
                )
                .await;
                print_figures(server.kind, np as usize, size as usize, &f);
                figs.push(f);
            }
            let (p, b) = (&figs[0], &figs[1]);
            // On PostgreSQL the database's CPU is part of Parley's cost per message.
            let p_cpu = p.cpu_us + p.db_cpu_us.unwrap_or(0.0);
            let p_cpu_text = match p.db_cpu_us {
                Some(db) => format!("{:.0} + {db:.0} PostgreSQL", p.cpu_us),
                None => format!("{:.0}", p.cpu_us),
            };
            let row = format!(
                "| {np} | {size} | {:.0} | {:.0} | {:.3} | {p_cpu_text} | {:.1} | {:.1} | {:.1} | {:.2} / {:.2} | {:.2} / {:.2} |",
                p.rate,
                b.rate,
                p.rate / b.rate,
                b.cpu_us,
                p_cpu / b.cpu_us,
                p.switches,
                p.p50_ms,
                p.p99_ms,
                b.p50_ms,
                b.p99_ms,
            );
            println!(
                "ratio pairs={np} size={size}: parley/bare msgs/s = {:.3}, CPU/msg parley/bare = {:.1}",
                p.rate / b.rate,
                p_cpu / b.cpu_us
            );
            rows.push(row);
        }
    }
    println!(
        "\n| pairs | bytes | Parley msg/s | bare msg/s | Parley/bare | Parley µs CPU/msg | bare µs CPU/msg | CPU ratio | Parley cs/msg | Parley p50/p99 ms (½ its peak) | bare p50/p99 ms (½ its peak) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    for s in servers {
        s.stop().await;
    }
}

// ---------------------------------------------------------------------------------------------
// idle
// ---------------------------------------------------------------------------------------------

async fn idle(args: &[String]) {
    let counts = list(args, "--conns", &[1000, 10_000]);
    let backend = Backend::from_args(args);
    println!(
        "== idle: authenticated WebSockets held open, server RSS growth per socket; open-file limit {} ==",
        nofile()
    );
    let mut rows = Vec::new();
    for &n in &counts {
        // Client and server each hold one descriptor per socket (plus their own).
        if n + 200 > nofile() {
            println!(
                "idle {n} sockets: NOT RUN, the open-file limit is {} (raise the hard limit, e.g. `ulimit -Hn`, LimitNOFILE)",
                nofile()
            );
            continue;
        }
        let mut kib = Vec::new();
        for kind in [Kind::Parley, Kind::Bare] {
            let server = spawn_server(kind, &backend).await;
            let users = register_many(&server, 10).await;
            // Warm-up: a few sockets first, so runtime threads and pools exist before the baseline.
            let mut held = Vec::new();
            for u in &users {
                held.push(server.ws(u, None, 0).await);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            let before = server.rss_kib();
            let started = Instant::now();
            let server_ref = &server;
            let users_ref = &users;
            let opened: Vec<Ws> = futures_util::stream::iter(0..n as usize)
                .map(|i| async move {
                    // Several loopback source addresses: ~28,000 ephemeral ports each.
                    let src = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (i % 8) as u8));
                    let instance = i % server_ref.processes.len();
                    server_ref
                        .ws(&users_ref[i % users_ref.len()], Some(src), instance)
                        .await
                })
                .buffer_unordered(64)
                .collect()
                .await;
            let took = started.elapsed();
            tokio::time::sleep(Duration::from_secs(2)).await;
            let after = server.rss_kib();
            let per = (after.saturating_sub(before)) as f64 / n as f64;
            println!(
                "idle {:<6} {n:>6} sockets opened in {:>5.1} s: RSS {before} → {after} KiB = {per:.1} KiB per socket",
                kind.name(),
                took.as_secs_f64()
            );
            kib.push(per);
            drop(opened);
            drop(held);
            server.stop().await;
        }
        rows.push(format!(
            "| {n} | {:.1} | {:.1} | {:.2} |",
            kib[0],
            kib[1],
            kib[0] / kib[1]
        ));
    }
    println!("\n| sockets | Parley KiB/socket | bare KiB/socket | Parley/bare |");
    println!("|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}
