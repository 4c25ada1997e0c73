//! The app's own JSON extractor/response and query-string extractor: malformed, mistyped or
//! oversized bodies and queries are answered in the app's error format (`AppError`), never
//! axum's plain-text rejections (which the OpenAPI document does not describe; issue 11).

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::core::AppError;
use crate::http::AppState;

pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Json<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, AppError> {
        extract(req, state.config.body_limit).await.map(Json)
    }
}

/// The extractor's work without the app's state (also what `fuzz/` drives): the body as `T`,
/// or the app's error for it.
pub async fn extract<T: DeserializeOwned>(req: Request, body_limit: usize) -> Result<T, AppError> {
    match axum::Json::<T>::from_request(req, &()).await {
        Ok(axum::Json(v)) => Ok(v),
        Err(rejection) => Err(map_rejection(rejection, body_limit)),
    }
}

fn map_rejection(rejection: JsonRejection, limit: usize) -> AppError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => AppError::UnsupportedMediaType,
        JsonRejection::JsonSyntaxError(e) => AppError::MalformedJson(e.body_text()),
        JsonRejection::JsonDataError(e) => AppError::InvalidBody(e.body_text()),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            AppError::PayloadTooLarge { limit }
        }
        other => AppError::InvalidBody(other.body_text()),
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A query string as `T`, or `400 invalid_query`.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(rejection) => Err(AppError::InvalidQuery(rejection.body_text())),
        }
    }
}
