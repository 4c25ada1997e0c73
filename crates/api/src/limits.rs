//! Every bound of the API, declared once (issue 11). The server enforces these numbers and the
//! docs quote them; a client reads them from here. Bounds of the encryption protocol itself are
//! declared by `parley-protocol` and re-exported here so that this is the one place to look.
//!
//! The browser reads them from `web/limits.js`, which `tests/web_limits.rs` renders from this file
//! and compares with the committed copy (`PARLEY_UPDATE_WEB_LIMITS=1` rewrites it). Every item
//! here is exported there, so each one needs a `///` line: it becomes the JSDoc comment.

// ---- the encryption protocol (docs/protocol.md; declared by parley-protocol) ---------------

/// One coordinate (`x` or `y`) of a P-384 point, in bytes.
pub use parley_protocol::FIELD_BYTES;
/// Largest `msg` ciphertext, in bytes, the 16-byte tag included (48 KiB).
pub use parley_protocol::MAX_CIPHERTEXT_BYTES;
/// Largest IV counter and salt, 2^53 − 1 (exact in a JavaScript number).
pub use parley_protocol::MAX_COUNTER;
/// Largest `msg` plaintext, in bytes of UTF-8: the ciphertext limit minus the tag.
pub use parley_protocol::MAX_PLAINTEXT_BYTES;
/// An identity public key: an uncompressed P-384 point, `0x04 ‖ x ‖ y`, in bytes.
pub use parley_protocol::PUBLIC_KEY_BYTES;
/// The AES-GCM tag at the end of every ciphertext, in bytes.
pub use parley_protocol::TAG_BYTES;

// ---- messages (docs/api.md "Payloads") ---------------------------------------------------

/// Largest message payload, as serialized JSON.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// A `msg` IV: 12 bytes (a 96-bit big-endian counter).
pub const IV_BYTES: usize = 12;
/// An HMAC-SHA-256 (`mac`, `mac_old`, `mac_new`, `confirm`): 32 bytes.
pub const MAC_BYTES: usize = 32;
/// The random part of a key set's HKDF salt (docs/protocol.md §4.2).
pub const NONCE_BYTES: usize = 16;
/// A key-set id: 1 to this many characters of `A-Z a-z 0-9 _ -`.
pub const KEY_SET_ID_MAX_CHARS: usize = 128;
/// A user id: this many hex characters.
pub const USER_ID_CHARS: usize = 32;
/// Messages per history page when the client names no `limit`...
pub const PAGE_DEFAULT: i64 = 50;
/// ... and the most it may ask for (larger `limit`s are clamped).
pub const PAGE_MAX: i64 = 200;

// ---- accounts ------------------------------------------------------------------------------

/// Shortest username, in characters.
pub const USERNAME_MIN: usize = 3;
/// Longest username, in characters.
pub const USERNAME_MAX: usize = 32;
/// Shortest acceptable password, in code points after normalization (5.1.1.2-length-min).
pub const PASSWORD_MIN_CODE_POINTS: usize = 8;
/// Longest password the server hashes, in bytes of UTF-8 (5.1.1.2-length-max).
pub const PASSWORD_MAX_BYTES: usize = 1024;
/// Characters of a CAPTCHA answer.
pub const CAPTCHA_LENGTH: usize = 5;
/// Seconds a CAPTCHA can be answered.
pub const CAPTCHA_TTL_SECS: i64 = 300;
/// Recovery codes in a set.
pub const RECOVERY_CODES: usize = 10;
/// Digits of a TOTP code.
pub const TOTP_DIGITS: u32 = 6;
/// Seconds per TOTP step.
pub const TOTP_PERIOD_SECS: i64 = 30;
/// Entries of the security log returned by `GET /api/account/security-log`.
pub const SECURITY_LOG_MAX: i64 = 200;
/// Largest step of the test clock (`POST /api/test/clock`): 400 days.
pub const CLOCK_ADVANCE_MAX_SECS: i64 = 400 * 86_400;
/// Seconds a half-finished registration lives (A5: at most 15 minutes).
pub const REGISTRATION_SECS: i64 = 15 * 60;
/// Codes tried during one registration before it must start again.
pub const REGISTRATION_MAX_ATTEMPTS: i64 = 10;
/// Codes tried to confirm one new authenticator before it must start again.
pub const ENROLMENT_MAX_ATTEMPTS: i64 = 5;
/// Consecutive failures after which a factor is disabled (until unlocked).
pub const FACTOR_MAX_FAILURES: i64 = 100;

// ---- sessions (docs/security.md) -----------------------------------------------------------

/// Seconds without a user action after which a session ends (4.2.3-idle-30m).
pub const SESSION_IDLE_SECS: i64 = 30 * 60;
/// Seconds after sign-in after which a session ends, active or not (12 hours).
pub const SESSION_ABSOLUTE_SECS: i64 = 12 * 60 * 60;
/// Seconds to finish a sign-in with the second factor once the password was accepted.
pub const SESSION_PENDING_SECS: i64 = 10 * 60;

// ---- WebSocket -----------------------------------------------------------------------------

/// Largest client frame, in bytes: a `send` frame carries a whole payload, plus 4 KiB.
pub const MAX_FRAME_BYTES: usize = MAX_PAYLOAD_BYTES + 4 * 1024;
/// Ids in one `ack` frame.
pub const ACK_IDS_MAX: usize = 256;
/// Messages per backlog page; the next page waits until this one is acknowledged.
pub const BACKLOG_PAGE: i64 = 100;
