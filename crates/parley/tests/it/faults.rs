//! Fault injection (issue 9): the server is killed with SIGKILL while several clients send,
//! PostgreSQL restarts under traffic, WebSockets drop in the middle of a backlog, one of two
//! instances stops. After recovery every message acknowledged with `201` is delivered exactly
//! once: it reaches its recipient, is acknowledged once and its `delivered` receipt is
//! published once. (A message whose send got no answer may or may not be stored — it is not
//! acknowledged; docs/security.md "What 201 promises".)

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use parley_api::ServerFrame;
use serde_json::{Value, json};

use crate::backlog::unique_msg;
use crate::common::{TestApp, spawn_app, spawn_app_with};
use crate::flows::*;

/// A client of some server: where it is, whom it trusts, its session.
#[derive(Clone)]
struct Endpoint {
    addr: std::net::SocketAddr,
    ca: std::path::PathBuf,
}

impl Endpoint {
    fn of(app: &TestApp) -> Endpoint {
        Endpoint {
            addr: app.addr,
            ca: app.tls_dir().join("ca.pem"),
        }
    }

    fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .use_preconfigured_tls(crate::common::tls_config_trusting(&self.ca))
            .resolve("localhost", self.addr)
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap()
    }

    /// Send once; `Some(id)` only for a `201`.
    async fn send(&self, client: &reqwest::Client, from: &User, to: &str) -> Option<i64> {
        let res = client
            .post(format!(
                "https://localhost:{}/api/conversations/{to}/messages",
                self.addr.port()
            ))
            .header("cookie", format!("__Host-parley_session={}", from.cookie))
            .header("x-csrf-token", &from.csrf)
            .header("origin", format!("https://localhost:{}", self.addr.port()))
            .json(&json!({"payload": unique_msg()}))
            .send()
            .await
            .ok()?;
        if res.status() != 201 {
            return None;
        }
        let b: Value = res.json().await.ok()?;
        b["message"]["id"].as_i64()
    }

    async fn ws(&self, user: &User) -> Ws {
        let origin = format!("https://localhost:{}", self.addr.port());
        crate::messaging::ws_open(self.addr, &self.ca, &user.cookie, &origin)
            .await
            .unwrap()
    }
}

/// The recipient's side: every message frame it saw (with how often) and what it acknowledged.
#[derive(Default)]
struct Inbox {
    seen: HashMap<i64, usize>,
    acked: HashSet<i64>,
}

impl Inbox {
    /// Read the backlog to its end, acknowledging every message (as the browser does).
    async fn drain(&mut self, ws: &mut Ws, me: &User) {
        loop {
            match next_frame(ws).await {
                ServerFrame::Message { message } if message.recipient_id == me.id => {
                    self.take(ws, message.id).await;
                }
                ServerFrame::BacklogDone => return,
                _ => {}
            }
        }
    }

    /// Keep the message (by id, as the browser does) and acknowledge it — again if it comes
    /// again: an ack that never reached the server must be repeated.
    async fn take(&mut self, ws: &mut Ws, id: i64) {
        *self.seen.entry(id).or_default() += 1;
        self.acked.insert(id);
        // A socket that is going away may refuse it: the message then comes again on the
        // next connection and is acknowledged there.
        let _ = try_send_frame(ws, &ack_frame(id)).await;
    }

    /// After a fault under traffic: stop the senders, drop `me`'s old socket, read the backlog
    /// of a fresh one through `ep`, and [`check`](Self::check) that every send acknowledged
    /// with `201` arrived; print what happened (`what`).
    async fn catch_up(
        &mut self,
        traffic: &Traffic,
        senders: [tokio::task::JoinHandle<(Vec<i64>, usize)>; 2],
        (old, ep, me): (Ws, &Endpoint, &User),
        what: &str,
    ) {
        traffic.stop.store(true, Ordering::SeqCst);
        let (mut all, mut failed) = (Vec::new(), 0);
        for sender in senders {
            let (sent, failures) = sender.await.unwrap();
            all.extend(sent);
            failed += failures;
        }
        drop(old);
        let mut ws = ep.ws(me).await;
        self.drain(&mut ws, me).await;
        let (lost, resent) = self.check(&all, what);
        println!(
            "{what}: {} acknowledged, {failed} sends failed; lost {lost}, resent before an ack reached the server {resent}",
            all.len()
        );
    }

