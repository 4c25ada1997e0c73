//! Throttling per account and factor (§5.2.2): every attempt counted before it is checked,
//! delays after failures, a factor disabled after `MAX_FAILURES`, unlocked by the other
//! possession factor or by `parley admin unlock`.

use super::{Accounts, Client, Factor};
use crate::core::{AppError, AppResult};
use crate::db::auth_state::{Claim, Throttle};
use crate::service::rate_limit::{self, MAX_FAILURES};
use parley_api::SecurityEventKind;

/// A sign-in completed from an address makes it a "known place" for this long (issue 9 item 5).
pub const KNOWN_PLACE_SECS: i64 = 30 * 86_400;

impl Accounts {
    /// Count an attempt before it is checked (issue 9 item 1; `Db::claim_attempt`): refused
    /// while the factor is disabled (403) or delayed (429, unless `ignore_delay`).
    pub(super) async fn claim(
        &self,
        key: &Throttle<'_>,
        factor: Factor,
        ignore_delay: bool,
    ) -> AppResult<()> {
        let claim = self
            .db
            .claim_attempt(
                key,
                self.clock.now(),
                ignore_delay,
                rate_limit::delay_after,
                MAX_FAILURES,
            )
            .await?;
        match claim {
            Claim::Admitted { .. } => Ok(()),
            Claim::Delayed { retry_after_secs } => Err(AppError::RateLimited {
                retry_after_secs: retry_after_secs.max(1),
            }),
            Claim::Disabled => Err(AppError::FactorLocked {
                factor: factor.as_str(),
                message: locked_message(factor),
            }),
            Claim::Busy => Err(AppError::Busy),
        }
    }

    /// A place this user completed a sign-in from within `KNOWN_PLACE_SECS`.
    pub(super) async fn known_place(&self, user_id: &str, client: &Client) -> AppResult<bool> {
        let since = self.clock.now() - KNOWN_PLACE_SECS;
        Ok(self
            .db
            .signed_in_from(user_id, &client.ip_str(), since)
            .await?)
    }

    /// The failure was already counted by `claim`; record it in the user's security log.
    pub(super) async fn failed(
        &self,
        user_id: &str,
        factor: Factor,
        client: &Client,
    ) -> AppResult<()> {
        let key_name;
        let key = match factor {
            Factor::Password => {
                let user = self.user(user_id).await?;
                key_name = user.username.to_lowercase();
                Throttle::Name(&key_name)
            }
            _ => Throttle::Factor { user_id, factor },
        };
        let state = self.db.failure_state(&key).await?;
        let n = state.consecutive;
        let event = match factor {
            Factor::Password => SecurityEventKind::LoginPasswordFailed,
            Factor::Totp => SecurityEventKind::LoginTotpFailed,
            Factor::Recovery => SecurityEventKind::LoginRecoveryFailed,
        };
        self.event(user_id, event, client, &format!("{n} in a row"))
            .await?;
        if state.disabled {
            self.event(
                user_id,
                SecurityEventKind::FactorLocked,
                client,
                factor.as_str(),
            )
            .await?;
        }
        Ok(())
    }

    /// A success resets that factor's count; the possession factors also unlock each other
    /// ("unlock with another factor").
    pub(super) async fn succeeded(
        &self,
        user_id: &str,
        factor: Factor,
        client: &Client,
    ) -> AppResult<()> {
        self.db
            .reset_failures(&Throttle::Factor { user_id, factor })
            .await?;
        let other = match factor {
            Factor::Totp => Some(Factor::Recovery),
            Factor::Recovery => Some(Factor::Totp),
            Factor::Password => None,
        };
        if let Some(other) = other {
            let key = Throttle::Factor {
                user_id,
                factor: other,
            };
            if self.db.failure_state(&key).await?.disabled {
                self.db.reset_failures(&key).await?;
                self.event(
                    user_id,
                    SecurityEventKind::FactorUnlocked,
                    client,
                    other.as_str(),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// `parley admin unlock`: clear the failure state of one or all factors.
    pub async fn admin_unlock(&self, username: &str, factor: Option<Factor>) -> AppResult<String> {
        let (_, key) = Self::validate_username(username)?;
        let user = self.db.user_by_key(&key).await?.ok_or(AppError::NotFound)?;
        let factors = match factor {
            Some(f) => vec![f],
            None => vec![Factor::Password, Factor::Totp, Factor::Recovery],
        };
        for f in &factors {
            match f {
                Factor::Password => self.db.reset_failures(&Throttle::Name(&key)).await?,
                _ => {
                    self.db
                        .reset_failures(&Throttle::Factor {
                            user_id: &user.id,
                            factor: *f,
                        })
                        .await?
                }
            }
        }
        let names: Vec<_> = factors.iter().map(|f| f.as_str()).collect();
        self.db
            .log_event(
                &user.id,
                self.clock.now(),
                SecurityEventKind::FactorUnlocked,
                "",
                "parley admin",
                &names.join(","),
            )
            .await?;
        Ok(user.username)
    }
}

fn locked_message(factor: Factor) -> String {
    match factor {
        Factor::Password => "Your password is disabled after too many failed attempts. Ask the \
            operator to run `parley admin unlock <username>`."
            .into(),
        Factor::Totp => "Authenticator codes are disabled after too many failed attempts. Sign \
            in with a recovery code to unlock them."
            .into(),
        Factor::Recovery => "Recovery codes are disabled after too many failed attempts. Sign \
            in with your authenticator app to unlock them."
            .into(),
    }
}
