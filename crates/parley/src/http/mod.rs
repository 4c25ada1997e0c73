//! The top layer: routes, extractors and the hardening stack. Handlers translate HTTP to calls
//! into `service` and back; they hold no business rules.

pub mod accounts;
pub mod auth;
pub mod health;
pub mod json;
pub mod layers;
pub mod messaging;
pub mod static_files;
pub mod ws;

use std::sync::Arc;

use crate::core::{AppError, Clock, Config};
use crate::db::Db;
use crate::service::accounts::Accounts;
use crate::service::quota::Quotas;
use crate::service::realtime::Events;
use axum::Router;
use axum::middleware;
use axum::routing::{delete, get, post};

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
        Ok(AppState {
            config,
            db,
            clock,
            accounts,
            events,
            quotas,
        })
    }
}

pub fn router(state: AppState) -> Router {
    use accounts as a;
    let mut api = Router::new()
        .route("/health", get(health::health))
        .route("/captcha", get(a::captcha))
        .route("/captcha/{id}/audio", get(a::captcha_audio))
        .route("/password/check", post(a::password_check))
        .route("/register", post(a::register_start).get(a::register_state))
        .route("/register/totp", post(a::register_totp))
        .route("/register/finish", post(a::register_finish))
        .route("/login", post(a::login))
        .route("/login/totp", post(a::login_totp))
        .route("/login/recovery", post(a::login_recovery))
        .route("/me", get(a::me))
        .route("/session/reauth", post(a::reauth))
        .route("/logout", post(a::logout))
        .route("/sessions", get(a::list_sessions))
        .route("/sessions/{id}", delete(a::revoke_session))
        .route("/sessions/revoke-all", post(a::revoke_all))
        .route("/account/password", post(a::change_password))
        .route("/account/totp/start", post(a::totp_start))
        .route("/account/totp/confirm", post(a::totp_confirm))
        .route("/account/recovery-codes", post(a::recovery_codes))
        .route("/account/delete", post(a::delete_account))
        .route("/account/security-log", get(a::security_log))
        .route("/account/authenticators", get(a::authenticators))
        .route("/keys", post(messaging::publish_key))
        .route("/users", get(messaging::find_user))
        .route("/users/{id}/keys", get(messaging::user_keys))
        .route("/keysets/{key_set}/last-iv", get(messaging::last_iv))
        .route("/conversations", get(messaging::conversations))
        .route(
            "/conversations/{peer}/messages",
            post(messaging::send).get(messaging::history),
        )
        .route("/conversations/{peer}/read", post(messaging::mark_read))
        .route("/ws", get(ws::connect));
    if state.config.test_clock {
        api = api.route("/test/clock", post(a::advance_clock));
    }
    let api = api
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
