//! One hardening stack for every response (STYLE.md, tuwunel `router/layers.rs`): security
//! headers incl. HSTS (T5) and a strict CSP, a body-size guard, a request timeout, a panic
//! catcher that answers 500 without details, and a request log that holds no secrets.

use std::any::Any;
use std::time::{Duration, Instant};

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;

use crate::core::AppError;
use crate::http::AppState;

/// The Content Security Policy: nothing by default, then only what the app uses. No inline
/// script or style, no eval; Trusted Types make any HTML-string sink throw in the browser.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; media-src 'self'; connect-src 'self'; font-src 'self'; manifest-src 'self'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'; \
require-trusted-types-for 'script'; trusted-types 'none'";

/// T5: HSTS for one week, exactly.
pub const HSTS: &str = "max-age=604800";

const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("strict-transport-security", HSTS),
    ("content-security-policy", CSP),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("cross-origin-embedder-policy", "require-corp"),
    (
        "permissions-policy",
        "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), \
         microphone=(), payment=(), usb=(), interest-cohort=()",
    ),
];

/// Wrap the app in the hardening stack (outermost first in the list below).
pub fn harden(app: Router<AppState>, state: &AppState) -> Router<AppState> {
    let timeout = Duration::from_secs(state.config.request_timeout_secs);
    app.layer(
        ServiceBuilder::new()
            .layer(middleware::from_fn(security_headers))
            .layer(middleware::from_fn(log_request))
            .layer(middleware::from_fn_with_state(
                state.clone(),
                super::metrics::track,
            ))
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(middleware::from_fn_with_state(
                state.clone(),
                body_size_guard,
            ))
            .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                AppError::Timeout
            }))
            .layer(tower::timeout::TimeoutLayer::new(timeout))
            .layer(DefaultBodyLimit::max(state.config.body_limit)),
    )
}

async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        h.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    // Responses carry private data unless a handler says otherwise (static files do).
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

/// Logs method, path (never the query string), status and latency — no headers, no bodies.
async fn log_request(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let started = Instant::now();
    let res = next.run(req).await;
    tracing::info!(
        %method,
        path,
        status = res.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    res
}

/// Refuse a declared body over the limit before reading any of it.
async fn body_size_guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > state.config.body_limit as u64) {
        return AppError::PayloadTooLarge {
            limit: state.config.body_limit,
        }
        .into_response();
    }
    next.run(req).await
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = what, "a request handler panicked");
    AppError::Internal(anyhow::anyhow!("handler panicked")).into_response()
}
