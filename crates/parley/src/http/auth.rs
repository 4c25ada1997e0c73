//! Authentication as extractors (STYLE.md, vaultwarden `auth.rs`): the client's address
//! (forwarded headers believed only from trusted proxies), the session at each stage, CSRF and
//! same-origin checks.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::core::net::IpRange;
use crate::core::{AppError, Config};
use crate::db::sessions::SessionRow;
use crate::db::users::UserRow;
use crate::http::AppState;
use crate::service::accounts::Client;
use crate::service::crypto::ct_eq;
use crate::service::sessions::{COOKIE, Stage};

/// Requests carrying this header are background work (polling, fetches after a push) and do
/// not count as user activity for the idle timeout (4.2.3-idle-30m).
pub const BACKGROUND_HEADER: &str = "x-parley-background";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The value of cookie `name` in the request, if any.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The client's address: the peer, or — only when the peer is a trusted proxy — the
/// right-most address in `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(config: &Config, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let trusted: Vec<IpRange> = config
        .trusted_proxies
        .iter()
        .filter_map(|p| IpRange::parse(p))
        .collect();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|r| r.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !is_trusted(*ip))
        .unwrap_or(peer)
}

impl FromRequestParts<AppState> for Client {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        Ok(Client {
            ip: client_ip(&state.config, peer, &parts.headers),
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .chars()
                .take(300)
                .collect(),
        })
    }
}

/// A fully authenticated session (password + second factor), with the CSRF token checked on
/// state-changing requests and the idle timer reset by user actions.
pub struct AuthSession {
    pub session: SessionRow,
    pub user: UserRow,
}

/// The same, for requests that must not count as activity (`GET /api/me`).
pub struct PassiveSession(pub AuthSession);

/// A session that has passed only the password step.
pub struct PendingSession(pub SessionRow);

async fn load(parts: &Parts, state: &AppState) -> Result<SessionRow, AppError> {
    let token = cookie(&parts.headers, COOKIE).ok_or(AppError::Unauthorized)?;
    state.sessions.validate(token).await
}

async fn full(parts: &Parts, state: &AppState, passive: bool) -> Result<AuthSession, AppError> {
    let session = load(parts, state).await?;
    if session.stage != Stage::Full {
        return Err(AppError::SecondFactorRequired);
    }
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let sent = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !ct_eq(sent, &session.csrf_token) {
            return Err(AppError::CsrfFailed);
        }
    }
    let user = state.accounts.user(&session.user_id).await?;
    // 5.1.1.2-force-change-on-compromise: only the password change (and reading who you are,
    // and signing out) is possible until the password is changed.
    // The full path: nested routers see only the part after their prefix.
    let path = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map_or(parts.uri.path(), |u| u.0.path());
    if user.must_change_password
        && !matches!(path, "/api/me" | "/api/logout" | "/api/account/password")
    {
        return Err(AppError::PasswordChangeRequired);
    }
    if !passive && !parts.headers.contains_key(BACKGROUND_HEADER) {
        // At most once per TOUCH_EVERY_SECS (issue 10; service/sessions.rs).
        state
            .sessions
            .touch_if_due(&session.id_hash, session.last_active_at)
            .await?;
    }
    Ok(AuthSession { session, user })
}

impl FromRequestParts<AppState> for AuthSession {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        full(parts, state, false).await
    }
}

impl FromRequestParts<AppState> for PassiveSession {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        full(parts, state, true).await.map(PassiveSession)
    }
}

impl FromRequestParts<AppState> for PendingSession {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let session = load(parts, state).await?;
        if session.stage != Stage::Pending {
            // A full session has nothing to do here; a missing one must start at step 1.
            return Err(AppError::Unauthorized);
        }
        Ok(PendingSession(session))
    }
}

/// Same-origin check for every state-changing API request (E10, 7.1-session-id-in-requests):
/// a browser's `Sec-Fetch-Site` must be `same-origin` (or `none`, typed by the user), and an
/// `Origin` must name this site exactly as the browser reached it (`https://<Host>`).
pub async fn same_origin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let host = request_host(req.headers(), req.uri());
    if let Err(e) = check_same_origin(&state.config, req.method(), req.headers(), host.as_deref()) {
        return e.into_response();
    }
    next.run(req).await
}

/// The host (and port) the client addressed: the `Host` header on HTTP/1.1, the request URI's
/// authority on HTTP/2 (which has no `Host` header).
pub fn request_host(headers: &HeaderMap, uri: &axum::http::Uri) -> Option<String> {
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.as_str().to_owned()))
}

/// `origin` must be `https://<host>` exactly, and the host's name this site's domain.
pub fn origin_matches(config: &Config, origin: &str, host: Option<&str>) -> bool {
    let Some(host) = host else {
        return false;
    };
    let host_name = host.rsplit_once(':').map_or(host, |(n, _)| n);
    origin == format!("https://{host}") && host_name == config.domain
}

fn check_same_origin(
    config: &Config,
    method: &Method,
    h: &HeaderMap,
    host: Option<&str>,
) -> Result<(), AppError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && site != "same-origin"
        && site != "none"
    {
        return Err(AppError::CrossSite);
    }
    if let Some(origin) = h.get(header::ORIGIN) {
        let origin = origin.to_str().map_err(|_| AppError::CrossSite)?;
        if !origin_matches(config, origin, host) {
            return Err(AppError::CrossSite);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::load(None, &crate::cli::ServeArgs::default()).unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let mut c = config();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.9, 10.0.0.2".parse().unwrap());
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(
            client_ip(&c, peer, &h),
            peer,
            "no trusted proxies: the peer"
        );
        c.trusted_proxies = vec!["10.0.0.0/8".into()];
        assert_eq!(
            client_ip(&c, peer, &h),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        let outsider: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(
            client_ip(&c, outsider, &h),
            outsider,
            "spoofed header from outside"
        );
    }

    #[test]
    fn origin_checks() {
        let c = config();
        let mut h = HeaderMap::new();
        let host = Some("localhost:8443");
        let post = |h: &HeaderMap, host| check_same_origin(&c, &Method::POST, h, host);
        assert!(post(&h, host).is_ok(), "non-browser client");
        h.insert(header::ORIGIN, "https://localhost:8443".parse().unwrap());
        assert!(post(&h, host).is_ok());
        assert!(post(&h, None).is_err(), "no host known");
        h.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(post(&h, host).is_err());
        h.insert(header::ORIGIN, "http://localhost:8443".parse().unwrap());
        assert!(post(&h, host).is_err(), "http origin");
        h.remove(header::ORIGIN);
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(post(&h, host).is_err());
        assert!(check_same_origin(&c, &Method::GET, &h, host).is_ok());
        // HTTP/2 has no Host header: the URI's authority stands in.
        let uri: axum::http::Uri = "https://localhost:8443/api/login".parse().unwrap();
        assert_eq!(
            request_host(&HeaderMap::new(), &uri).as_deref(),
            Some("localhost:8443")
        );
    }
}
