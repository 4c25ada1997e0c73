//! Prometheus metrics over HTTP (issue 11): the middleware that counts and times every request
//! of the public listener, and the separate plain-HTTP listener that serves `GET /metrics`.
//!
//! The metrics listener is off unless `metrics_listen` is set, and it is never the public
//! HTTPS listener: request counts and latencies per route tell an outsider about load and
//! usage, so they belong on loopback or a private network that only the scraper reaches
//! (docs/deployment.md). The public listener answers `/metrics` like any unknown path.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::core::metrics::Live;
use crate::http::AppState;

/// The content type of the Prometheus text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Count and time one request of the public listener under its route template.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_owned();
    let route = route_label(&req);
    let started = Instant::now();
    let res = next.run(req).await;
    state.metrics.request(
        &method,
        &route,
        res.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    res
}

/// The router's template for the request (`/api/messages/{peer}`); `static` for the web client's
/// files and `other` for anything unmatched, so a scanner cannot grow the label set.
fn route_label(req: &Request) -> String {
    match req.extensions().get::<MatchedPath>() {
        Some(p) if !p.as_str().contains("__private__") => p.as_str().to_owned(),
        _ if req.uri().path().starts_with("/api/") => "other".to_owned(),
        _ => "static".to_owned(),
    }
}

/// The live figures of this instance.
fn live(state: &AppState) -> Live {
    let (db_pool_size, db_pool_idle) = state.accounts.database_pool();
    Live {
        websockets_open: state.events.hub.open_websockets(),
        hash_queue_depth: state.accounts.hasher.queue_depth(),
        db_pool_size,
        db_pool_idle,
    }
}

async fn exposition(State(state): State<AppState>) -> Response {
    let mut res = state.metrics.render(live(&state)).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
    res
}

/// The metrics listener's app: `GET /metrics`, and 404 for everything else.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(exposition))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(state)
}

/// Serve `router` on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, state: AppState, shutdown: CancellationToken) {
    let result = axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "the metrics listener failed");
    }
}
