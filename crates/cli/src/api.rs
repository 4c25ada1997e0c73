//! The server's HTTP API, typed with `parley-api`. One [`Api`] per server: it keeps the session
//! cookie (`__Host-parley_session`) in its own jar, sends the CSRF token the sign-in returned on
//! every state-changing request (E10) and an `Origin` naming the server exactly as it was
//! reached (the server's same-origin check). Refusals come back as the server's own
//! [`ErrorBody`] — the same codes and messages the browser shows.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parley_api::ErrorBody;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{HeaderValue, ORIGIN};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::exit;

/// The session cookie's name (the server's `service/sessions.rs`).
pub const SESSION_COOKIE: &str = "__Host-parley_session";
/// The CSRF header the server checks.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The user agent the server records in the sessions list.
pub const USER_AGENT: &str = concat!("parley-chat/", env!("CARGO_PKG_VERSION"));

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The server answered with an error body.
    #[error("{}", .body.message)]
    Refused { status: u16, body: Box<ErrorBody> },
    /// The server could not be reached, or TLS failed.
    #[error("cannot reach the server: {0}")]
    Network(String),
    /// The server answered something that is not Parley's API.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
}

impl ApiError {
    /// The stable error code of a refusal (`unauthorized`, `rate_limited`, …).
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Refused { body, .. } => Some(&body.error),
            _ => None,
        }
    }

    /// The process exit code this failure maps to.
    pub fn exit_code(&self) -> i32 {
        match self {
            // A wrong password or code is a 401 too, but signing in again is not the answer.
            ApiError::Refused { body, .. }
                if matches!(
                    body.error.as_str(),
                    "invalid_credentials" | "invalid_code" | "registration_expired"
                ) =>
            {
                exit::REFUSED
            }
            ApiError::Refused { status: 401, .. } => exit::SIGN_IN_NEEDED,
            ApiError::Refused { body, .. }
                if matches!(
                    body.error.as_str(),
                    "unauthorized" | "session_expired" | "second_factor_required"
                ) =>
            {
                exit::SIGN_IN_NEEDED
            }
            ApiError::Refused { status: 404, .. } => exit::NOT_FOUND,
            ApiError::Refused { .. } => exit::REFUSED,
            ApiError::Network(_) => exit::NETWORK,
            ApiError::Protocol(_) => exit::FAILURE,
        }
    }
}

/// A connection to one Parley server.
pub struct Api {
    base: Url,
    origin: HeaderValue,
    http: Client,
    jar: Arc<Jar>,
    csrf: Option<String>,
    tls: Arc<rustls::ClientConfig>,
}

impl Api {
    /// A client of `server` (`https://host:port`), trusting `ca_file` or the system's roots.
    pub fn new(server: &str, ca_file: Option<&Path>) -> anyhow::Result<Self> {
        let base = Url::parse(server)
            .map_err(|e| anyhow::anyhow!("--server {server:?} is not a URL: {e}"))?;
        if base.scheme() != "https" {
            anyhow::bail!("--server must be an https:// URL (Parley is served over TLS only)");
        }
        let origin = HeaderValue::from_str(base.origin().ascii_serialization().as_str())?;
        let jar = Arc::new(Jar::default());
        let tls = crate::tls::client_config(ca_file, &[b"h2", b"http/1.1"])?;
        let http = Client::builder()
            .use_preconfigured_tls(tls.clone())
            .cookie_provider(jar.clone())
            // Parley's API never redirects; a redirect would resend a password body elsewhere.
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()?;
        let ws_tls = crate::tls::client_config(ca_file, &[b"http/1.1"])?;
        Ok(Api {
            base,
            origin,
            http,
            jar,
            csrf: None,
            tls: Arc::new(ws_tls),
        })
    }

    /// The server's base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The TLS configuration for the WebSocket (HTTP/1.1 only).
    pub fn ws_tls(&self) -> Arc<rustls::ClientConfig> {
        self.tls.clone()
    }

