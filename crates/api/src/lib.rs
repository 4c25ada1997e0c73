//! # parley-api
//!
//! Parley's wire contract (docs/api.md, issue 11): the body of every request and response of
//! the HTTP API under `/api`, the frames of `GET /api/ws`, and in [`limits`] every bound the server
//! enforces. The server's handlers take and return these types, its tests and the command-line
//! client deserialize into them, so renaming a field is a compile error rather than a search.
//!
//! Times are Unix seconds (`i64`); ids are strings. Message payloads stay JSON values: the server
//! checks their shape with `parley-protocol` but cannot read them.

pub mod limits;

mod accounts;
mod error;
mod messaging;
mod ws;

pub use accounts::*;
pub use error::*;
pub use messaging::*;
pub use ws::*;

/// `GET /api/health`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// The server's version.
    pub version: String,
}
