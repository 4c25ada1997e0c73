//! Breached-password check against the Pwned Passwords range API (requirement A3, NIST SP 800-63B
//! §5.1.1.2 "passwords obtained from previous breach corpuses").
//!
//! k-anonymity: the password is hashed with SHA-1 and only the first 5 hex characters of the hash
//! leave the process (`GET {base}/range/{prefix}`); the service answers with every known suffix
//! for that prefix (hundreds of them) and the comparison happens here. `Add-Padding: true` asks for
//! extra fake suffixes with count 0, so that even the response size says nothing about the
//! prefix; padding lines never count as a hit.
//!
//! The check fails *open to the offline list*: any error, timeout, redirect, non-200 status or
//! malformed body gives [`BreachResult::Unavailable`], and the caller relies on the embedded list of
//! [`super::password_policy`] alone (and logs it). A password never becomes acceptable because the
//! remote service misbehaved — only less thoroughly checked.
//!
//! Neither the password nor its hash is ever logged; the 5-character prefix appears at debug level.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use sha1::{Digest, Sha1};

use super::password_policy;

/// Sent with every request; the Pwned Passwords API asks clients to identify themselves.
const USER_AGENT: &str = "Parley-password-check";
/// The system's CA bundle (Debian/Ubuntu path, also in our Docker image). `SSL_CERT_FILE`, the
/// usual OpenSSL override, takes precedence when set.
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// A real padded range response is ≈ 30–40 KB; anything far larger is not the API we expect, and
/// reading it whole would let a misbehaving server make us buffer without bound.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Length of the SHA-1 prefix sent (5 hex digits = 20 bits: about a million buckets).
const PREFIX_LEN: usize = 5;
/// SHA-1 has 40 hex digits; the server lists the remaining 35.
const SUFFIX_LEN: usize = 35;

/// What the range API said about one password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreachResult {
    /// The password's hash is in the corpus, seen `count` times (always ≥ 1).
    Found { count: u64 },
    /// The service answered and the password is not in it.
    NotFound,
    /// No answer we can trust (disabled, unreachable, timed out, non-200, malformed); the reason
    /// is for logs and never contains the password, its hash or the prefix.
    Unavailable(String),
}

/// A client for one Pwned Passwords range API. Cheap to clone (the HTTP client is shared).
#[derive(Clone)]
pub struct BreachChecker {
    remote: Option<Remote>,
}

#[derive(Clone)]
struct Remote {
    client: reqwest::Client,
    /// Base URL without a trailing slash, e.g. `https://api.pwnedpasswords.com`.
    base: String,
    timeout: Duration,
}

impl fmt::Debug for BreachChecker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.remote {
            Some(r) => f
                .debug_struct("BreachChecker")
                .field("base", &r.base)
                .field("timeout", &r.timeout)
                .finish(),
            None => f.write_str("BreachChecker(disabled)"),
        }
    }
}

