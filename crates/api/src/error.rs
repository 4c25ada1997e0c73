//! The body of every error response (docs/api.md "Errors").

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::PasswordRejection;

/// `{"error": code, "message": text, …}`: a stable code, a human message, and the fields some
/// errors add.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The stable code (`validation`, `unauthorized`, `rate_limited`, …).
    pub error: String,
    pub message: String,
    /// `validation`: the field at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `password_rejected`: every reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<PasswordRejection>>,
    /// `factor_locked`: `password`, `totp` or `recovery`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<String>,
    /// `session_expired`: `idle` or `absolute`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `quota_exceeded`: which quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<String>,
    /// `rate_limited`, `quota_exceeded`: seconds until a retry can succeed (also `Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
    /// A refused sign-up or sign-in whose CAPTCHA can be answered again: `kept`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captcha: Option<String>,
}
