//! Shared by the CLI's integration tests: a real `parley` server (the binary built beside
//! `parley-chat`, fresh data directory, SQLite or a fresh PostgreSQL database), TOTP codes, and
//! `parley-chat` commands pointed at it with a private state directory.

#![allow(dead_code)] // each test binary uses its own part of the harness

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// The CAPTCHA answer of every test server.
pub const CAPTCHA: &str = "testcaptcha";
/// A password the server accepts.
pub const PASSWORD: &str = "Tangerine lighthouse drifts 47 furlongs";
/// The local state passphrase of test accounts.
pub const PASSPHRASE: &str = "correct horse battery staple for tests";

/// The `parley-chat` binary under test.
pub fn cli_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_parley-chat"))
}

/// The `parley` server binary: `$PARLEY_BIN`, or the one built beside `parley-chat`
/// (`cargo build --bin parley`).
pub fn server_binary() -> PathBuf {
    if let Ok(bin) = std::env::var("PARLEY_BIN") {
        return PathBuf::from(bin);
    }
    let bin = cli_binary().with_file_name("parley");
    assert!(
        bin.exists(),
        "{} not found: run `cargo build --bin parley` first",
        bin.display()
    );
    bin
}

/// A running server; killed and its data directory removed when dropped.
pub struct Server {
    pub url: String,
    pub ca_file: PathBuf,
    pub data_dir: tempfile::TempDir,
    child: Child,
    /// Seconds the test clock was moved forward.
    pub clock_offset: i64,
}