impl BreachChecker {
    /// A checker for the range API at `base_url` (e.g. `https://api.pwnedpasswords.com`, or
    /// `http://127.0.0.1:PORT` in tests); an empty `base_url` disables the check. `timeout` bounds
    /// each whole request (connect, TLS, headers and body).
    ///
    /// Plain `http` is accepted only for loopback addresses: over a network, an attacker could
    /// otherwise forge answers (hiding breached passwords, or refusing good ones) and see which
    /// prefixes are queried.
    pub fn new(base_url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let base = base_url.trim().trim_end_matches('/');
        if base.is_empty() {
            return Ok(BreachChecker { remote: None });
        }
        let url = reqwest::Url::parse(base)
            .with_context(|| format!("the breached-password API URL {base:?} is not a URL"))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => bail!(
                "the breached-password API URL {base:?} must use https (plain http is only \
                 allowed for loopback test servers)"
            ),
            other => {
                bail!("the breached-password API URL {base:?} has unsupported scheme {other:?}")
            }
        }
        if url.query().is_some() || url.fragment().is_some() {
            bail!("the breached-password API URL {base:?} must not have a query or fragment");
        }
        if !url.username().is_empty() || url.password().is_some() {
            bail!("the breached-password API URL must not contain credentials");
        }
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config()?)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(USER_AGENT)
            .build()
            .context("cannot build the HTTP client for the breached-password API")?;
        Ok(BreachChecker {
            remote: Some(Remote {
                client,
                base: base.to_string(),
                timeout,
            }),
        })
    }

    /// Whether a range API is configured at all.
    pub fn enabled(&self) -> bool {
        self.remote.is_some()
    }

    /// Looks `password` up. It is NFKC-normalized first (a no-op for callers that already did), so
    /// the hash is that of the password as stored. Never panics, never takes longer than the
    /// timeout (plus scheduling).
    pub async fn check(&self, password: &str) -> BreachResult {
        let Some(remote) = &self.remote else {
            return BreachResult::Unavailable("the breached-password API is disabled".into());
        };
        let hash = sha1_hex(&password_policy::normalize(password));
        let (prefix, suffix) = hash.split_at(PREFIX_LEN);
        tracing::debug!(prefix, "querying the breached-password range API");
        let body = match tokio::time::timeout(remote.timeout, remote.fetch(prefix)).await {
            Ok(Ok(body)) => body,
            Ok(Err(why)) => return BreachResult::Unavailable(why),
            Err(_) => {
                return BreachResult::Unavailable(format!("timed out after {:?}", remote.timeout));
            }
        };
        match find_suffix(&body, suffix) {
            Ok(Some(count)) => BreachResult::Found { count },
            Ok(None) => BreachResult::NotFound,
            Err(why) => BreachResult::Unavailable(why),
        }
    }
}

