//! The service layer: accounts, authentication and messaging rules. It speaks in domain types
//! and `AppError`; it knows nothing of HTTP.

pub mod accounts;
pub mod breach;
pub mod captcha;
pub mod crypto;
pub mod messaging;
pub mod password_policy;
pub mod passwords;
pub mod quota;
pub mod rate_limit;
pub mod realtime;
pub mod recovery;
pub mod sessions;
pub mod totp;
