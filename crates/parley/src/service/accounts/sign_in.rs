//! Two-step sign-in (A2, A4), the one password check (sign-in and re-authentication alike) and
//! the possession factors (TOTP, recovery codes) used by sign-in and by sensitive changes.

use super::{Accounts, Client, Factor, SecondFactor};
use crate::core::config::LoginCaptcha;
use crate::core::{AppError, AppResult};
use crate::db::auth_state::Throttle;
use crate::db::sessions::SessionRow;
use crate::db::users::UserRow;
use crate::service::password_policy;
use crate::service::passwords::Verified;
use crate::service::rate_limit::Action;
use crate::service::sessions::{self, NewSession, Stage};
use crate::service::{recovery, totp};
use parley_api::SecurityEventKind;

impl Accounts {
    /// Step 1: password (+ CAPTCHA) → a pending session that can only do step 2.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        captcha_id: Option<&str>,
        captcha_answer: Option<&str>,
        client: &Client,
    ) -> AppResult<NewSession> {
        self.limit(Action::Login, client)?;
        let key = Self::validate_username(username).map(|(_, k)| k).ok();
        let user = match &key {
            Some(k) => self.db.user_by_key(k).await?,
            None => None,
        };
        // Issue 9 item 5: everything below depends on the *name*, never on whether an account
        // of that name exists — the CAPTCHA demand, the count, the delay, the lock.
        let captcha_needed = match self.config.login_captcha {
            LoginCaptcha::Always => true,
            LoginCaptcha::AfterFailure => match &key {
                Some(k) => self.db.failure_state(&Throttle::Name(k)).await?.consecutive > 0,
                None => false,
            },
        };
        if captcha_needed {
            self.check_captcha(captcha_id, captcha_answer).await?;
        }
        if let Some(k) = &key {
            // The right person at a known place is not held back by the delay others caused
            // (the attempt is still counted and the 100-failure lock still applies).
            let known_place = match &user {
                Some(u) => self.known_place(&u.id, client).await?,
                None => false,
            };
            self.claim(&Throttle::Name(k), Factor::Password, known_place)
                .await?;
        }
        let user = self
            .verify_password(key.as_deref(), user, password, client)
            .await?;
        self.event(&user.id, SecurityEventKind::LoginPasswordOk, client, "")
            .await?;
        sessions::create(
            &self.db,
            &self.clock,
            &user.id,
            Stage::Pending,
            &client.ip_str(),
            &client.user_agent,
        )
        .await
    }

    /// Step 2 with a TOTP code: a **new** full session replaces the pending one.
    /// Step 2 with a TOTP code or a recovery code: a **new** full session replaces the
    /// pending one.
    pub async fn login_second_factor(
        &self,
        pending: &SessionRow,
        factor: Factor,
        code: &str,
        client: &Client,
    ) -> AppResult<(UserRow, NewSession)> {
        self.limit(Action::SecondFactor, client)?;
        let user = self.user(&pending.user_id).await?;
        self.possession_factor(&user, factor, code, client).await?;
        let how = match factor {
            Factor::Recovery => "recovery code",
            _ => "totp",
        };
        self.finish_login(pending, user, client, how).await
    }

    pub(super) async fn finish_login(
        &self,
        pending: &SessionRow,
        user: UserRow,
        client: &Client,
        how: &str,
    ) -> AppResult<(UserRow, NewSession)> {
        // The pending session is consumed: ended meanwhile (a password change, a revocation)
        // or already finished by a parallel request, it gives nothing.
        if !self.db.take_session(&pending.id_hash).await? {
            return Err(AppError::Unauthorized);
        }
        let session = sessions::create(
            &self.db,
            &self.clock,
            &user.id,
            Stage::Full,
            &client.ip_str(),
            &client.user_agent,
        )
        .await?;
        self.event(
            &user.id,
            SecurityEventKind::LoginSucceeded,
            client,
            &format!("with {how}"),
        )
        .await?;
        Ok((user, session))
    }

    /// Check the password of a signed-in user (re-authentication); failures count as usual.
    pub async fn check_password(
        &self,
        user: &UserRow,
        password: &str,
        client: &Client,
    ) -> AppResult<()> {
        // The same counter as sign-in, with no known-place allowance: whoever holds a signed-in
        // session is already at a known place.
        let key = user.username.to_lowercase();
        self.claim(&Throttle::Name(&key), Factor::Password, false)
            .await?;
        self.verify_password(Some(&key), Some(user.clone()), password, client)
            .await
            .map(drop)
    }

    /// The one password check, for sign-in and re-authentication alike (issue 11), after the
    /// attempt was claimed under the name `key`. A password over `MAX_BYTES` (normalized) is
    /// refused after the same work as a real check (never truncated); without an account the
    /// dummy hash is verified, so timing does not tell. A wrong password counts as a failure of
    /// the account; a right one clears the name's count and is rehashed if the hashing
    /// parameters were raised since it was stored (5.1.1.2).
    pub(super) async fn verify_password(
        &self,
        key: Option<&str>,
        user: Option<UserRow>,
        password: &str,
        client: &Client,
    ) -> AppResult<UserRow> {
        let normalized = password_policy::normalize(password);
        let verified = if normalized.len() > password_policy::MAX_BYTES {
            // Do the same work as a real check, then refuse (never truncate).
            let _ = self.hasher.verify("", None).await?;
            Verified::Wrong
        } else {
            self.hasher
                .verify(&normalized, user.as_ref().map(|u| u.password_hash.as_str()))
                .await?
        };
        let (user, needs_rehash) = match (user, verified) {
            (Some(u), Verified::Ok { needs_rehash }) => (u, needs_rehash),
            (Some(u), Verified::Wrong) => {
                self.failed(&u.id, Factor::Password, client).await?;
                return Err(AppError::InvalidCredentials);
            }
            (None, _) => return Err(AppError::InvalidCredentials),
        };
        if let Some(k) = key {
            self.db.reset_failures(&Throttle::Name(k)).await?;
        }
        if needs_rehash {
            let hash = self.hasher.hash(&normalized).await?;
            self.db
                .rehash_password(&user.id, &user.password_hash, &hash)
                .await?;
        }
        Ok(user)
    }

    /// A TOTP code or a recovery code, for sensitive changes.
    pub async fn check_second_factor(
        &self,
        user: &UserRow,
        f: &SecondFactor,
        client: &Client,
    ) -> AppResult<()> {
        let present = |c: &Option<String>| c.clone().filter(|c| !c.trim().is_empty());
        match (present(&f.totp_code), present(&f.recovery_code)) {
            (Some(code), _) => {
                self.possession_factor(user, Factor::Totp, &code, client)
                    .await
            }
            (_, Some(code)) => {
                self.possession_factor(user, Factor::Recovery, &code, client)
                    .await
            }
            _ => Err(AppError::validation(
                "totp_code",
                "enter a code from your authenticator app or a recovery code",
            )),
        }
    }

    /// Check one possession factor under its throttle: refused while locked or disabled; a
    /// failure is counted, a success resets the count (and unlocks the other factor). The one
    /// path for sign-in and for sensitive changes alike.
    pub(super) async fn possession_factor(
        &self,
        user: &UserRow,
        factor: Factor,
        code: &str,
        client: &Client,
    ) -> AppResult<()> {
        let key = Throttle::Factor {
            user_id: &user.id,
            factor,
        };
        self.claim(&key, factor, false).await?;
        let ok = match factor {
            Factor::Totp => self.verify_totp(user, code).await?,
            Factor::Recovery => self.use_recovery_code(user, code).await?,
            Factor::Password => {
                return Err(AppError::Internal(anyhow::anyhow!(
                    "the password is not a possession factor"
                )));
            }
        };
        if !ok {
            self.failed(&user.id, factor, client).await?;
            return Err(AppError::InvalidCode);
        }
        if factor == Factor::Recovery {
            self.event(&user.id, SecurityEventKind::RecoveryCodeUsed, client, "")
                .await?;
        }
        self.succeeded(&user.id, factor, client).await
    }

    pub(super) async fn verify_totp(&self, user: &UserRow, code: &str) -> AppResult<bool> {
        let secret = self
            .keys
            .open(&user.totp_secret_enc, user.id.as_bytes())
            .map_err(AppError::Internal)?;
        match totp::verify(&secret, code, self.clock.now(), user.totp_last_step) {
            // The step is claimed atomically: of two requests racing with one code, one wins.
            Some(step) => Ok(self.db.advance_totp_step(&user.id, step).await?),
            None => Ok(false),
        }
    }

    pub(super) async fn use_recovery_code(&self, user: &UserRow, code: &str) -> AppResult<bool> {
        let Some(canonical) = recovery::canonical(code) else {
            return Ok(false);
        };
        let stored = self.db.unused_recovery_codes(&user.id).await?;
        match self.hasher.find_code(&canonical, stored).await? {
            Some(id) => Ok(self.db.use_recovery_code(id, self.clock.now()).await?),
            None => Ok(false),
        }
    }

    /// Re-authentication for a sensitive change: the password and a second factor, each
    /// counted as usual.
    pub async fn reauthenticate(
        &self,
        user: &UserRow,
        password: &str,
        second: &SecondFactor,
        client: &Client,
    ) -> AppResult<()> {
        self.check_password(user, password, client).await?;
        self.check_second_factor(user, second, client).await
    }

    /// Extend a session by its password (7.2-extend-by-prompt): only a correct one does, so a
    /// wrong one leaves the idle deadline where it was. Returns the session as it now stands.
    pub async fn reauth(
        &self,
        user: &UserRow,
        session: &str,
        password: &str,
        client: &Client,
    ) -> AppResult<SessionRow> {
        self.check_password(user, password, client).await?;
        sessions::extend(&self.db, &self.clock, session).await
    }
}
