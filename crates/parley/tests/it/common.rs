//! The test harness: `spawn_app` starts the real server on 127.0.0.1:0 with a fresh data
//! directory and returns a client that trusts exactly that server's CA.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parley::cli::ServeArgs;
use parley::core::Config;
use parley::server::RunningServer;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tempfile::TempDir;

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub domain: String,
    pub data_dir: PathBuf,
    pub dir: TempDir,
    pub server: Option<RunningServer>,
    pub client: reqwest::Client,
}

impl TestApp {
    pub fn state(&self) -> &parley::http::AppState {
        &self.server.as_ref().unwrap().state
    }
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
    /// `GET path` with the app's own client: the response itself.
    pub async fn fetch(&self, path: &str) -> reqwest::Response {
        self.request("GET", path).await
    }
    /// `method path` with the app's own client and no body: the response itself.
    pub async fn request(&self, method: &str, path: &str) -> reqwest::Response {
        let method = method.parse().unwrap();
        self.client
            .request(method, self.url(path))
            .send()
            .await
            .unwrap()
    }

    pub fn tls_dir(&self) -> PathBuf {
        self.data_dir.join("tls")
    }
    pub async fn stop(mut self) -> TempDir {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
        self.dir
    }
}

/// A request for every kind of response the server gives — a page, a script, a stylesheet, an
/// API answer, an unknown API path, an unknown file, an unknown page, a wrong method — and the
/// status it gets: (method, path, status).
pub const EVERY_KIND_OF_RESPONSE: [(&str, &str, u16); 9] = [
    ("GET", "/", 200),
    ("GET", "/app.js", 200),
    ("GET", "/style.css", 200),
    ("GET", "/api/health", 200),
    ("GET", "/api/no-such-endpoint", 404),
    ("GET", "/no-such-file.html", 404),
    ("GET", "/no/such/page", 404),
    ("POST", "/api/health", 405),
    ("DELETE", "/api/health", 405),
];

pub fn base_args(dir: &Path) -> ServeArgs {
    ServeArgs {
        data_dir: Some(dir.to_path_buf()),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        ..ServeArgs::default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A fresh server with the test defaults plus `tweak`.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_on(tempfile::tempdir().unwrap(), tweak).await
}

/// Start a server on `dir` (fresh, or left by a stopped server) with the usual flags
/// ([`base_args`]), the test defaults plus `tweak`.
pub async fn spawn_on(dir: TempDir, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let args = base_args(dir.path());
    spawn_with(dir, args, tweak).await
}

/// Start a server on `dir` with these flags (data_dir and listen are usually from `base_args`).
pub async fn spawn_in(dir: TempDir, args: ServeArgs) -> TestApp {
    spawn_with(dir, args, |_| {}).await
}

/// The settings every test server gets unless a test changes them: a known CAPTCHA answer
/// (so tests can sign up), no breached-password API (tests that need one start a fake), the
/// test clock, the cheapest Argon2id parameters the configuration allows, and no send quota.
pub fn test_defaults(c: &mut Config) {
    c.test_captcha_answer = Some(CAPTCHA.into());
    c.breach_api_url = String::new();
    c.test_clock = true;
    // Bulk senders (10,000-message backlogs, fault runs) must not meet the per-user send quota
    // (issue 9 item 8); the quota's own tests set it low explicitly.
    c.quota_sends_per_minute = 1_000_000;
}

pub const CAPTCHA: &str = "testcaptcha";

/// Start a server with the test defaults plus `tweak`.
pub async fn spawn_with(dir: TempDir, args: ServeArgs, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = Config::load(None, &args).expect("valid test configuration");
    test_defaults(&mut config);
    if config.database_url.is_none()
        && let Some(url) = postgres_for(&config.data_dir).await
    {
        config.database_url = Some(parley::core::secret::Secret::new(url));
    }
    tweak(&mut config);
    config.validate().expect("valid test configuration");
    let domain = config.domain.clone();
    let data_dir = config.data_dir.clone();
    let server = parley::server::start(config).await.expect("server starts");
    let addr = server.local_addr;
    let ca = server
        .ca_file
        .clone()
        .unwrap_or_else(|| data_dir.join("tls/ca.pem"));
    let client = client_trusting(&ca, &domain, addr);
    TestApp {
        base: format!("https://{domain}:{}", addr.port()),
        addr,
        domain,
        data_dir,
        dir,
        server: Some(server),
        client,
    }
}

/// With `PARLEY_TEST_DATABASE_URL` set (a PostgreSQL server URL, e.g.
/// `postgres://postgres:postgres@127.0.0.1:5432`), every test server gets its own fresh
/// database there — the same database again when a test restarts a server on the same data
/// directory. Without it, tests use the embedded SQLite default.
async fn postgres_for(data_dir: &Path) -> Option<String> {
    let base = std::env::var("PARLEY_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let base = base.trim_end_matches('/');
    let marker = data_dir.join("test-database-url");
    if let Ok(url) = std::fs::read_to_string(&marker) {
        return Some(url);
    }
    let url = create_database(base, "parley_test").await;
    std::fs::create_dir_all(data_dir).unwrap();
    std::fs::write(&marker, &url).unwrap();
    Some(url)
}

// A new, empty database on a PostgreSQL server: `create_database(base, prefix)` → its URL.
#[path = "../../examples/common/pg_database.rs"]
mod pg_database;
pub use pg_database::create_database;

/// Everything the database holds, as bytes to search (white-box checks): the SQLite files, or
/// a `pg_dump` of the test's PostgreSQL database (where BYTEA appears as hex).
pub async fn dump_database(data_dir: &Path) -> Vec<u8> {
    if let Ok(url) = std::fs::read_to_string(data_dir.join("test-database-url")) {
        let (ok, out) = run("pg_dump", &["--data-only", &url]).await;
        assert!(ok, "pg_dump failed: {out}");
        return out.into_bytes();
    }
    let mut all = std::fs::read(data_dir.join("parley.db")).unwrap();
    all.extend(std::fs::read(data_dir.join("parley.db-wal")).unwrap_or_default());
    all
}

/// A TLS client config that trusts only `ca` (any provider — the server enforces the policy).
pub fn tls_config_trusting(ca: &Path) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// A client for plain-HTTP checks (reqwest needs a process-wide rustls provider for that).
pub fn plain_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `GET url` over plain HTTP, no redirect followed: the response itself.
pub async fn plain_get(url: &str) -> reqwest::Response {
    plain_client().get(url).send().await.unwrap()
}

pub fn client_trusting(ca: &Path, domain: &str, addr: SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls(tls_config_trusting(ca))
        .resolve(domain, addr)
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The port in the first line the `parley` binary prints (`Parley is listening on
/// https://…:PORT/`).
pub fn listening_port(first_line: &str) -> u16 {
    let url = first_line
        .strip_prefix("Parley is listening on ")
        .unwrap_or_else(|| panic!("not the listening line: {first_line}"));
    let port = url.trim_end_matches('/').rsplit(':').next().unwrap();
    port.parse().unwrap()
}

/// Run a command to completion, returning (success, stdout + stderr).
pub async fn run(cmd: &str, args: &[&str]) -> (bool, String) {
    let out = tokio::process::Command::new(cmd)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e} (run scripts/setup-test-deps.sh)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
