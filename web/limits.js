// @ts-check
// Generated from crates/api/src/limits.rs by crates/api/tests/web_limits.rs; do not edit.
// To change a bound, change limits.rs and run
//   PARLEY_UPDATE_WEB_LIMITS=1 cargo test -p parley-api --test web_limits
/**
 * Every bound of the API and the protocol, declared once (issue 11): the server enforces
 * these numbers and the browser reads them from here.
 */

// ---- the encryption protocol (docs/protocol.md; declared by parley-protocol) ---------------

/** One coordinate (`x` or `y`) of a P-384 point, in bytes. */
export const FIELD_BYTES = 48;

/** Largest `msg` ciphertext, in bytes, the 16-byte tag included (48 KiB). */
export const MAX_CIPHERTEXT_BYTES = 49152;

/** Largest IV counter and salt, 2^53 − 1 (exact in a JavaScript number). */
export const MAX_COUNTER = 9007199254740991;

/** Largest `msg` plaintext, in bytes of UTF-8: the ciphertext limit minus the tag. */
export const MAX_PLAINTEXT_BYTES = 49136;

/** An identity public key: an uncompressed P-384 point, `0x04 ‖ x ‖ y`, in bytes. */
export const PUBLIC_KEY_BYTES = 97;

/** The AES-GCM tag at the end of every ciphertext, in bytes. */
export const TAG_BYTES = 16;

// ---- messages (docs/api.md "Payloads") ---------------------------------------------------

/** Largest message payload, as serialized JSON. */
export const MAX_PAYLOAD_BYTES = 65536;

/** A `msg` IV: 12 bytes (a 96-bit big-endian counter). */
export const IV_BYTES = 12;

/** An HMAC-SHA-256 (`mac`, `mac_old`, `mac_new`, `confirm`): 32 bytes. */
export const MAC_BYTES = 32;

/** The random part of a key set's HKDF salt (docs/protocol.md §4.2). */
export const NONCE_BYTES = 16;

/** A key-set id: 1 to this many characters of `A-Z a-z 0-9 _ -`. */
export const KEY_SET_ID_MAX_CHARS = 128;

/** A user id: this many hex characters. */
export const USER_ID_CHARS = 32;

/** Messages per history page when the client names no `limit`... */
export const PAGE_DEFAULT = 50;

/** ... and the most it may ask for (larger `limit`s are clamped). */
export const PAGE_MAX = 200;

// ---- accounts ------------------------------------------------------------------------------

/** Shortest username, in characters. */
export const USERNAME_MIN = 3;

/** Longest username, in characters. */
export const USERNAME_MAX = 32;

/** Shortest acceptable password, in code points after normalization (5.1.1.2-length-min). */
export const PASSWORD_MIN_CODE_POINTS = 8;

/** Longest password the server hashes, in bytes of UTF-8 (5.1.1.2-length-max). */
export const PASSWORD_MAX_BYTES = 1024;

/** Characters of a CAPTCHA answer. */
export const CAPTCHA_LENGTH = 5;

/** Seconds a CAPTCHA can be answered. */
export const CAPTCHA_TTL_SECS = 300;

/** Recovery codes in a set. */
export const RECOVERY_CODES = 10;

/** Digits of a TOTP code. */
export const TOTP_DIGITS = 6;

/** Seconds per TOTP step. */
export const TOTP_PERIOD_SECS = 30;

/** Entries of the security log returned by `GET /api/account/security-log`. */
export const SECURITY_LOG_MAX = 200;

/** Largest step of the test clock (`POST /api/test/clock`): 400 days. */
export const CLOCK_ADVANCE_MAX_SECS = 34560000;

/** Seconds a half-finished registration lives (A5: at most 15 minutes). */
export const REGISTRATION_SECS = 900;

/** Codes tried during one registration before it must start again. */
export const REGISTRATION_MAX_ATTEMPTS = 10;

/** Codes tried to confirm one new authenticator before it must start again. */
export const ENROLMENT_MAX_ATTEMPTS = 5;

/** Consecutive failures after which a factor is disabled (until unlocked). */
export const FACTOR_MAX_FAILURES = 100;

// ---- sessions (docs/security.md) -----------------------------------------------------------

/** Seconds without a user action after which a session ends (4.2.3-idle-30m). */
export const SESSION_IDLE_SECS = 1800;

/** Seconds after sign-in after which a session ends, active or not (12 hours). */
export const SESSION_ABSOLUTE_SECS = 43200;

/** Seconds to finish a sign-in with the second factor once the password was accepted. */
export const SESSION_PENDING_SECS = 600;

// ---- WebSocket -----------------------------------------------------------------------------

/** Largest client frame, in bytes: a `send` frame carries a whole payload, plus 4 KiB. */
export const MAX_FRAME_BYTES = 69632;

/** Ids in one `ack` frame. */
export const ACK_IDS_MAX = 256;

/** Messages per backlog page; the next page waits until this one is acknowledged. */
export const BACKLOG_PAGE = 100;
