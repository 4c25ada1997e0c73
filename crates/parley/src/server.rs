//! Start-up and the listeners: the HTTPS listener (rustls, policy in `tls::policy`), the
//! optional plain-HTTP redirect listener, certificate renewal, and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::core::Config;
use crate::db::Db;
use crate::http::{self, AppState};
use crate::tls::policy::{self, ReloadableCert};
use crate::tls::store::{self, SiteCert};

/// A TLS handshake must finish in this time, or the connection is dropped (slowloris).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Request headers must arrive in this time.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Open connections beyond this wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 10_000;
/// In-flight requests get this long to finish at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How often the served certificate is checked for renewal.
const RENEW_CHECK: Duration = Duration::from_secs(12 * 3600);

/// A running server. Dropping it does not stop it; call `shutdown`.
pub struct RunningServer {
    pub local_addr: SocketAddr,
    pub redirect_addr: Option<SocketAddr>,
    pub state: AppState,
    pub ca_file: Option<std::path::PathBuf>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningServer {
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

    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let local_addr = listener.local_addr()?;
    let mut tasks = vec![tokio::spawn(serve_tls(
        listener,
        acceptor,
        app,
        shutdown.clone(),
    ))];

    let mut redirect_addr = None;
    if let Some(addr) = config.http_redirect {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (http_redirect)"))?;
        redirect_addr = Some(listener.local_addr()?);
        tasks.push(tokio::spawn(serve_redirect(
            listener,
            config.domain.clone(),
            local_addr.port(),
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
        state,
        ca_file,
        shutdown,
        tasks,
    })
}

async fn serve_tls(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    shutdown: CancellationToken,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(30));
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));

    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let (tcp, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, app, builder, watcher) = (
            acceptor.clone(),
            app.clone(),
            builder.clone(),
            graceful.watcher(),
        );
        tokio::spawn(async move {
            let _permit = permit;
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake refused");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let svc = app.map_request(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.map(axum::body::Body::new)
            });
            let conn = builder
                .serve_connection_with_upgrades(TokioIo::new(tls), TowerToHyperService::new(svc));
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
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
