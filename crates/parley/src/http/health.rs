//! `GET /api/health`: the process answers and the database is reachable.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::http::AppState;
use crate::http::json::Json;

pub async fn health(State(state): State<AppState>) -> Response {
    match state.db.ping().await {
        Ok(()) => {
            Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": "unavailable", "message": "the database is unreachable"})),
            )
                .into_response()
        }
    }
}
