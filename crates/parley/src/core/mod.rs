//! The bottom layer: configuration, errors and small shared types. Depends on nothing above it.

pub mod config;
pub mod error;
pub mod secret;

pub use config::Config;
pub use error::{AppError, AppResult};
