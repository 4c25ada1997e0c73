//! Accounts and authentication (A1–A8): registration that binds password + TOTP + recovery
//! codes in one flow, two-step sign-in, throttling per account and factor, and the management
//! of authenticators after re-authentication. One `Accounts` service, its methods grouped by
//! concern:
//!
//! - [`challenges`]: CAPTCHA challenges;
//! - [`credentials`]: username rules and new-password checks (policy + breach);
//! - [`registration`]: the three registration steps;
//! - [`sign_in`]: two-step sign-in, the one password check, the possession factors,
//!   re-authentication;
//! - [`throttling`]: counters per account and factor, locks and unlocks;
//! - [`authenticators`]: changing authenticators, the security log;
//! - [`deletion`]: deleting the account.

mod authenticators;
mod challenges;
mod credentials;
mod deletion;
mod registration;
mod sign_in;
mod throttling;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::breach::BreachChecker;
use super::crypto::ServerKeys;
use super::passwords::Hasher;
use super::rate_limit::{Action, IpLimiter};
use crate::core::{AppError, AppResult, Clock, Config};
use crate::db::Db;
use crate::db::users::UserRow;
use parley_api::SecurityEventKind;

pub use credentials::username_skeleton;
pub use deletion::Deleted;
pub use parley_api::limits::{
    ENROLMENT_MAX_ATTEMPTS, REGISTRATION_MAX_ATTEMPTS, REGISTRATION_SECS, USERNAME_MAX,
    USERNAME_MIN,
};
pub use throttling::KNOWN_PLACE_SECS;

/// Who is asking: the client address (from trusted proxies only) and its browser.
#[derive(Clone, Debug)]
pub struct Client {
    pub ip: IpAddr,
    pub user_agent: String,
}

impl Client {
    fn ip_str(&self) -> String {
        self.ip.to_string()
    }
}

/// The factors counted separately for throttling.
pub use crate::db::auth_state::Factor;
/// The answer to `POST /api/password/check`.
pub use parley_api::PasswordFeedback;
/// A second factor offered for a sensitive change: a TOTP code or a recovery code.
pub use parley_api::SecondFactor;

pub struct Accounts {
    pub db: Db,
    pub clock: Clock,
    pub config: Arc<Config>,
    pub hasher: Hasher,
    pub keys: ServerKeys,
    pub breach: BreachChecker,
    pub ip_limits: IpLimiter,
}

impl Accounts {
    pub fn new(config: Arc<Config>, db: Db, clock: Clock) -> anyhow::Result<Accounts> {
        let keys = ServerKeys::load(&config)?;
        let hasher = Hasher::new(&config, keys.clone())?;
        let breach = BreachChecker::new(
            &config.breach_api_url,
            Duration::from_millis(config.breach_api_timeout_ms),
        )?;
        Ok(Accounts {
            db,
            clock,
            config,
            hasher,
            keys,
            breach,
            ip_limits: IpLimiter::default(),
        })
    }

    pub fn limit(&self, action: Action, client: &Client) -> AppResult<()> {
        self.ip_limits
            .check(action, client.ip)
            .map_err(|retry_after_secs| AppError::RateLimited { retry_after_secs })
    }

    pub async fn user(&self, id: &str) -> AppResult<UserRow> {
        self.db.user_by_id(id).await?.ok_or(AppError::Unauthorized)
    }

    pub async fn event(
        &self,
        user_id: &str,
        event: SecurityEventKind,
        client: &Client,
        detail: &str,
    ) -> AppResult<()> {
        let ua: String = client.user_agent.chars().take(300).collect();
        self.db
            .log_event(
                user_id,
                self.clock.now(),
                event,
                &client.ip_str(),
                &ua,
                detail,
            )
            .await?;
        Ok(())
    }

    /// The database answers (`GET /api/health`).
    pub async fn database_reachable(&self) -> AppResult<()> {
        Ok(self.db.ping().await?)
    }

    /// (connections the database pool holds, idle ones among them), for `GET /metrics`.
    pub fn database_pool(&self) -> (u32, usize) {
        (self.db.pool.size(), self.db.pool.num_idle())
    }
}
