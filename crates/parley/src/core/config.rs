//! Configuration: defaults → config file (TOML) → environment (`PARLEY__KEY`) → command-line
//! flags, validated once at start-up. The result is immutable and shared as `Arc<Config>`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use super::secret::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the SQLite database, the TLS files and the server's secret keys live.
    #[serde(default = "defaults::data_dir")]
    pub data_dir: PathBuf,
    /// The HTTPS listener (T8: port 8443 by default).
    #[serde(default = "defaults::listen")]
    pub listen: SocketAddr,
    /// The site's DNS name: the certificate's CN and only SAN, and the origin the app accepts.
    #[serde(default = "defaults::domain")]
    pub domain: String,
    /// Serve this certificate chain and key (PEM) as they are.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Issue the site certificate from this CA at start-up (T7).
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
    #[serde(default)]
    pub ca_key: Option<PathBuf>,
    /// `sqlite://…` or `postgres://…`; default: `<data_dir>/parley.db`.
    #[serde(default)]
    pub database_url: Option<Secret<String>>,
    /// Optional plain-HTTP listener that only redirects to HTTPS.
    #[serde(default)]
    pub http_redirect: Option<SocketAddr>,
    /// Serve Prometheus metrics (`GET /metrics`, plain HTTP) on this address. Off by default;
    /// keep it on loopback or a private network (docs/deployment.md).
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    #[serde(default)]
    pub log_format: LogFormat,
    /// Largest accepted request body in bytes.
    #[serde(default = "defaults::body_limit")]
    pub body_limit: usize,
    /// Longest time a request may take before it is answered with 408.
    #[serde(default = "defaults::request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Open connections (TLS handshakes, HTTP and WebSockets together) beyond this wait in the
    /// kernel's backlog. Lowered at start-up to stay below the open-file limit.
    #[serde(default = "defaults::max_connections")]
    pub max_connections: usize,
    /// Open WebSockets beyond this are refused with `503 busy`; below `max_connections`, so
    /// long-lived sockets never take the slots that ordinary requests need.
    #[serde(default = "defaults::max_websockets")]
    pub max_websockets: usize,
    /// An HTTP/1.1 keep-alive or HTTP/2 connection with no request in flight for this long is
    /// closed (HTTP/2 with a GOAWAY).
    #[serde(default = "defaults::idle_timeout_secs")]
    pub idle_timeout_secs: u64,
    /// Base URL of a Pwned Passwords range API (`<url>/range/<5 hex>`); empty disables it and
    /// only the offline list is used.
    #[serde(default = "defaults::breach_api_url")]
    pub breach_api_url: String,
    /// How long to wait for the range API before falling back to the offline list.
    #[serde(default = "defaults::breach_api_timeout_ms")]
    pub breach_api_timeout_ms: u64,
    /// `always` (default): a CAPTCHA on every sign-in; `after_failure`: only after a failed one.
    #[serde(default)]
    pub login_captcha: LoginCaptcha,
    /// Argon2id memory cost in KiB (at least 19456) and passes (at least 2); p = 1.
    #[serde(default = "defaults::argon2_memory_kib")]
    pub argon2_memory_kib: u32,
    #[serde(default = "defaults::argon2_iterations")]
    pub argon2_iterations: u32,
    /// How many password hashes may run at once: the hashing threads (default: the number of
    /// CPUs minus one, at least one; issue 10).
    #[serde(default)]
    pub hash_concurrency: Option<usize>,
    /// The password pepper (base64, at least 32 bytes). Default: `<data_dir>/secrets/pepper.key`.
    #[serde(default)]
    pub pepper: Option<Secret<String>>,
    /// The key that encrypts TOTP secrets at rest (base64, 32 bytes).
    /// Default: `<data_dir>/secrets/totp.key`.
    #[serde(default)]
    pub totp_key: Option<Secret<String>>,
    /// Proxies whose `X-Forwarded-For` is believed (IP addresses or CIDR ranges).
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// E9: the browser client logs every crypto operation to the console. Turn off in production.
    #[serde(default = "defaults::yes")]
    pub crypto_console_log: bool,
    /// Messages one user may send per minute (burst the same; issue 9 item 8).
    #[serde(default = "defaults::quota_sends_per_minute")]
    pub quota_sends_per_minute: u32,
    /// Public-key publications one user may make per hour (burst the same).
    #[serde(default = "defaults::quota_key_publications_per_hour")]
    pub quota_key_publications_per_hour: u32,
    /// `/api/users` look-ups one user may make per minute (burst the same).
    #[serde(default = "defaults::quota_user_lookups_per_minute")]
    pub quota_user_lookups_per_minute: u32,
    /// WebSockets one session may hold open at once (per instance).
    #[serde(default = "defaults::quota_sockets_per_session")]
    pub quota_sockets_per_session: u32,
    /// TESTS ONLY: lets `POST /api/test/clock` move the server's clock.
    #[serde(default)]
    pub test_clock: bool,
    /// TESTS ONLY: every CAPTCHA's answer is this text, so browser tests can sign up.
    #[serde(default)]
    pub test_captcha_answer: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginCaptcha {
    #[default]
    Always,
    AfterFailure,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

mod defaults {
    use std::net::SocketAddr;
    use std::path::PathBuf;

    pub fn data_dir() -> PathBuf {
        PathBuf::from("./parley-data")
    }
    pub fn listen() -> SocketAddr {
        SocketAddr::from(([0, 0, 0, 0], 8443))
    }
    pub fn domain() -> String {
        "localhost".into()
    }
    pub fn body_limit() -> usize {
        256 * 1024
    }
    pub fn request_timeout_secs() -> u64 {
        30
    }
    pub fn max_connections() -> usize {
        10_000
    }
    pub fn max_websockets() -> usize {
        8_000
    }
    pub fn idle_timeout_secs() -> u64 {
        60
    }
    pub fn breach_api_url() -> String {
        "https://api.pwnedpasswords.com".into()
    }
    pub fn breach_api_timeout_ms() -> u64 {
        2000
    }
    pub fn argon2_memory_kib() -> u32 {
        19_456
    }
    pub fn argon2_iterations() -> u32 {
        2
    }
    pub fn yes() -> bool {
        true
    }
    pub fn quota_sends_per_minute() -> u32 {
        120
    }
    pub fn quota_key_publications_per_hour() -> u32 {
        30
    }
    pub fn quota_user_lookups_per_minute() -> u32 {
        60
    }
    pub fn quota_sockets_per_session() -> u32 {
        10
    }
}

/// Where the site certificate comes from, decided once by `Config::tls_source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// Operator-supplied certificate chain and key, served as they are.
    Files { cert: PathBuf, key: PathBuf },
    /// Operator-supplied CA; the site certificate is issued from it at start-up (T7).
    Ca { cert: PathBuf, key: PathBuf },
    /// Parley makes its own name-constrained CA in `<data_dir>/tls`.
    SelfIssued,
}

