//! Registration, sign-in, sessions and authenticators (docs/api.md "Accounts").

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

// ---- CAPTCHA and password feedback ----------------------------------------------------------

/// `GET /api/captcha`: a challenge to answer within `expires_in` seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Captcha {
    pub id: String,
    /// A `data:image/png;base64,…` URI.
    pub image: String,
    pub expires_in: i64,
}

/// `POST /api/password/check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PasswordCheck {
    #[schema(max_length = 1024)]
    pub password: String,
    /// The username it is meant for, if known (context-specific words rate low).
    #[serde(default)]
    #[schema(max_length = 32)]
    pub username: String,
}

/// One reason a password is refused: a stable `code` and a message that says why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PasswordRejection {
    /// `too_short`, `too_long`, `breached`, `common`, `dictionary_word`, `repetitive`,
    /// `sequential`, `context_specific` or `mismatch`.
    pub code: String,
    pub message: String,
}

/// The answer to `POST /api/password/check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PasswordFeedback {
    pub acceptable: bool,
    pub reasons: Vec<PasswordRejection>,
    /// zxcvbn's score, 0 to 4.
    pub score: u8,
    pub warning: Option<String>,
    pub suggestions: Vec<String>,
    /// Code points after normalization.
    pub length: usize,
}

// ---- registration ---------------------------------------------------------------------------

/// Where a registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationStage {
    /// Waiting for the first code of the new authenticator.
    Totp,
    /// Waiting for the user to confirm they saved the recovery codes.
    Recovery,
}

impl RegistrationStage {
    /// The stage's name, as stored and sent.
    pub const fn as_str(self) -> &'static str {
        match self {
            RegistrationStage::Totp => "totp",
            RegistrationStage::Recovery => "recovery",
        }
    }

    /// The stage of a stored name.
    pub fn parse(name: &str) -> Option<RegistrationStage> {
        match name {
            "totp" => Some(RegistrationStage::Totp),
            "recovery" => Some(RegistrationStage::Recovery),
            _ => None,
        }
    }
}

/// `POST /api/register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegisterStart {
    #[schema(min_length = 3, max_length = 32)]
    pub username: String,
    /// At least 8 code points and at most 1024 bytes of UTF-8, after NFKC.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
    #[schema(max_length = 1024)]
    pub password_confirm: String,
    pub captcha_id: Option<String>,
    #[schema(min_length = 5, max_length = 5)]
    pub captcha_answer: Option<String>,
}

/// What an authenticator app needs to enrol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TotpProvisioning {
    /// The secret, base32 without padding.
    pub secret: String,
    pub otpauth_uri: String,
    /// A QR code of the URI, as an SVG `data:` URI rendered by the server.
    pub qr: String,
    pub digits: u32,
    pub period: i64,
}

/// `201` to `POST /api/register`: the account is not made yet; the authenticator is next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegistrationStarted {
    /// Always `totp`.
    pub stage: RegistrationStage,
    pub username: String,
    pub expires_at: i64,
    pub totp: TotpProvisioning,
}

/// `GET /api/register`: the registration this browser has under way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegistrationState {
    pub stage: RegistrationStage,
    pub username: String,
    pub expires_at: i64,
}

/// A body holding one code: `POST /api/register/totp`, `/api/login/totp`,
/// `/api/login/recovery`, `/api/account/totp/confirm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CodeBody {
    pub code: String,
}

/// The answer to `POST /api/register/totp`: the recovery codes, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegistrationCodes {
    /// Always `recovery`.
    pub stage: RegistrationStage,
    pub recovery_codes: Vec<String>,
}

/// `POST /api/register/finish`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegisterFinish {
    /// Must be true: the user saved the recovery codes.
    pub saved: bool,
}

// ---- sign-in and the session ----------------------------------------------------------------

