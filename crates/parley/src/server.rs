//! Start-up and the listeners: the HTTPS listener (rustls, policy in `tls::policy`), the
//! optional plain-HTTP redirect listener, certificate renewal, and graceful shutdown.
//!
//! Every connection holds one of `max_connections` slots from accept to close (a WebSocket
//! keeps its connection's slot, see `http::ws::ConnSlot`). A connection is closed when it
//! stays silent: the TLS handshake must finish in `HANDSHAKE_TIMEOUT`, the first request must
//! start `FIRST_REQUEST_TIMEOUT` after it (hyper-util's protocol detection has no timeout of
//! its own), HTTP/1 headers must arrive in `HEADER_TIMEOUT`, and a connection with no request
//! in flight for `idle_timeout_secs` is shut down (HTTP/2: GOAWAY). docs/security.md lists
//! the limits and the tests that prove them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::core::Config;
use crate::db::Db;
use crate::http::{self, AppState};
use crate::tls::policy::{self, ReloadableCert};
use crate::tls::store::{self, SiteCert};

/// A TLS handshake must finish in this time, or the connection is dropped (slowloris).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Request headers must arrive in this time (HTTP/1: also between keep-alive requests).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// After the TLS handshake, the first request must start within this time.
pub const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// File descriptors kept free for the database, the certificate files and the listeners.
pub const FD_RESERVE: u64 = 256;
/// In-flight requests get this long to finish at shutdown (and after an idle close).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// HTTP/2 keep-alive pings; a peer that does not answer in `H2_PING_TIMEOUT` is dropped.
const H2_PING_EVERY: Duration = Duration::from_secs(30);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);
/// Accept errors (EMFILE, ENFILE, ENOBUFS…) back off from this up to `ACCEPT_BACKOFF_MAX`.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// How often the served certificate is checked for renewal.
const RENEW_CHECK: Duration = Duration::from_secs(12 * 3600);

/// A running server. Dropping it does not stop it; call `shutdown`.
pub struct RunningServer {
    pub local_addr: SocketAddr,
    pub redirect_addr: Option<SocketAddr>,
    /// Where `GET /metrics` is served (plain HTTP), if `metrics_listen` is set.
    pub metrics_addr: Option<SocketAddr>,
    pub state: AppState,
    pub ca_file: Option<std::path::PathBuf>,
    /// The effective connection cap (`max_connections`, lowered to fit the open-file limit).
    pub max_connections: usize,
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningServer {
    /// Connections holding a slot right now (handshaking, HTTP, WebSockets); the accept loop
    /// takes a slot before it waits for the next connection, which is not counted.
    pub fn open_connections(&self) -> usize {
        (self.max_connections - self.slots.available_permits()).saturating_sub(1)
    }

    /// Stop accepting, let in-flight requests finish (bounded), and return.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Wait until the listeners have stopped (after `shutdown_token().cancel()`).
    pub async fn wait(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Prepare everything (data dir, database, certificate) and start listening.
pub async fn start(config: Config) -> Result<RunningServer> {
    let config = Arc::new(config);
    store::create_private_dir(&config.data_dir)?;
    let db = Db::connect(&config).await?;
    let cert = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || store::ensure_site_cert(&config)).await??
    };
    let ca_file = cert.ca_file.clone();
    let resolver = Arc::new(ReloadableCert::new(&cert)?);
    let acceptor = TlsAcceptor::from(Arc::new(policy::server_config(resolver.clone())?));

    let state = AppState::new(config.clone(), db).await?;
    if config.test_clock || config.test_captcha_answer.is_some() {
        tracing::warn!(
            "TEST SETTINGS ARE ON (test_clock / test_captcha_answer): never use them in production"
        );
    }
    tasks_housekeeping(&state);
    let app = http::router(state.clone());
    let shutdown = CancellationToken::new();

    let max_connections = connection_cap(config.max_connections);
    state
        .events
        .hub
        .limit(websocket_cap(config.max_websockets, max_connections));
    let slots = Arc::new(Semaphore::new(max_connections));
    let (listener, local_addr) = listen(config.listen, "").await?;
    let mut tasks = vec![tokio::spawn(serve_tls(
        Listener {
            tcp: listener,
            acceptor,
            app,
            slots: slots.clone(),
            max_connections,
            idle: Duration::from_secs(config.idle_timeout_secs),
        },
        state.clone(),
        shutdown.clone(),
    ))];

    let mut redirect_addr = None;
    if let Some(addr) = config.http_redirect {
        let (listener, bound) = listen(addr, " (http_redirect)").await?;
        redirect_addr = Some(bound);
        tasks.push(tokio::spawn(serve_redirect(
            listener,
            config.domain.clone(),
            local_addr.port(),
            shutdown.clone(),
        )));
    }
    let mut metrics_addr = None;
    if let Some(addr) = config.metrics_listen {
        let (listener, bound) = listen(addr, " (metrics_listen)").await?;
        if !bound.ip().is_loopback() {
            tracing::warn!(
                %bound,
                "metrics are served on a non-loopback address: make sure only the scraper reaches it"
            );
        }
        metrics_addr = Some(bound);
        tasks.push(tokio::spawn(http::metrics::serve(
            listener,
            state.clone(),
            shutdown.clone(),
        )));
    }
    if cert.issued_here {
        tasks.push(tokio::spawn(renew_periodically(
            config.clone(),
            resolver,
            cert,
            shutdown.clone(),
        )));
    }
    Ok(RunningServer {
        local_addr,
        redirect_addr,
        metrics_addr,
        state,
        ca_file,
        max_connections,
        slots,
        shutdown,
        tasks,
    })
}

/// Listen on `addr`: the listener and the address it is bound to (the port chosen for port 0).
/// `setting` names the option in the error, after the address.
async fn listen(addr: SocketAddr, setting: &str) -> Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}{setting}"))?;
    let bound = listener.local_addr()?;
    Ok((listener, bound))
}