    /// Restore a session kept in the state file.
    pub fn set_session(&mut self, token: &str, csrf: &str) {
        let cookie = format!("{SESSION_COOKIE}={token}; Secure; HttpOnly; Path=/; SameSite=Strict");
        self.jar.add_cookie_str(&cookie, &self.base);
        self.csrf = Some(csrf.to_owned());
    }

    /// Remember the CSRF token of a completed sign-in.
    pub fn set_csrf(&mut self, csrf: &str) {
        self.csrf = Some(csrf.to_owned());
    }

    /// The session cookie's value, to keep in the state file.
    pub fn session_token(&self) -> Option<String> {
        let header = self.jar.cookies(&self.base)?;
        header
            .to_str()
            .ok()?
            .split(';')
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == SESSION_COOKIE)
            .map(|(_, v)| v.to_owned())
    }

    /// The cookie header for the WebSocket handshake.
    pub fn cookie_header(&self) -> Option<String> {
        self.jar
            .cookies(&self.base)
            .and_then(|h| h.to_str().ok().map(str::to_owned))
    }

    /// The `Origin` header value.
    pub fn origin(&self) -> &str {
        self.origin.to_str().unwrap_or_default()
    }

    /// The CSRF token, if signed in.
    pub fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }

    fn url(&self, path: &str) -> Result<Url, ApiError> {
        self.base
            .join(path)
            .map_err(|e| ApiError::Protocol(format!("bad path {path}: {e}")))
    }

    fn with_headers(&self, req: RequestBuilder) -> RequestBuilder {
        let req = req.header(ORIGIN, self.origin.clone());
        match &self.csrf {
            Some(token) => req.header(CSRF_HEADER, token),
            None => req,
        }
    }

    /// `GET path` → `T`.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let req = self.http.get(self.url(path)?);
        json(self.with_headers(req).send())
    }

    /// `GET path` → the body's bytes (e.g. CAPTCHA audio).
    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>, ApiError> {
        let req = self.http.get(self.url(path)?);
        let resp = checked(self.with_headers(req).send())?;
        resp.bytes()
            .map(|b| b.to_vec())
            .map_err(|e| ApiError::Network(e.to_string()))
    }

    /// `POST path` with a JSON body → `T`.
    pub fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ApiError> {
        let req = self.http.post(self.url(path)?).json(body);
        json(self.with_headers(req).send())
    }

    /// `POST path` with a JSON body, ignoring the answer's body.
    pub fn post_empty<B: Serialize + ?Sized>(&self, path: &str, body: &B) -> Result<(), ApiError> {
        let req = self.http.post(self.url(path)?).json(body);
        checked(self.with_headers(req).send()).map(drop)
    }

    /// `DELETE path` with a JSON body (or none), ignoring the answer's body.
    pub fn delete<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: Option<&B>,
    ) -> Result<(), ApiError> {
        let mut req = self.http.delete(self.url(path)?);
        if let Some(body) = body {
            req = req.json(body);
        }
        checked(self.with_headers(req).send()).map(drop)
    }
}

fn checked(sent: reqwest::Result<Response>) -> Result<Response, ApiError> {
    let resp = sent.map_err(|e| ApiError::Network(error_chain(&e)))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let text = resp.text().unwrap_or_default();
    match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => Err(ApiError::Refused {
            status: status.as_u16(),
            body: Box::new(body),
        }),
        Err(_) => Err(ApiError::Protocol(format!(
            "HTTP {status} with a body that is not an error: {:.200}",
            text
        ))),
    }
}

fn json<T: DeserializeOwned>(sent: reqwest::Result<Response>) -> Result<T, ApiError> {
    let resp = checked(sent)?;
    let text = resp.text().map_err(|e| ApiError::Network(e.to_string()))?;
    // Not the body itself: a successful answer may hold a CSRF token, a TOTP secret or codes.
    serde_json::from_str(&text).map_err(|e| {
        ApiError::Protocol(format!(
            "an answer this parley-chat does not understand (line {}, column {}): is the server a \
             different version?",
            e.line(),
            e.column()
        ))
    })
}

/// reqwest's error with its causes (a TLS failure is only in the source chain).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
