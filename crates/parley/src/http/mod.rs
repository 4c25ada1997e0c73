//! The top layer: routes, extractors and the hardening stack. Handlers translate HTTP to calls
//! into `service` and back; they hold no business rules.

pub mod accounts;
pub mod auth;
pub mod health;
pub mod json;
pub mod layers;
pub mod messaging;
pub mod metrics;
pub mod openapi;
pub mod static_files;
pub mod ws;

use std::sync::Arc;

use crate::core::metrics::Metrics;
use crate::core::{AppError, Clock, Config};
use crate::db::Db;
use crate::service::accounts::Accounts;
use crate::service::messaging::Messaging;
use crate::service::quota::Quotas;
use crate::service::realtime::Events;
use crate::service::sessions::Sessions;
use axum::Router;
use axum::middleware;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Shared by every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub clock: Clock,
    pub accounts: Arc<Accounts>,
    /// Real-time events to every instance's WebSockets (messages, receipts, ended sessions).
    pub events: Events,
    /// Per-user and per-session quotas (issue 9 item 8).
    pub quotas: Arc<Quotas>,
    pub sessions: Sessions,
    pub messaging: Messaging,
    /// Prometheus counters and histograms (served by `http::metrics` on `metrics_listen`).
    pub metrics: Metrics,
}

impl AppState {
    pub async fn new(config: Arc<Config>, db: Db) -> anyhow::Result<AppState> {
        let clock = Clock::default();
        let accounts = Arc::new(Accounts::new(config.clone(), db.clone(), clock.clone())?);
        accounts.backfill_username_skeletons().await?;
        let quotas = Arc::new(Quotas::new(&config));
        let events = Events::start(
            db.clone(),
            config.database_url().expose(),
            config.max_websockets,
        )
        .await?;
        let sessions = Sessions::new(db.clone(), clock.clone(), events.clone());
        let metrics = Metrics::new();
        let messaging = Messaging::new(
            db.clone(),
            clock.clone(),
            events.clone(),
            quotas.clone(),
            metrics.clone(),
        );
        Ok(AppState {
            config,
            db,
            clock,
            accounts,
            events,
            quotas,
            sessions,
            messaging,
            metrics,
        })
    }
}

/// The API's routes under `/api`, each registered with its OpenAPI operation (`routes!` reads the
/// method and path from the handler's `#[utoipa::path]`), so the router and the document served
/// at `GET /api/openapi.json` come from the same calls and cannot disagree (issue 11). Every route
/// goes through `routes!`; `tests/it/contract.rs` fails on a route added any other way.
fn api_routes(test_clock: bool) -> OpenApiRouter<AppState> {
    use accounts as a;
    use messaging as m;
    let mut api = OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(health::health))
        .routes(routes!(openapi::serve))
        .routes(routes!(a::captcha))
        .routes(routes!(a::captcha_audio))
        .routes(routes!(a::password_check))
        .routes(routes!(a::register_start, a::register_state))
        .routes(routes!(a::register_totp))
        .routes(routes!(a::register_finish))
        .routes(routes!(a::login))
        .routes(routes!(a::login_totp))
        .routes(routes!(a::login_recovery))
        .routes(routes!(a::me))
        .routes(routes!(a::reauth))
        .routes(routes!(a::logout))
        .routes(routes!(a::list_sessions))
        .routes(routes!(a::revoke_session))
        .routes(routes!(a::revoke_all))
        .routes(routes!(a::change_password))
        .routes(routes!(a::totp_start))
        .routes(routes!(a::totp_confirm))
        .routes(routes!(a::recovery_codes))
        .routes(routes!(a::delete_account))
        .routes(routes!(a::security_log))
        .routes(routes!(a::authenticators))
        .routes(routes!(m::publish_key))
        .routes(routes!(m::find_user))
        .routes(routes!(m::user_keys))
        .routes(routes!(m::last_iv))
        .routes(routes!(m::conversations))
        .routes(routes!(m::send, m::history))
        .routes(routes!(m::mark_read))
        .routes(routes!(ws::connect));
    if test_clock {
        api = api.routes(routes!(a::advance_clock));
    }
    api
}

/// The OpenAPI 3.1 document of the API as this server mounts it (with `/api/test/clock` only
/// when `test_clock` is set).
pub fn openapi_document(test_clock: bool) -> utoipa::openapi::OpenApi {
    let (_, doc) = api_routes(test_clock).split_for_parts();
    openapi::under_api(doc)
}

pub fn router(state: AppState) -> Router {
    let (api, doc) = api_routes(state.config.test_clock).split_for_parts();
    let doc = openapi::Document::new(openapi::under_api(doc));
    let api = api
        .layer(axum::Extension(doc))
        .fallback(|| async { AppError::NotFound })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::same_origin,
        ));
    let app = Router::new()
        .nest("/api", api)
        .fallback(static_files::serve);
    layers::harden(app, &state).with_state(state)
}