impl Remote {
    /// GET the range for `prefix`; the body as text, or a reason fit for logs.
    async fn fetch(&self, prefix: &str) -> Result<String, String> {
        let url = format!("{}/range/{prefix}", self.base);
        let mut response = self
            .client
            .get(url)
            .header("Add-Padding", "true")
            .send()
            .await
            .map_err(|e| describe(e, self.timeout))?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            return Err(format!("unexpected HTTP status {status}"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| describe(e, self.timeout))?
        {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(format!("response larger than {MAX_BODY_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        String::from_utf8(body).map_err(|_| "response is not UTF-8 text".to_string())
    }
}

/// A reqwest error as a log-safe reason: without the URL (it holds the prefix) but with the causes
/// (e.g. "connection refused", "invalid peer certificate").
fn describe(error: reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return format!("timed out after {timeout:?}");
    }
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Upper-case hex SHA-1, the form the range API uses.
fn sha1_hex(password: &str) -> String {
    data_encoding::HEXUPPER.encode(&Sha1::digest(password.as_bytes()))
}

/// Scans a range response (`SUFFIX:COUNT` lines, CRLF or LF) for `suffix`. A matching line with
/// count 0 is padding, not a hit. Any malformed line makes the whole response untrusted: a captive
/// portal's HTML page answered with 200 must not read as "not breached".
fn find_suffix(body: &str, suffix: &str) -> Result<Option<u64>, String> {
    let mut found = None;
    for line in body.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((candidate, count)) = line.split_once(':') else {
            return Err("malformed range response (a line without ':')".into());
        };
        if candidate.len() != SUFFIX_LEN || !candidate.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("malformed range response (a suffix is not 35 hex digits)".into());
        }
        let count: u64 = count
            .trim()
            .parse()
            .map_err(|_| "malformed range response (a count is not a number)".to_string())?;
        if count > 0 && candidate.eq_ignore_ascii_case(suffix) {
            found = Some(count);
        }
    }
    Ok(found)
}

/// `localhost` or a loopback IP literal.
fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// rustls with the ring provider (the crate's only TLS backend; reqwest is built without one),
/// TLS 1.2 and 1.3 (whatever the API's CDN offers), and the system's root certificates.
fn tls_config() -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS protocol versions for the breached-password API")?
        .with_root_certificates(system_roots())
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The system's trusted roots. If the bundle is missing or unreadable the store stays empty:
/// https requests then fail certificate verification and the check reports `Unavailable`, which
/// is safe (the offline list still applies) and visible in the logs.
fn system_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    let path = std::env::var_os("SSL_CERT_FILE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| CA_BUNDLE.into());
    match std::fs::read(&path) {
        Ok(pem) => {
            let certs = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok);
            let (added, ignored) = roots.add_parsable_certificates(certs);
            if added == 0 {
                tracing::warn!(
                    path = %path.display(),
                    "no usable CA certificates; the breached-password API cannot be reached over https"
                );
            } else {
                tracing::debug!(path = %path.display(), added, ignored, "CA certificates loaded");
            }
        }
        Err(e) => tracing::warn!(
            path = %path.display(),
            error = %e,
            "cannot read the CA bundle; the breached-password API cannot be reached over https"
        ),
    }
    roots
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Instant;

    use axum::Router;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::get;

    use super::*;

    /// SHA-1("password") = 5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8.
    const PASSWORD_SUFFIX: &str = "1E4C9B93F3F0682250B6CF8331B7EE68FD8";

    #[test]
    fn hash_is_upper_case_sha1_of_the_normalized_password() {
        assert_eq!(sha1_hex("password"), format!("5BAA6{PASSWORD_SUFFIX}"));
        assert_eq!(
            sha1_hex(&password_policy::normalize("cafe\u{301}")),
            sha1_hex("caf\u{e9}")
        );
    }

    #[test]
    fn range_responses_are_parsed_strictly() {
        let body = format!(
            "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n{PASSWORD_SUFFIX}:9545824\r\n\
             00D4F6E8FA6EECAD2A3AA415EEC418D38EC:2\r\n"
        );
        assert_eq!(find_suffix(&body, PASSWORD_SUFFIX), Ok(Some(9_545_824)));
        assert_eq!(
            find_suffix(&body.to_lowercase(), PASSWORD_SUFFIX),
            Ok(Some(9_545_824))
        );
        assert_eq!(find_suffix(&body, &"A".repeat(35)), Ok(None));
        assert_eq!(find_suffix("", PASSWORD_SUFFIX), Ok(None));
        // Padding: count 0 is never a hit, even for our own suffix.
        assert_eq!(
            find_suffix(&format!("{PASSWORD_SUFFIX}:0\n"), PASSWORD_SUFFIX),
            Ok(None)
        );
        for bad in [
            "<html><body>Sign in to the Wi-Fi</body></html>",
            "0018A45C4D1DEF81644B54AB7F969B88D65",
            "0018A45C4D1DEF81644B54AB7F969B88D6:1",
            "0018A45C4D1DEF81644B54AB7F969B88D6Z:1",
            "0018A45C4D1DEF81644B54AB7F969B88D65:many",
        ] {
            assert!(find_suffix(bad, PASSWORD_SUFFIX).is_err(), "{bad}");
        }
    }

    #[test]
    fn configuration_is_validated() {
        let t = Duration::from_secs(1);
        assert!(!BreachChecker::new("", t).unwrap().enabled());
        assert!(!BreachChecker::new("  ", t).unwrap().enabled());
        assert!(
            BreachChecker::new("https://api.pwnedpasswords.com/", t)
                .unwrap()
                .enabled()
        );
        assert!(
            BreachChecker::new("http://127.0.0.1:9", t)
                .unwrap()
                .enabled()
        );
        assert!(BreachChecker::new("http://[::1]:9", t).unwrap().enabled());
        assert!(
            BreachChecker::new("http://localhost:9/hibp", t)
                .unwrap()
                .enabled()
        );
        for bad in [
            "http://api.pwnedpasswords.com",
            "ftp://127.0.0.1",
            "not a url",
            "https://api.pwnedpasswords.com/?x=1",
            "https://user:pw@api.pwnedpasswords.com",
        ] {
            assert!(BreachChecker::new(bad, t).is_err(), "{bad}");
        }
        let debug = format!("{:?}", BreachChecker::new("", t).unwrap());
        assert!(debug.contains("disabled"));
    }

    #[tokio::test]
    async fn disabled_and_unreachable_are_unavailable() {
        let t = Duration::from_secs(2);
        let disabled = BreachChecker::new("", t).unwrap();
        assert!(matches!(
            disabled.check("password").await,
            BreachResult::Unavailable(_)
        ));
        // A closed port: connection refused, fast.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let refused = BreachChecker::new(&format!("http://127.0.0.1:{closed}"), t).unwrap();
        let BreachResult::Unavailable(why) = refused.check("password").await else {
            panic!("expected Unavailable");
        };
        assert!(
            !why.contains("5BAA6"),
            "the reason must not carry the prefix: {why}"
        );
        // https to a server that does not speak TLS: a handshake error, not a panic (the rustls
        // provider is wired in even though reqwest is built without one).
        let (url, _server) = serve(Router::new().fallback(|| async { "plain" })).await;
        let tls = BreachChecker::new(&url.replace("http://", "https://"), t).unwrap();
        assert!(matches!(
            tls.check("password").await,
            BreachResult::Unavailable(_)
        ));
    }

    #[tokio::test]
    async fn answers_are_read_from_a_range_server() {
        let app =
            Router::new().route(
                "/range/{prefix}",
                get(
                    |headers: HeaderMap,
                     axum::extract::Path(prefix): axum::extract::Path<String>| async move {
                        assert_eq!(headers["add-padding"], "true");
                        assert_eq!(headers["user-agent"], USER_AGENT);
                        if prefix == "5BAA6" {
                            format!("{PASSWORD_SUFFIX}:42\r\n0018A45C4D1DEF81644B54AB7F969B88D65:0")
                                .into_response()
                        } else {
                            "0018A45C4D1DEF81644B54AB7F969B88D65:3".into_response()
                        }
                    },
                ),
            );
        let (url, _server) = serve(app).await;
        let checker = BreachChecker::new(&url, Duration::from_secs(5)).unwrap();
        assert_eq!(
            checker.check("password").await,
            BreachResult::Found { count: 42 }
        );
        assert_eq!(checker.check("not in there").await, BreachResult::NotFound);
    }

    #[tokio::test]
    async fn redirects_errors_and_slow_servers_are_unavailable() {
        let app = Router::new()
            .route(
                "/moved/range/{p}",
                get(|| async { axum::response::Redirect::temporary("/ok/range/5BAA6") }),
            )
            .route(
                "/broken/range/{p}",
                get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "oops") }),
            )
            .route(
                "/huge/range/{p}",
                get(|| async { "0018A45C4D1DEF81644B54AB7F969B88D65:1\n".repeat(40_000) }),
            )
            .route(
                "/slow/range/{p}",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    "never"
                }),
            );
        let (url, _server) = serve(app).await;
        let t = Duration::from_millis(500);
        for path in ["moved", "broken", "huge", "slow"] {
            let checker = BreachChecker::new(&format!("{url}/{path}"), t).unwrap();
            let start = Instant::now();
            let result = checker.check("password").await;
            assert!(
                matches!(result, BreachResult::Unavailable(_)),
                "{path}: {result:?}"
            );
            assert!(start.elapsed() < Duration::from_secs(3), "{path}");
        }
    }

    /// Serves `app` on 127.0.0.1:0; the handle stops it when dropped.
    async fn serve(app: Router) -> (String, AbortOnDrop) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        (url, AbortOnDrop(task))
    }

    struct AbortOnDrop(tokio::task::JoinHandle<()>);

    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
}