/// The backend chosen by the database URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

impl Config {
    /// Load from an optional TOML file, the environment and command-line overrides (highest),
    /// then validate. Every problem is reported at once, one per line.
    pub fn load(file: Option<&Path>, overrides: &impl Serialize) -> Result<Config, String> {
        let mut fig = Figment::new();
        if let Some(file) = file {
            if !file.is_file() {
                return Err(format!("config file {} does not exist", file.display()));
            }
            fig = fig.merge(Toml::file_exact(file));
        }
        let fig = fig
            .merge(Env::prefixed("PARLEY__").split("__"))
            .merge(Serialized::defaults(overrides));
        let config: Config = fig.extract().map_err(|e| {
            e.into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if let Err(e) = validate_domain(&self.domain) {
            problems.push(format!("domain: {e}"));
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) | (None, Some(_)) => {
                problems.push("tls_cert and tls_key must be given together".into())
            }
            _ => {}
        }
        match (&self.ca_cert, &self.ca_key) {
            (Some(_), None) | (None, Some(_)) => {
                problems.push("ca_cert and ca_key must be given together".into())
            }
            _ => {}
        }
        if self.tls_cert.is_some() && self.ca_cert.is_some() {
            problems.push(
                "give either tls_cert/tls_key (serve this certificate) or ca_cert/ca_key \
                 (issue one from this CA), not both"
                    .into(),
            );
        }
        for (name, path) in [
            ("tls_cert", &self.tls_cert),
            ("tls_key", &self.tls_key),
            ("ca_cert", &self.ca_cert),
            ("ca_key", &self.ca_key),
        ] {
            if let Some(p) = path
                && !p.is_file()
            {
                problems.push(format!("{name}: {} is not a readable file", p.display()));
            }
        }
        if let Some(url) = &self.database_url
            && !(url.expose().starts_with("sqlite:")
                || url.expose().starts_with("postgres://")
                || url.expose().starts_with("postgresql://"))
        {
            problems
                .push("database_url must start with sqlite:, postgres:// or postgresql://".into());
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.body_limit) {
            problems.push("body_limit must be between 1024 and 67108864 bytes".into());
        }
        if !(1..=600).contains(&self.request_timeout_secs) {
            problems.push("request_timeout_secs must be between 1 and 600".into());
        }
        if !(16..=1_000_000).contains(&self.max_connections) {
            problems.push("max_connections must be between 16 and 1000000".into());
        }
        if self.max_websockets == 0 || self.max_websockets >= self.max_connections {
            problems.push("max_websockets must be at least 1 and below max_connections".into());
        }
        if !(1..=3600).contains(&self.idle_timeout_secs) {
            problems.push("idle_timeout_secs must be between 1 and 3600".into());
        }
        if self.argon2_memory_kib < 19_456 || self.argon2_memory_kib > 4 * 1024 * 1024 {
            problems.push("argon2_memory_kib must be between 19456 and 4194304".into());
        }
        if !(2..=100).contains(&self.argon2_iterations) {
            problems.push("argon2_iterations must be between 2 and 100".into());
        }
        for (name, value) in [
            ("quota_sends_per_minute", self.quota_sends_per_minute),
            (
                "quota_key_publications_per_hour",
                self.quota_key_publications_per_hour,
            ),
            (
                "quota_user_lookups_per_minute",
                self.quota_user_lookups_per_minute,
            ),
            ("quota_sockets_per_session", self.quota_sockets_per_session),
        ] {
            if !(1..=1_000_000).contains(&value) {
                problems.push(format!("{name} must be between 1 and 1000000"));
            }
        }
        if self.hash_concurrency == Some(0) {
            problems.push("hash_concurrency must be at least 1".into());
        }
        for proxy in &self.trusted_proxies {
            if crate::core::net::IpRange::parse(proxy).is_none() {
                problems.push(format!(
                    "trusted_proxies: '{proxy}' is not an IP address or CIDR range"
                ));
            }
        }
        if let Some(redirect) = self.http_redirect
            && redirect.port() != 0
            && redirect == self.listen
        {
            problems.push("http_redirect must listen on another address than listen".into());
        }
        if let Some(metrics) = self.metrics_listen
            && metrics.port() != 0
            && (metrics == self.listen || Some(metrics) == self.http_redirect)
        {
            problems.push(
                "metrics_listen must listen on another address than listen and http_redirect"
                    .into(),
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }

    pub fn tls_source(&self) -> TlsSource {
        match (&self.tls_cert, &self.tls_key, &self.ca_cert, &self.ca_key) {
            (Some(cert), Some(key), _, _) => TlsSource::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            (_, _, Some(cert), Some(key)) => TlsSource::Ca {
                cert: cert.clone(),
                key: key.clone(),
            },
            _ => TlsSource::SelfIssued,
        }
    }

    pub fn tls_dir(&self) -> PathBuf {
        self.data_dir.join("tls")
    }

    /// The database URL in effect (the SQLite file in the data dir unless configured).
    pub fn database_url(&self) -> Secret<String> {
        match &self.database_url {
            Some(url) => url.clone(),
            None => Secret::new(format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("parley.db").display()
            )),
        }
    }

    pub fn db_kind(&self) -> DbKind {
        if self.database_url().expose().starts_with("sqlite:") {
            DbKind::Sqlite
        } else {
            DbKind::Postgres
        }
    }
}

/// A DNS name: 1–253 characters, labels of 1–63 letters, digits and inner hyphens, lower case.
/// IP addresses are refused (the certificate profile names a domain).
pub fn validate_domain(domain: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("'{domain}' is not a valid DNS name: {why}"));
    if domain.is_empty() || domain.len() > 253 {
        return bad("it must be 1 to 253 characters long");
    }
    if domain.parse::<std::net::IpAddr>().is_ok() {
        return bad("IP addresses are not supported; use a host name");
    }
    if domain != domain.to_ascii_lowercase() {
        return bad("use lower case");
    }
    for label in domain.split('.') {
        if label.is_empty() || label.len() > 63 {
            return bad("each dot-separated label must be 1 to 63 characters");
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return bad("only letters a-z, digits, hyphens and dots are allowed");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a label cannot start or end with a hyphen");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        for ok in ["localhost", "chat.example.org", "a-b.c1.test"] {
            assert!(validate_domain(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "127.0.0.1",
            "Chat.example",
            "-a.test",
            "a..b",
            "a_b.test",
            "ex ample",
        ] {
            assert!(validate_domain(bad).is_err(), "{bad}");
        }
    }
}
