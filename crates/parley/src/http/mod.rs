//! The top layer: routes, extractors and the hardening stack. Handlers translate HTTP to calls
//! into `service` and back; they hold no business rules.

pub mod health;
pub mod json;
pub mod layers;
pub mod static_files;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::core::{AppError, Config};
use crate::db::Db;

/// Shared by every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/health", get(health::health))
        .fallback(|| async { AppError::NotFound })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed });
    let app = Router::new()
        .nest("/api", api)
        .fallback(static_files::serve);
    layers::harden(app, &state).with_state(state)
}
