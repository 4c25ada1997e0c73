//! The one error type at the HTTP boundary.
//!
//! Every variant has a stable machine-readable code (`AppError::code`) that clients and tests
//! match on; the human message is for people. Internal details (database errors, I/O) are logged
//! and never sent to the client (see `IntoResponse`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use parley_api::ErrorBody;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the request body does not have the expected fields: {0}")]
    InvalidBody(String),
    #[error("the query string does not have the expected parameters: {0}")]
    InvalidQuery(String),
    #[error("expected a WebSocket handshake: {0}")]
    WebSocketExpected(String),
    #[error("expected a request body with `Content-Type: application/json`")]
    UnsupportedMediaType,
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{message}")]
    Validation {
        field: &'static str,
        message: String,
    },
    #[error("please choose a different password: {}", .0.iter().map(|r| r.message.as_str()).collect::<Vec<_>>().join(" "))]
    PasswordRejected(Vec<Rejection>),
    #[error("the CAPTCHA answer was wrong or has expired; please solve the new one")]
    CaptchaFailed,
    #[error("this username is taken; please choose another")]
    UsernameTaken,
    #[error("this username looks too much like an existing one; please choose another")]
    UsernameConfusable,
    #[error("{message}; try again in {retry_after_secs} seconds")]
    QuotaExceeded {
        quota: &'static str,
        message: &'static str,
        retry_after_secs: u64,
    },
    #[error("the username or password is wrong")]
    InvalidCredentials,
    #[error("that code is wrong or was already used")]
    InvalidCode,
    #[error("{message}")]
    FactorLocked {
        factor: &'static str,
        message: String,
    },
    #[error("your session has ended; please sign in again")]
    SessionExpired { reason: &'static str },
    #[error("finish signing in with your authenticator app or a recovery code first")]
    SecondFactorRequired,
    #[error("you must change your password before doing anything else")]
    PasswordChangeRequired,
    #[error("the sign-up has expired or belongs to another browser; please start again")]
    RegistrationExpired,
    #[error("the request lacks a valid CSRF token")]
    CsrfFailed,
    #[error("cross-site requests are not allowed")]
    CrossSite,
    #[error("the server is busy; please try again in a moment")]
    Busy,
    #[error("no such resource")]
    NotFound,
    #[error("this account was deleted")]
    AccountDeleted,
    #[error("this method is not allowed on this resource")]
    MethodNotAllowed,
    #[error("sign-in required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    /// An identity public key that is not a point on P-384 (issue 8).
    #[error("{0}")]
    BadPublicKey(String),
    /// A repeated (sender, key set, IV) of a `msg`, or a second `change` from the same
    /// (sender, key set): E3's "never reused", kept by the server too (issue 8).
    #[error(
        "this IV was already used under this key set; ask for the last IV and use a higher one"
    )]
    IvReused,
    #[error("too many attempts; try again in {retry_after_secs} seconds")]
    RateLimited { retry_after_secs: u64 },
    #[error("the server took too long to answer")]
    Timeout,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    /// The stable code clients match on. Never change an existing code.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::MalformedJson(_) => "malformed_json",
            AppError::InvalidBody(_) => "invalid_body",
            AppError::InvalidQuery(_) => "invalid_query",
            AppError::WebSocketExpected(_) => "websocket_expected",
            AppError::UnsupportedMediaType => "unsupported_media_type",
            AppError::PayloadTooLarge { .. } => "payload_too_large",
            AppError::Validation { .. } => "validation_failed",
            AppError::PasswordRejected(_) => "password_rejected",
            AppError::CaptchaFailed => "captcha_failed",
            AppError::AccountDeleted => "account_deleted",
            AppError::UsernameTaken => "username_taken",
            AppError::UsernameConfusable => "username_confusable",
            AppError::QuotaExceeded { .. } => "quota_exceeded",
            AppError::InvalidCredentials => "invalid_credentials",
            AppError::InvalidCode => "invalid_code",
            AppError::FactorLocked { .. } => "factor_locked",
            AppError::SessionExpired { .. } => "session_expired",
            AppError::SecondFactorRequired => "second_factor_required",
            AppError::PasswordChangeRequired => "password_change_required",
            AppError::RegistrationExpired => "registration_expired",
            AppError::CsrfFailed => "csrf_failed",
            AppError::CrossSite => "cross_site",
            AppError::Busy => "busy",
            AppError::NotFound => "not_found",
            AppError::MethodNotAllowed => "method_not_allowed",
            AppError::Unauthorized => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::Conflict(_) => "conflict",
            AppError::BadPublicKey(_) => "bad_public_key",
            AppError::IvReused => "iv_reused",
            AppError::RateLimited { .. } => "rate_limited",
            AppError::Timeout => "timeout",
            AppError::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::MalformedJson(_)
            | AppError::InvalidQuery(_)
            | AppError::WebSocketExpected(_) => StatusCode::BAD_REQUEST,
            AppError::InvalidBody(_)
            | AppError::Validation { .. }
            | AppError::PasswordRejected(_)
            | AppError::CaptchaFailed => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::UsernameTaken | AppError::UsernameConfusable => StatusCode::CONFLICT,
            AppError::InvalidCredentials
            | AppError::InvalidCode
            | AppError::SessionExpired { .. }
            | AppError::RegistrationExpired => StatusCode::UNAUTHORIZED,
            AppError::FactorLocked { .. }
            | AppError::SecondFactorRequired
            | AppError::PasswordChangeRequired
            | AppError::CsrfFailed
            | AppError::CrossSite => StatusCode::FORBIDDEN,
            AppError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::AccountDeleted => StatusCode::GONE,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::Conflict(_) | AppError::IvReused => StatusCode::CONFLICT,
            AppError::BadPublicKey(_) => StatusCode::BAD_REQUEST,
            AppError::RateLimited { .. } | AppError::QuotaExceeded { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            AppError::Timeout => StatusCode::REQUEST_TIMEOUT,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Internal(e.into())
    }
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        AppError::Internal(e)
    }
}

