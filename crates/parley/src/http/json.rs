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

/// The fuzz target `json_extractor` (fuzz/), kept here so that its replay in the test suite can
/// build the very same requests.
#[doc(hidden)]
pub mod fuzz {
    use axum::body::Body;
    use serde::Deserialize;

    use super::extract;

    /// The body the target decodes: a string, a number, an optional array, any JSON.
    #[derive(Deserialize)]
    #[allow(dead_code)]
    pub struct Probe {
        name: String,
        count: u32,
        tags: Option<Vec<String>>,
        payload: Option<serde_json::Value>,
    }

    /// The content types an input's first byte picks from (`""`: no `content-type` at all).
    pub const CONTENT_TYPES: [&str; 5] = [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/vnd.api+json",
        "",
    ];

    /// The codes the extractor may refuse a body with; any other is a bug.
    pub const ERROR_CODES: [&str; 4] = [
        "malformed_json",
        "invalid_body",
        "unsupported_media_type",
        "payload_too_large",
    ];

    /// One input: `body` posted with the content type `selector` picks, read as a [`Probe`]
    /// under a 256 KiB limit. `Err` holds the code of a refusal.
    pub async fn run(selector: u8, body: Vec<u8>) -> Result<(), &'static str> {
        let ty = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
        let mut req = axum::http::Request::post("/probe");
        if !ty.is_empty() {
            req = req.header("content-type", ty);
        }
        let req = req.body(Body::from(body)).expect("a request");
        extract::<Probe>(req, 256 * 1024)
            .await
            .map(drop)
            .map_err(|e| e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::fuzz;

    #[tokio::test]
    async fn the_fuzz_input_gets_the_body_or_one_of_the_extractors_codes() {
        let body = br#"{"name": "a", "count": 1}"#;
        assert_eq!(fuzz::run(0, body.to_vec()).await, Ok(()));
        assert_eq!(fuzz::run(1, b"{".to_vec()).await, Err("malformed_json"));
        assert_eq!(fuzz::run(0, b"{}".to_vec()).await, Err("invalid_body"));
        assert_eq!(
            fuzz::run(2, body.to_vec()).await,
            Err("unsupported_media_type")
        );
        assert_eq!(
            fuzz::run(4, body.to_vec()).await,
            Err("unsupported_media_type")
        );
    }
}
