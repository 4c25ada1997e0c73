//! The bottom layer: configuration, errors and small shared types. Depends on nothing above it.

pub mod clock;
pub mod config;
pub mod error;
pub mod metrics;
pub mod net;
pub mod secret;

pub use clock::Clock;
pub use config::Config;
pub use error::{AppError, AppResult};