/// "Too many open files" is avoided by construction: the soft open-file limit is raised to the
/// hard one, and the connection cap is kept `FD_RESERVE` below it (each connection is one
/// descriptor). docs/deployment.md says how to raise the hard limit (`LimitNOFILE`).
fn connection_cap(configured: usize) -> usize {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if let (Some(cur), Some(max)) = (limit.current, limit.maximum)
        && cur < max
    {
        limit.current = Some(max);
        if setrlimit(Resource::Nofile, limit).is_err() {
            limit = getrlimit(Resource::Nofile);
        }
    }
    let Some(files) = limit.current else {
        return configured;
    };
    let fit = usize::try_from(files.saturating_sub(FD_RESERVE)).unwrap_or(usize::MAX);
    if fit < configured {
        tracing::warn!(
            configured,
            open_file_limit = files,
            cap = fit.max(16),
            "max_connections lowered to fit the open-file limit (raise LimitNOFILE)"
        );
    }
    configured.min(fit).max(16)
}

/// The cap on open WebSockets (issue 10): `max_websockets`, but never more than four fifths of
/// the effective connection cap, so that with a low open-file limit sockets still leave room for
/// ordinary requests — and past the cap an upgrade gets `503 busy` rather than no answer.
fn websocket_cap(configured: usize, max_connections: usize) -> usize {
    let fit = (max_connections / 5 * 4).max(1);
    if fit < configured {
        tracing::warn!(
            max_websockets = configured,
            max_connections,
            cap = fit,
            "max_websockets lowered to fit the open-file limit: raise LimitNOFILE (docs/deployment.md) \
             to at least max_connections + 256"
        );
    }
    configured.min(fit)
}

struct Listener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    slots: Arc<Semaphore>,
    max_connections: usize,
    idle: Duration,
}

/// What a connection is doing: requests in flight, and when the last one ended.
struct Activity {
    in_flight: AtomicUsize,
    served: AtomicBool,
    last: Mutex<Instant>,
}

struct InFlight(Arc<Activity>);