/// A reason a password was refused (`password_rejected`): a stable `code` (see
/// `service::password_policy::code`) and a message that says why and asks for a different
/// password. Made only by `service::password_policy`, where every password message is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub code: &'static str,
    pub message: String,
}

impl From<&Rejection> for parley_api::PasswordRejection {
    fn from(r: &Rejection) -> Self {
        parley_api::PasswordRejection {
            code: r.code.to_owned(),
            message: r.message.clone(),
        }
    }
}

impl AppError {
    /// The body of the error's response (docs/api.md "Errors"): code, message and the fields
    /// this error adds.
    pub fn body(&self) -> ErrorBody {
        let mut body = ErrorBody {
            error: self.code().to_owned(),
            message: self.to_string(),
            ..ErrorBody::default()
        };
        match self {
            AppError::Validation { field, .. } => body.field = Some((*field).to_owned()),
            AppError::PasswordRejected(reasons) => {
                body.reasons = Some(reasons.iter().map(Into::into).collect());
            }
            AppError::FactorLocked { factor, .. } => body.factor = Some((*factor).to_owned()),
            AppError::SessionExpired { reason } => body.reason = Some((*reason).to_owned()),
            AppError::RateLimited { retry_after_secs } => {
                body.retry_after_secs = Some(*retry_after_secs);
            }
            AppError::QuotaExceeded {
                quota,
                retry_after_secs,
                ..
            } => {
                body.quota = Some((*quota).to_owned());
                body.retry_after_secs = Some(*retry_after_secs);
            }
            _ => {}
        }
        body
    }

    pub fn validation(field: &'static str, message: impl Into<String>) -> AppError {
        AppError::Validation {
            field,
            message: message.into(),
        }
    }
}

impl AppError {
    /// The error response with more fields in its body (e.g. `"captcha": "kept"`): those set in
    /// `more` are added to the error's own.
    pub fn into_response_with(self, more: ErrorBody) -> Response {
        let mut body = self.body();
        body.captcha = more.captcha.or(body.captcha);
        (self.status(), axum::Json(body)).into_response()
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Internal(e) = &self {
            // The chain goes to the log only; the client sees the generic message.
            tracing::error!(error = format!("{e:#}"), "internal error");
        }
        let mut res = (self.status(), axum::Json(self.body())).into_response();
        if let AppError::RateLimited { retry_after_secs }
        | AppError::QuotaExceeded {
            retry_after_secs, ..
        } = self
        {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        if matches!(self, AppError::Busy) {
            // Full queue or cap (hashing, WebSockets): worth a retry shortly.
            res.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(BUSY_RETRY_AFTER_SECS),
            );
        }
        res
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// `Retry-After` of a `503 busy`, in seconds.
pub const BUSY_RETRY_AFTER_SECS: u64 = 1;
