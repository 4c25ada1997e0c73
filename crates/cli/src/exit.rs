//! Exit codes (documented in `parley-chat --help` and README "Chatting from a terminal"):
//! scripts can tell a refused message from a network failure from a wrong passphrase.

/// Success.
pub const OK: i32 = 0;
/// Something unexpected (a bug, an I/O error on the terminal).
pub const FAILURE: i32 = 1;
/// Bad command-line usage (clap's own code).
pub const USAGE: i32 = 2;
/// Not signed in, or the session expired: run `parley-chat login`.
pub const SIGN_IN_NEEDED: i32 = 3;
/// The server could not be reached, or TLS failed.
pub const NETWORK: i32 = 4;
/// The server refused the request (its message is printed): validation, rate limit, quota, …
pub const REFUSED: i32 = 5;
/// The local state file cannot be opened: wrong passphrase, corrupted, locked by another
/// process.
pub const LOCAL_STATE: i32 = 6;
/// Sending is held back: a verified contact's key changed (accept or verify the new key).
pub const BLOCKED: i32 = 7;
/// No such user.
pub const NOT_FOUND: i32 = 8;

/// An error that carries its exit code; anything else in an `anyhow::Error` chain that is an
/// [`crate::api::ApiError`] maps through [`crate::api::ApiError::exit_code`], the rest to
/// [`FAILURE`].
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    pub code: i32,
    pub message: String,
}

impl Exit {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Exit {
            code,
            message: message.into(),
        }
    }
}

/// The exit code for an error.
pub fn code_of(e: &anyhow::Error) -> i32 {
    for cause in e.chain() {
        if let Some(exit) = cause.downcast_ref::<Exit>() {
            return exit.code;
        }
        if let Some(api) = cause.downcast_ref::<crate::api::ApiError>() {
            return api.exit_code();
        }
    }
    FAILURE
}
