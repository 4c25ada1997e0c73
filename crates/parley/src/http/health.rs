//! `GET /api/health`: the process answers and the database is reachable.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use parley_api as api;

use crate::http::AppState;
use crate::http::json::Json;
use crate::http::openapi::ErrorResponse;

#[utoipa::path(
    get,
    path = "/health",
    tag = "meta",
    responses((status = 200, description = "The process answers and the database is reachable", body = api::Health), (status = 503, description = "The database is unreachable", body = api::ErrorBody), ErrorResponse)
)]
pub async fn health(State(state): State<AppState>) -> Response {
    match state.accounts.database_reachable().await {
        Ok(()) => Json(api::Health {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        })
        .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(api::ErrorBody {
                    error: "unavailable".into(),
                    message: "the database is unreachable".into(),
                    ..api::ErrorBody::default()
                }),
            )
                .into_response()
        }
    }
}