/// `POST /api/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Login {
    #[schema(min_length = 3, max_length = 32)]
    pub username: String,
    #[schema(max_length = 1024)]
    pub password: String,
    pub captcha_id: Option<String>,
    #[schema(min_length = 5, max_length = 5)]
    pub captcha_answer: Option<String>,
}

/// A second factor of sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecondFactorMethod {
    Totp,
    Recovery,
}

/// Where a sign-in stands after the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoginStage {
    SecondFactor,
}

/// The answer to a correct password: a second factor is next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoginPending {
    pub stage: LoginStage,
    pub methods: Vec<SecondFactorMethod>,
}

/// A user as the API shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: String,
    pub username: String,
    pub created_at: i64,
}

/// The session a request came with, and its deadlines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Session {
    /// The session's public id (never its token).
    pub id: String,
    pub created_at: i64,
    pub idle_expires_at: i64,
    pub absolute_expires_at: i64,
}

/// The answer to a completed sign-up or sign-in (the session cookie is set beside it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SignedIn {
    pub user: User,
    /// Sent back in `X-CSRF-Token` on every state-changing request.
    pub csrf_token: String,
    pub session: Session,
    /// Sign-in only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_codes_remaining: Option<usize>,
    /// After a recovery code: urges a new set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// `GET /api/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub user: User,
    pub csrf_token: String,
    pub session: Session,
    pub recovery_codes_remaining: usize,
    pub must_change_password: bool,
    /// The server's clock, so the browser can show deadlines.
    pub now: i64,
    /// The operator's `crypto_console_log` setting.
    pub crypto_console_log: bool,
}

/// A body holding the current password: `POST /api/session/reauth`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PasswordBody {
    #[schema(max_length = 1024)]
    pub password: String,
}

/// The answer to `POST /api/session/reauth`: the session with its deadlines extended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Reauthenticated {
    pub session: Session,
}

/// One of the user's sessions (`GET /api/sessions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    pub id: String,
    pub created_at: i64,
    pub last_active_at: i64,
    pub user_agent: String,
    pub ip: String,
    /// The session this request came with.
    pub current: bool,
}

/// `GET /api/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionInfo>,
}

// ---- managing authenticators ----------------------------------------------------------------

/// `POST /api/account/password`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChangePassword {
    #[schema(max_length = 1024)]
    pub password: String,
    /// At least 8 code points and at most 1024 bytes of UTF-8, after NFKC.
    #[schema(min_length = 8, max_length = 1024)]
    pub new_password: String,
    #[schema(max_length = 1024)]
    pub new_password_confirm: String,
}

/// The second factor that confirms a sensitive change: one of the two.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SecondFactor {
    #[serde(default)]
    pub totp_code: Option<String>,
    #[serde(default)]
    pub recovery_code: Option<String>,
}

/// A sensitive change (new authenticator, new recovery codes, deleting the account): the password
/// and a second factor again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Sensitive {
    #[schema(max_length = 1024)]
    pub password: String,
    #[serde(flatten)]
    pub second: SecondFactor,
}

/// The answer to `POST /api/account/totp/start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TotpStarted {
    pub totp: TotpProvisioning,
}

/// The answer to `POST /api/account/recovery-codes`: a new set, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// What a security-log entry records. Stored and sent by these names (`as_str`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecurityEventKind {
    /// The account was made (registration finished).
    Registered,
    /// The password step of a sign-in passed.
    LoginPasswordOk,
    /// A wrong password (detail: how many in a row).
    LoginPasswordFailed,
    /// A wrong TOTP code at sign-in or for a change.
    LoginTotpFailed,
    /// A wrong recovery code at sign-in or for a change.
    LoginRecoveryFailed,
    /// A sign-in completed (detail: with which second factor).
    LoginSucceeded,
    /// A recovery code was spent.
    RecoveryCodeUsed,
    /// A factor was disabled after too many failures (detail: the factor).
    FactorLocked,
    /// A factor was unlocked (detail: the factor(s)).
    FactorUnlocked,
    /// The user signed out.
    Logout,
    /// One session (detail: its id) or all (`all`) were ended by the user.
    SessionRevoked,
    /// The password was changed.
    PasswordChanged,
    /// A wrong code confirming a new authenticator.
    TotpConfirmFailed,
    /// A new authenticator replaced the old one.
    TotpReenrolled,
    /// A new set of recovery codes replaced the old one.
    RecoveryCodesRegenerated,
}

