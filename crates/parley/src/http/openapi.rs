//! `GET /api/openapi.json`: the OpenAPI 3.1 document of the API, generated from the handlers'
//! `#[utoipa::path]` annotations and the `parley-api` types as the router is built (issue 11), so
//! it lists exactly the routes this server mounts.

use std::sync::Arc;

use axum::Extension;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use parley_api as api;
use utoipa::OpenApi as _;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{Content, OpenApi, Ref, RefOr};

/// What the document says before the routes are added: the title, the version, how to
/// authenticate, and the WebSocket frames (not a request or response body, so listed here).
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Parley",
        description = "The HTTP API of Parley, an end-to-end encrypted chat. Prose, rules and \
                       examples: docs/api.md. Requests with a session carry the \
                       `__Host-parley_session` cookie; state-changing ones also \
                       `X-CSRF-Token` and a same-origin `Origin`. Every error is an `ErrorBody`."
    ),
    components(schemas(api::ErrorBody, api::ServerFrame, api::ClientFrame)),
    modifiers(&SecuritySchemes)
)]
struct Base;

/// The security scheme an operation names in `security(…)`: the session cookie…
pub const SESSION: &str = "session";
/// … the CSRF header every state-changing request of a session also carries…
pub const CSRF: &str = "csrf";
/// … and the cookie of a registration under way.
pub const REGISTRATION: &str = "registration";

/// Declares the three schemes (cookies and header named as the server reads them).
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, doc: &mut OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        let components = doc.components.get_or_insert_with(Default::default);
        let schemes = [
            (
                SESSION,
                ApiKey::Cookie(ApiKeyValue::with_description(
                    crate::service::sessions::COOKIE,
                    "The session secret, set by sign-in and sign-up (HttpOnly; never readable \
                     by scripts).",
                )),
            ),
            (
                CSRF,
                ApiKey::Header(ApiKeyValue::with_description(
                    "X-CSRF-Token",
                    "The session's `csrf_token` (from `GET /api/me` or the sign-in answer), on \
                     every state-changing request.",
                )),
            ),
            (
                REGISTRATION,
                ApiKey::Cookie(ApiKeyValue::with_description(
                    super::accounts::REGISTRATION_COOKIE,
                    "The registration under way in this browser, set by `POST /api/register`.",
                )),
            ),
        ];
        for (name, key) in schemes {
            components.add_security_scheme(name, SecurityScheme::ApiKey(key));
        }
    }
}

pub fn base() -> OpenApi {
    Base::openapi()
}

/// The `default` response of every operation: an error, its body an `ErrorBody` (docs/api.md,
/// Errors). `responses(…, ErrorResponse)` in an operation's `#[utoipa::path]`.
pub struct ErrorResponse;

impl utoipa::IntoResponses for ErrorResponse {
    fn responses() -> std::collections::BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        let body = Content::new(Some(Ref::from_schema_name("ErrorBody")));
        let response = ResponseBuilder::new()
            .description("An error: `{\"error\": code, \"message\"}` (docs/api.md, Errors)")
            .content("application/json", body)
            .build();
        [("default".to_owned(), RefOr::T(response))].into()
    }
}

/// The document with every path under `/api`, where the router nests the routes.
pub fn under_api(mut doc: OpenApi) -> OpenApi {
    let paths = std::mem::take(&mut doc.paths.paths);
    doc.paths.paths = paths
        .into_iter()
        .map(|(path, item)| (format!("/api{path}"), item))
        .collect();
    doc
}

/// The document, serialized once.
#[derive(Clone)]
pub struct Document(Arc<str>);

impl Document {
    pub fn new(doc: OpenApi) -> Document {
        // Serializing a document of plain data cannot fail; an empty object would show it did.
        Document(Arc::from(doc.to_json().unwrap_or_else(|_| "{}".into())))
    }
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses(
        (status = 200, description = "This document", content_type = "application/json"),
        ErrorResponse
    )
)]
pub async fn serve(Extension(doc): Extension<Document>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.0.to_string(),
    )
        .into_response()
}