/// Options of a test server.
#[derive(Default)]
pub struct ServerOptions {
    /// `database_url` (PostgreSQL); SQLite in the data directory when `None`.
    pub database_url: Option<String>,
    /// Share this instance's TLS directory (CA and certificate) — for a second instance of the
    /// same site.
    pub tls_from: Option<PathBuf>,
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(ServerOptions::default())
    }

    pub fn start_with(options: ServerOptions) -> Server {
        let data_dir = tempfile::tempdir().expect("temp dir");
        if let Some(tls) = &options.tls_from {
            copy_dir(tls, &data_dir.path().join("tls"));
        }
        let mut cmd = Command::new(server_binary());
        cmd.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--domain",
            "localhost",
            "--data-dir",
        ])
        .arg(data_dir.path())
        .env("PARLEY__TEST_CAPTCHA_ANSWER", CAPTCHA)
        .env("PARLEY__TEST_CLOCK", "true")
        .env("PARLEY__BREACH_API_URL", "")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        if let Some(db) = &options.database_url {
            cmd.env("PARLEY__DATABASE_URL", db);
        }
        let mut child = cmd.spawn().expect("spawn parley");
        // `parley serve` prints "Parley is listening on https://…/" on stdout (its logs go to
        // stderr); both are read to the end so that the server never blocks on a full pipe.
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        for (out, tx) in [
            (Box::new(stdout) as Box<dyn std::io::Read + Send>, Some(tx)),
            (Box::new(stderr), None),
        ] {
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if let Some(tx) = &tx
                        && let Some(url) = line.strip_prefix("Parley is listening on ")
                    {
                        let _ = tx.send(url.trim().trim_end_matches('/').to_owned());
                    }
                    if std::env::var_os("PARLEY_TEST_SERVER_LOG").is_some() {
                        eprintln!("[server] {line}");
                    }
                }
            });
        }
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server's listening line");
        let ca_file = data_dir.path().join("tls").join("ca.pem");
        Server {
            url,
            ca_file,
            data_dir,
            child,
            clock_offset: 0,
        }
    }

    /// A `parley-chat` command against this server with state in `state_dir` and the test
    /// passphrase in the environment.
    pub fn cli(&self, state_dir: &Path) -> Command {
        let mut cmd = Command::new(cli_binary());
        cmd.arg("--server")
            .arg(&self.url)
            .arg("--ca-file")
            .arg(&self.ca_file)
            .arg("--state-dir")
            .arg(state_dir)
            .env("PARLEY_PASSPHRASE", PASSPHRASE)
            .env_remove("PARLEY_SERVER")
            .env_remove("PARLEY_CA_FILE")
            .env_remove("PARLEY_STATE_DIR");
        cmd
    }

    /// The current TOTP code for `secret` (base32, spaces allowed) on the server's clock.
    pub fn totp(&self, secret: &str) -> String {
        totp_at(secret, now() + self.clock_offset)
    }

    /// Move the server's test clock forward (e.g. past a TOTP step already used).
    pub fn advance_clock(&mut self, secs: i64) {
        let out = Command::new("curl")
            .args(["-sS", "--fail", "--cacert"])
            .arg(&self.ca_file)
            .args(["-H", "content-type: application/json", "-d"])
            .arg(format!("{{\"advance_secs\":{secs}}}"))
            .arg(format!("{}/api/test/clock", self.url))
            .output()
            .expect("curl");
        assert!(out.status.success(), "advance clock: {out:?}");
        self.clock_offset += secs;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Unix seconds now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// RFC 6238 with the server's parameters (SHA-1, 6 digits, 30-second steps).
pub fn totp_at(secret: &str, unix: i64) -> String {
    let clean: String = secret
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();
    let key = data_encoding::BASE32_NOPAD
        .decode(clean.as_bytes())
        .expect("a base32 TOTP secret");
    let counter = (unix.div_euclid(30) as u64).to_be_bytes();
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(&key).expect("any key length");
    mac.update(&counter);
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let bin = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!("{:06}", bin % 1_000_000)
}

/// A fresh PostgreSQL database for a test (`PARLEY_TEST_DATABASE_URL`, default the local
/// server): its URL. `None` when no PostgreSQL server answers — callers that need one fail.
pub fn create_pg_database(prefix: &str) -> String {
    let base = std::env::var("PARLEY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432".into());
    let base = base.trim_end_matches('/').to_owned();
    let name = format!("{prefix}_{}_{}", std::process::id(), now());
    let out = Command::new("psql")
        .arg(format!("{base}/postgres"))
        .args(["-v", "ON_ERROR_STOP=1", "-c"])
        .arg(format!("CREATE DATABASE {name}"))
        .output()
        .expect("psql (scripts/setup-test-deps.sh installs PostgreSQL)");
    assert!(
        out.status.success(),
        "create database: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!("{base}/{name}")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

// ---- appended by the engine helper (issue 12): a server restart on the same address ----------

impl Server {
    /// Stop the server and start it again on the same address with the same data directory
    /// (SQLite, or `database_url`): sessions, messages and TLS survive; clients reconnect.
    pub fn restart(&mut self, database_url: Option<&str>) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let port = self
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .expect("the server's port");
        let mut cmd = Command::new(server_binary());
        cmd.args(["serve", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["--domain", "localhost", "--data-dir"])
            .arg(self.data_dir.path())
            .env("PARLEY__TEST_CAPTCHA_ANSWER", CAPTCHA)
            .env("PARLEY__TEST_CLOCK", "true")
            .env("PARLEY__BREACH_API_URL", "")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(db) = database_url {
            cmd.env("PARLEY__DATABASE_URL", db);
        }
        let mut child = cmd.spawn().expect("spawn parley");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent && line.starts_with("Parley is listening on ") {
                    let _ = tx.send(());
                    sent = true;
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(60))
            .expect("the restarted server's listening line");
        self.child = child;
        self.clock_offset = 0;
    }
}

/// Where the terminal tests save their screen captures: `test-output/cli/` (never committed),
/// or `docs/cli/` — the committed pictures of each screen — with `PARLEY_UPDATE_CAPTURES=1`.
/// Every run draws new usernames, secrets and times, so a normal run leaves docs/ alone.
pub fn capture_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if std::env::var_os("PARLEY_UPDATE_CAPTURES").is_some_and(|v| v == "1") {
        root.join("docs/cli")
    } else {
        root.join("test-output/cli")
    }
}