impl Activity {
    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.served.store(true, Ordering::SeqCst);
        InFlight(self.clone())
    }

    /// When the connection becomes idle-closable, or `None` if it is now.
    fn deadline(&self, idle: Duration) -> Option<Instant> {
        let now = Instant::now();
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return Some(now + idle);
        }
        let wait = if self.served.load(Ordering::SeqCst) {
            idle
        } else {
            FIRST_REQUEST_TIMEOUT
        };
        let at = *self.last.lock().unwrap_or_else(|e| e.into_inner()) + wait;
        (at > now).then_some(at)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        *self.0.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn serve_tls(l: Listener, state: AppState, shutdown: CancellationToken) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_PING_EVERY)
        .keep_alive_timeout(H2_PING_TIMEOUT);
    let builder = Arc::new(builder);
    let mut backoff = ACCEPT_BACKOFF_MIN;

    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = l.slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let (tcp, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = l.tcp.accept() => match accepted {
                Ok(a) => { backoff = ACCEPT_BACKOFF_MIN; a }
                Err(e) => {
                    // EMFILE and friends: back off (exponentially) instead of spinning; the
                    // connections that hold descriptors time out and free them.
                    tracing::warn!(error = %e, "accept failed; backing off {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, app, builder, shutdown, idle) = (
            l.acceptor.clone(),
            l.app.clone(),
            builder.clone(),
            shutdown.clone(),
            l.idle,
        );
        tokio::spawn(async move {
            let permit = Arc::new(permit);
            let tls = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)) => match r {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake refused");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                },
            };
            let activity = Arc::new(Activity {
                in_flight: AtomicUsize::new(0),
                served: AtomicBool::new(false),
                last: Mutex::new(Instant::now()),
            });
            let slot = http::ws::ConnSlot(permit);
            let tracker = activity.clone();
            let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                let in_flight = tracker.begin();
                req.extensions_mut().insert(ConnectInfo(peer));
                req.extensions_mut().insert(slot.clone());
                let call = app.clone().oneshot(req.map(axum::body::Body::new));
                async move {
                    let res = call.await;
                    drop(in_flight);
                    res
                }
            });
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc);
            tokio::pin!(conn);
            let mut closing = false;
            // The first check comes at the earlier of the two limits; each check sets the next.
            let mut deadline = Instant::now() + FIRST_REQUEST_TIMEOUT.min(idle);
            loop {
                tokio::select! {
                    r = conn.as_mut() => {
                        if let Err(e) = r {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    _ = shutdown.cancelled(), if !closing => {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                        deadline = Instant::now() + SHUTDOWN_GRACE;
                    }
                    _ = tokio::time::sleep_until(deadline) => {
                        if closing {
                            tracing::debug!(%peer, "connection did not close in time; dropped");
                            break;
                        }
                        match activity.deadline(idle) {
                            Some(next) => deadline = next,
                            None if !activity.served.load(Ordering::SeqCst) => {
                                tracing::debug!(%peer, "no request after the handshake; closed");
                                break;
                            }
                            None => {
                                tracing::debug!(%peer, "idle connection; shutting it down");
                                conn.as_mut().graceful_shutdown();
                                closing = true;
                                deadline = Instant::now() + SHUTDOWN_GRACE;
                            }
                        }
                    }
                }
            }
        });
    }
    drop(l.tcp);
    // WebSockets hold their connection's slot: ask them to close (1012, "service restart"),
    // then wait for every slot to come back, bounded.
    state.events.hub.close_all(1012, "server restarting");
    let all = u32::try_from(l.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, l.slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("some connections did not finish in time and were dropped");
    }
}

/// Plain HTTP: every request gets a permanent redirect to the HTTPS origin — no content, no
/// cookies, nothing read from the body.
async fn serve_redirect(
    listener: TcpListener,
    domain: String,
    https_port: u16,
    shutdown: CancellationToken,
) {
    let origin = if https_port == 443 {
        format!("https://{domain}")
    } else {
        format!("https://{domain}:{https_port}")
    };
    let app = Router::new().fallback(move |uri: Uri| {
        let origin = origin.clone();
        async move {
            let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let mut res = StatusCode::PERMANENT_REDIRECT.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("{origin}{path}")) {
                res.headers_mut().insert(header::LOCATION, v);
            }
            res
        }
    });
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "the HTTP redirect listener failed");
    }
}

/// Remove expired sessions, CAPTCHAs and registrations every few minutes.
fn tasks_housekeeping(state: &AppState) {
    let state = state.clone();
    tokio::spawn(async move {
        use crate::service::sessions::{ABSOLUTE_SECS, IDLE_SECS};
        loop {
            tokio::time::sleep(Duration::from_secs(300)).await;
            let now = state.clock.now();
            if let Err(e) = state.db.purge_expired(now).await {
                tracing::warn!(error = %e, "housekeeping failed");
            }
            if let Err(e) = state
                .db
                .purge_sessions(now - IDLE_SECS, now - ABSOLUTE_SECS)
                .await
            {
                tracing::warn!(error = %e, "session housekeeping failed");
            }
        }
    });
}

async fn renew_periodically(
    config: Arc<Config>,
    resolver: Arc<ReloadableCert>,
    mut current: SiteCert,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(RENEW_CHECK) => {}
        }
        let config = config.clone();
        match tokio::task::spawn_blocking(move || store::ensure_site_cert(&config)).await {
            Ok(Ok(cert)) if cert.not_after != current.not_after => match resolver.replace(&cert) {
                Ok(()) => {
                    tracing::info!(not_after = %cert.not_after, "now serving the renewed certificate");
                    current = cert;
                }
                Err(e) => tracing::error!(error = %e, "cannot load the renewed certificate"),
            },
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = format!("{e:#}"), "certificate renewal failed"),
            Err(e) => tracing::error!(error = %e, "certificate renewal task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_cap_fits_the_connection_cap() {
        assert_eq!(websocket_cap(8_000, 10_000), 8_000, "the default fits");
        assert_eq!(websocket_cap(8_000, 768), 612, "a 1,024 open-file limit");
        assert_eq!(websocket_cap(6, 64), 6);
        assert_eq!(websocket_cap(100, 1), 1);
    }
}