    /// Every acknowledged send arrived and was acknowledged once; returns (lost, resent): a
    /// message is resent when the recipient's ack never reached the server (the socket or
    /// the instance died first) — at-least-once until acknowledged, and the client keeps
    /// messages by id, so it still shows once.
    fn check(&self, acknowledged: &[i64], what: &str) -> (usize, usize) {
        let lost: Vec<&i64> = acknowledged
            .iter()
            .filter(|id| !self.acked.contains(id))
            .collect();
        let dup = self.seen.values().filter(|n| **n > 1).count();
        assert!(
            lost.is_empty(),
            "{what}: lost {} acknowledged messages: {lost:?}",
            lost.len()
        );
        (lost.len(), dup)
    }
}

/// What the senders share: when to stop, and how many sends were stored (`201`) and failed so
/// far — so that a fault is injected once traffic is flowing, not after a fixed sleep.
#[derive(Default)]
struct Traffic {
    stop: AtomicBool,
    stored: AtomicUsize,
    failed: AtomicUsize,
}

impl Traffic {
    fn running(&self) -> bool {
        !self.stop.load(Ordering::SeqCst)
    }

    fn record(&self, sent: Option<i64>) {
        let counter = if sent.is_some() {
            &self.stored
        } else {
            &self.failed
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }

    /// Wait until `more` sends than now have been stored.
    async fn stored_more(&self, more: usize, what: &str) {
        let target = self.stored.load(Ordering::SeqCst) + more;
        wait_until(what, Duration::from_secs(60), || {
            self.stored.load(Ordering::SeqCst) >= target
        })
        .await;
    }
}

/// Send from `from` to `to` until told to stop; the ids answered with 201, and how many sends
/// got no answer or an error.
async fn keep_sending(
    ep: Endpoint,
    from: Arc<User>,
    to: String,
    traffic: Arc<Traffic>,
) -> (Vec<i64>, usize) {
    let client = ep.client();
    let (mut ok, mut failed) = (Vec::new(), 0);
    while traffic.running() {
        let sent = ep.send(&client, &from, &to).await;
        traffic.record(sent);
        match sent {
            Some(id) => ok.push(id),
            None => {
                failed += 1;
                // Pace the retries while the server is away (not a wait for an event: the
                // loop runs until told to stop).
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    (ok, failed)
}

// ------------------------------------------------------------------ kill -9

struct Child {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

/// The real binary on `data` (SQLite), listening on a free port.
fn start_binary(data: &Path) -> Child {
    use std::io::{BufRead, BufReader};
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_parley"));
    cmd.args([
        "serve",
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--domain",
        "localhost",
    ])
    .env("PARLEY__BREACH_API_URL", "")
    .env("PARLEY__QUOTA_SENDS_PER_MINUTE", "1000000");
    // On the PostgreSQL run of the suite, the same database the in-process server used.
    if let Ok(url) = std::fs::read_to_string(data.join("test-database-url")) {
        cmd.env("PARLEY__DATABASE_URL", url);
    }
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let port = crate::common::listening_port(&first);
    // Keep reading stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Child {
        child,
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
    }
}

#[tokio::test]
async fn issue9_faults_kill_9_while_clients_send_loses_nothing() {
    // Accounts are made by an in-process server on the same data directory (it has the test
    // CAPTCHA); the binary then serves them.
    let app = spawn_app().await;
    let data = app.data_dir.clone();
    let mut users = Vec::new();
    for name in ["alice", "bobby", "carol", "david"] {
        users.push(Arc::new(app.register(name).await));
    }
    let _dir = app.stop().await;

    let mut server = start_binary(&data);
    let ep = Endpoint {
        addr: server.addr,
        ca: data.join("tls/ca.pem"),
    };
    // Everyone sends to everyone else's neighbour, four clients at once.
    let traffic = Arc::new(Traffic::default());
    let mut senders = Vec::new();
    for i in 0..4 {
        let (from, to) = (users[i].clone(), users[(i + 1) % 4].id.clone());
        senders.push(tokio::spawn(keep_sending(
            ep.clone(),
            from,
            to,
            traffic.clone(),
        )));
    }
    // Until a couple of hundred are stored, then SIGKILL with sends in flight.
    let client = ep.client();
    traffic
        .stored_more(200, "200 messages stored before the kill")
        .await;
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    // Every client meets the dead server before they stop.
    let failed_before = traffic.failed.load(Ordering::SeqCst);
    wait_until(
        "the senders see the server gone",
        Duration::from_secs(30),
        || traffic.failed.load(Ordering::SeqCst) >= failed_before + 4,
    )
    .await;
    traffic.stop.store(true, Ordering::SeqCst);
    let mut acknowledged: Vec<Vec<i64>> = Vec::new();
    let mut failed = 0;
    for s in senders {
        let (ok, f) = s.await.unwrap();
        acknowledged.push(ok);
        failed += f;
    }
    drop(client);

    let mut server = start_binary(&data);
    let ep = Endpoint {
        addr: server.addr,
        ca: data.join("tls/ca.pem"),
    };
    let mut lost = 0;
    let mut dup = 0;
    let total: usize = acknowledged.iter().map(Vec::len).sum();
    assert!(
        total > 20,
        "only {total} messages were sent before the kill"
    );
    for i in 0..4 {
        let me = &users[(i + 1) % 4];
        let mut inbox = Inbox::default();
        let mut ws = ep.ws(me).await;
        inbox.drain(&mut ws, me).await;
        let (l, d) = inbox.check(&acknowledged[i], "kill -9");
        lost += l;
        dup += d;
        let extra = inbox.acked.len() - acknowledged[i].len();
        assert!(
            extra <= 1,
            "at most the one in-flight send per client is stored unacknowledged ({extra})"
        );
    }
    println!(
        "kill -9: {total} acknowledged, {failed} sends without answer; lost {lost}, resent {dup}"
    );
    assert_eq!(dup, 0, "a fresh connection sends each message once");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}

// ------------------------------------------------------------------ drop mid-backlog

#[tokio::test]
async fn issue9_faults_websocket_dropped_mid_backlog_loses_and_duplicates_nothing() {
    let (app, alice) = crate::common::spawn_app().await.with_alice().await;
    let bob = app.register("bobby").await;
    let sent = crate::backlog::send_many(&alice, &bob, 450, 8).await;
    let ep = Endpoint::of(&app);
    let mut alice_ws = ep.ws(&alice).await;
    crate::messaging::backlog(&mut alice_ws).await;

    let mut inbox = Inbox::default();
    let mut drops = 0;
    // Read a page and a half, acknowledging only the first 120 frames, then cut the TCP
    // connection without a close frame; three times; then read to the end.
    for round in 0..3 {
        let mut ws = ep.ws(&bob).await;
        let mut n = 0;
        while n < 150 {
            match next_frame(&mut ws).await {
                ServerFrame::Message { message } => {
                    n += 1;
                    if n <= 120 {
                        inbox.take(&mut ws, message.id).await;
                    } else {
                        *inbox.seen.entry(message.id).or_default() += 1;
                    }
                }
                ServerFrame::BacklogDone => break,
                _ => {}
            }
        }
        drop(ws);
        drops += 1;
        let _ = round;
    }
    let mut ws = ep.ws(&bob).await;
    inbox.drain(&mut ws, &bob).await;
    let (lost, _) = inbox.check(&sent, "dropped sockets");
    // Frames seen twice are only those that were never acknowledged before a drop.
    let resent = inbox.seen.values().filter(|n| **n > 1).count();
    // Alice hears `delivered` exactly once per message.
    let mut receipts: HashMap<i64, usize> = HashMap::new();
    while receipts.len() < sent.len() {
        if let ServerFrame::Delivered { id, .. } = next_frame(&mut alice_ws).await {
            *receipts.entry(id).or_default() += 1;
        }
    }
    let extra = event_within(&mut alice_ws, Duration::from_millis(300)).await;
    assert!(
        !matches!(extra, Some(WsEvent::Frame(ServerFrame::Delivered { .. }))),
        "{extra:?}"
    );
    assert!(
        receipts.values().all(|n| *n == 1),
        "a delivered receipt twice"
    );
    println!(
        "dropped mid-backlog {drops} times: {} messages, lost {lost}, delivered receipts per message exactly 1, resent before an ack reached the server {resent}",
        sent.len()
    );
    app.stop().await;
}

// ------------------------------------------------------------------ PostgreSQL

/// A private PostgreSQL server in a temporary directory (never the machine's shared cluster).
struct PrivatePg {
    dir: tempfile::TempDir,
    port: u16,
    bin: std::path::PathBuf,
}

impl PrivatePg {
    fn pg_ctl(&self, args: &[&str]) {
        let data = self.dir.path().join("data");
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on",
            self.port,
            self.dir.path().display()
        );
        let mut cmd = vec![
            self.bin.join("pg_ctl").display().to_string(),
            "-D".into(),
            data.display().to_string(),
            "-o".into(),
            opts,
            "-l".into(),
            self.dir.path().join("log").display().to_string(),
            "-w".into(),
        ];
        cmd.extend(args.iter().map(|s| s.to_string()));
        let ok = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .args(&cmd)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success(), "pg_ctl {args:?}");
    }

    fn start() -> PrivatePg {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is installed (scripts/setup-test-deps.sh)")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .max()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::process::Command::new("chown")
            .args(["postgres", dir.path().to_str().unwrap()])
            .status()
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let ok = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin.join("initdb"))
            .args([
                "-D",
                dir.path().join("data").to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
            ])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success(), "initdb");
        let pg = PrivatePg { dir, port, bin };
        pg.pg_ctl(&["start"]);
        pg
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue9_faults_postgres_restart_under_traffic_loses_nothing() {
    let pg = Arc::new(PrivatePg::start());
    let url = pg.url();
    let app = spawn_app_with(move |c| {
        c.database_url = Some(parley::core::secret::Secret::new(url));
    })
    .await;
    let alice = Arc::new(app.register("alice").await);
    let carol = Arc::new(app.register("carol").await);
    let bob = app.register("bobby").await;
    let ep = Endpoint::of(&app);
    // Bob is online throughout and acknowledges what is pushed live.
    let mut bob_ws = ep.ws(&bob).await;
    crate::messaging::backlog(&mut bob_ws).await;
    let traffic = Arc::new(Traffic::default());
    let a = tokio::spawn(keep_sending(
        ep.clone(),
        alice,
        bob.id.clone(),
        traffic.clone(),
    ));
    let c = tokio::spawn(keep_sending(
        ep.clone(),
        carol,
        bob.id.clone(),
        traffic.clone(),
    ));
    let mut inbox = Inbox::default();
    let live = async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(6);
        while tokio::time::Instant::now() < deadline {
            match event_within(&mut bob_ws, Duration::from_millis(200)).await {
                Some(WsEvent::Frame(ServerFrame::Message { message })) => {
                    inbox.take(&mut bob_ws, message.id).await;
                }
                Some(WsEvent::Closed(_)) => return,
                _ => {}
            }
        }
    };
    let restart = async {
        traffic
            .stored_more(50, "50 messages stored before the restart")
            .await;
        let pg = pg.clone();
        tokio::task::spawn_blocking(move || pg.pg_ctl(&["-m", "fast", "restart"]))
            .await
            .unwrap();
    };
    tokio::join!(live, restart);
    // Traffic goes on until sends are stored again after the restart.
    traffic
        .stored_more(50, "50 messages stored after the restart")
        .await;
    // After recovery Bob reconnects and catches up on everything not acknowledged live.
    let bob_side = (bob_ws, &ep, &bob);
    inbox
        .catch_up(&traffic, [a, c], bob_side, "PostgreSQL restart")
        .await;
    app.stop().await;
}

// ------------------------------------------------------------------ one of two instances

/// Like `keep_sending`, but a client whose instance stops answering moves to the next one.
async fn keep_sending_any(
    eps: Vec<Endpoint>,
    from: Arc<User>,
    to: String,
    traffic: Arc<Traffic>,
) -> (Vec<i64>, usize) {
    let clients: Vec<reqwest::Client> = eps.iter().map(Endpoint::client).collect();
    let (mut ok, mut failed, mut at) = (Vec::new(), 0, 0);
    while traffic.running() {
        let sent = eps[at].send(&clients[at], &from, &to).await;
        traffic.record(sent);
        match sent {
            Some(id) => ok.push(id),
            None => {
                failed += 1;
                at = (at + 1) % eps.len();
            }
        }
    }
    (ok, failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue9_faults_one_of_two_instances_stops_under_traffic_loses_nothing() {
    let cluster = crate::scale::Cluster::new(5).await;
    let (one, two) = cluster.two_with(|_| {}).await;
    let alice = Arc::new(one.register("alice").await);
    let carol = Arc::new(two.register("carol").await);
    let bob = two.register("bobby").await;
    let (ep1, ep2) = (Endpoint::of(&one), Endpoint::of(&two));

    // Bob is on instance 2, which will stop; Alice sends through 1, Carol through 2.
    let mut bob_ws = ep2.ws(&bob).await;
    crate::messaging::backlog(&mut bob_ws).await;
    let traffic = Arc::new(Traffic::default());
    let a = tokio::spawn(keep_sending_any(
        vec![ep1.clone()],
        alice,
        bob.id.clone(),
        traffic.clone(),
    ));
    let c = tokio::spawn(keep_sending_any(
        vec![ep2.clone(), ep1.clone()],
        carol,
        bob.id.clone(),
        traffic.clone(),
    ));
    let mut inbox = Inbox::default();
    let mut moved = false;
    let stopper = tokio::spawn({
        let traffic = traffic.clone();
        async move {
            traffic
                .stored_more(50, "50 messages stored before instance 2 stops")
                .await;
            two.stop().await;
        }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        match event_within(&mut bob_ws, Duration::from_millis(200)).await {
            Some(WsEvent::Frame(ServerFrame::Message { message }))
                if message.recipient_id == bob.id =>
            {
                inbox.take(&mut bob_ws, message.id).await;
            }
            Some(WsEvent::Closed(code)) => {
                // Instance 2 is going away (1012): Bob's tab reconnects to instance 1.
                assert!(!moved, "closed twice");
                assert_eq!(code, Some(1012));
                moved = true;
                bob_ws = ep1.ws(&bob).await;
                inbox.drain(&mut bob_ws, &bob).await;
            }
            _ => {}
        }
    }
    stopper.await.unwrap();
    assert!(moved, "Bob's socket on the stopped instance was closed");
    // Whatever was not pushed live is in the backlog of a fresh connection.
    let bob_side = (bob_ws, &ep1, &bob);
    inbox
        .catch_up(&traffic, [a, c], bob_side, "one of two instances stopped")
        .await;
    one.stop().await;
}