impl SecurityEventKind {
    /// Every kind, in declaration order.
    pub const ALL: [SecurityEventKind; 15] = [
        SecurityEventKind::Registered,
        SecurityEventKind::LoginPasswordOk,
        SecurityEventKind::LoginPasswordFailed,
        SecurityEventKind::LoginTotpFailed,
        SecurityEventKind::LoginRecoveryFailed,
        SecurityEventKind::LoginSucceeded,
        SecurityEventKind::RecoveryCodeUsed,
        SecurityEventKind::FactorLocked,
        SecurityEventKind::FactorUnlocked,
        SecurityEventKind::Logout,
        SecurityEventKind::SessionRevoked,
        SecurityEventKind::PasswordChanged,
        SecurityEventKind::TotpConfirmFailed,
        SecurityEventKind::TotpReenrolled,
        SecurityEventKind::RecoveryCodesRegenerated,
    ];

    /// The kind's name, as stored and sent.
    pub const fn as_str(self) -> &'static str {
        match self {
            SecurityEventKind::Registered => "registered",
            SecurityEventKind::LoginPasswordOk => "login_password_ok",
            SecurityEventKind::LoginPasswordFailed => "login_password_failed",
            SecurityEventKind::LoginTotpFailed => "login_totp_failed",
            SecurityEventKind::LoginRecoveryFailed => "login_recovery_failed",
            SecurityEventKind::LoginSucceeded => "login_succeeded",
            SecurityEventKind::RecoveryCodeUsed => "recovery_code_used",
            SecurityEventKind::FactorLocked => "factor_locked",
            SecurityEventKind::FactorUnlocked => "factor_unlocked",
            SecurityEventKind::Logout => "logout",
            SecurityEventKind::SessionRevoked => "session_revoked",
            SecurityEventKind::PasswordChanged => "password_changed",
            SecurityEventKind::TotpConfirmFailed => "totp_confirm_failed",
            SecurityEventKind::TotpReenrolled => "totp_reenrolled",
            SecurityEventKind::RecoveryCodesRegenerated => "recovery_codes_regenerated",
        }
    }

    /// The kind of a stored name.
    pub fn parse(name: &str) -> Option<SecurityEventKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for SecurityEventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for SecurityEventKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for SecurityEventKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One entry of the security log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SecurityEvent {
    pub at: i64,
    pub event: SecurityEventKind,
    pub ip: String,
    pub user_agent: String,
    pub detail: String,
}

/// `GET /api/account/security-log`: newest first, at most
/// [`SECURITY_LOG_MAX`](crate::limits::SECURITY_LOG_MAX).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SecurityLog {
    pub events: Vec<SecurityEvent>,
}

/// Whether an authenticator is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthenticatorStatus {
    Active,
    Replaced,
}

/// One authenticator of the account, current or replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Authenticator {
    /// `password`, `totp` or `recovery_codes`.
    pub kind: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub status: AuthenticatorStatus,
}

/// `GET /api/account/authenticators`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Authenticators {
    pub authenticators: Vec<Authenticator>,
}

// ---- test hook --------------------------------------------------------------------------------

/// `POST /api/test/clock` (mounted only with `test_clock = true`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AdvanceClock {
    /// 0 to [`CLOCK_ADVANCE_MAX_SECS`](crate::limits::CLOCK_ADVANCE_MAX_SECS).
    #[schema(minimum = 0, maximum = 34_560_000)]
    pub advance_secs: i64,
}

/// The test clock's time after the step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClockNow {
    pub now: i64,
}
