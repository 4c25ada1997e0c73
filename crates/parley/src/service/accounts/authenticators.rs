//! Managing authenticators after re-authentication: a new password, a new TOTP secret, a new
//! set of recovery codes (each ends the other sessions, issue 9 item 3); the security log and
//! the list of authenticators.

use super::{Accounts, Client, Factor, SecondFactor};
use crate::core::{AppError, AppResult};
use crate::db::auth_state::Throttle;
use crate::db::users::{Replacement, UserRow};
use crate::service::{recovery, totp};
use parley_api::limits::SECURITY_LOG_MAX;
use parley_api::{Authenticator, AuthenticatorStatus, SecurityEvent, SecurityEventKind};

use parley_api::limits::{ENROLMENT_MAX_ATTEMPTS, REGISTRATION_SECS};

impl Accounts {
    /// Change the password; every other session of the user ends (issue 9 item 3). Returns
    /// the ended sessions' hashes so the caller can close their WebSockets.
    pub async fn change_password(
        &self,
        user: &UserRow,
        current: &str,
        new: &str,
        confirm: &str,
        client: &Client,
        keep_session: &str,
    ) -> AppResult<Vec<String>> {
        self.check_password(user, current, client).await?;
        let normalized = self
            .check_new_password(new, confirm, &user.username)
            .await?;
        let hash = self.hasher.hash(&normalized).await?;
        let r = self.replacement(user, client, keep_session);
        let ended = self.db.replace_password(&r, &hash).await?;
        self.replaced(
            user,
            client,
            SecurityEventKind::PasswordChanged,
            None,
            &ended,
        )
        .await?;
        Ok(ended)
    }

    /// Re-enrolment, step 1: a new secret, kept aside until confirmed; the old one still works.
    /// After re-authentication (password and a second factor).
    pub async fn totp_start(
        &self,
        user: &UserRow,
        password: &str,
        second: &SecondFactor,
        client: &Client,
    ) -> AppResult<totp::Provisioning> {
        self.reauthenticate(user, password, second, client).await?;
        let secret = totp::new_secret();
        let sealed = self
            .keys
            .seal(&secret, format!("enrol:{}", user.id).as_bytes());
        self.db
            .save_totp_enrolment(&user.id, &sealed, self.clock.now() + REGISTRATION_SECS)
            .await?;
        Ok(totp::provisioning(&secret, &user.username))
    }

    /// Re-enrolment, step 2: a valid code from the new authenticator replaces the old one and
    /// every other session ends (issue 9 item 3; their hashes are returned). At most
    /// `ENROLMENT_MAX_ATTEMPTS` codes are tried per enrolment, counted before checking.
    pub async fn totp_confirm(
        &self,
        user: &UserRow,
        code: &str,
        client: &Client,
        keep_session: &str,
    ) -> AppResult<Vec<String>> {
        let sealed = self
            .db
            .totp_enrolment_attempt(&user.id, self.clock.now(), ENROLMENT_MAX_ATTEMPTS)
            .await?
            .ok_or_else(|| {
                AppError::validation(
                    "code",
                    "start the replacement again; it expired or too many codes were wrong",
                )
            })?;
        let secret = self
            .keys
            .open(&sealed, format!("enrol:{}", user.id).as_bytes())
            .map_err(AppError::Internal)?;
        let Some(step) = totp::verify(&secret, code, self.clock.now(), 0) else {
            self.event(&user.id, SecurityEventKind::TotpConfirmFailed, client, "")
                .await?;
            return Err(AppError::InvalidCode);
        };
        let secret_enc = self.keys.seal(&secret, user.id.as_bytes());
        let r = self.replacement(user, client, keep_session);
        let ended = self
            .db
            .replace_totp(&r, &sealed, &secret_enc, step)
            .await?
            .ok_or(AppError::InvalidCode)?;
        let kind = SecurityEventKind::TotpReenrolled;
        self.replaced(user, client, kind, Some(Factor::Totp), &ended)
            .await?;
        Ok(ended)
    }

    /// A new set of recovery codes; every other session ends (issue 9 item 3). Returns the
    /// codes and the ended sessions' hashes.
    /// After re-authentication (password and a second factor).
    pub async fn regenerate_recovery_codes(
        &self,
        user: &UserRow,
        (password, second): (&str, &SecondFactor),
        client: &Client,
        keep_session: &str,
    ) -> AppResult<(Vec<String>, Vec<String>)> {
        self.reauthenticate(user, password, second, client).await?;
        let (codes, hashes) = self.new_recovery_codes().await?;
        let r = self.replacement(user, client, keep_session);
        let ended = self.db.replace_recovery_codes(&r, &hashes).await?;
        let kind = SecurityEventKind::RecoveryCodesRegenerated;
        self.replaced(user, client, kind, Some(Factor::Recovery), &ended)
            .await?;
        Ok((codes, ended))
    }

    pub async fn recovery_codes_remaining(&self, user_id: &str) -> AppResult<usize> {
        Ok(self.db.unused_recovery_codes(user_id).await?.len())
    }

    /// The user's security events, newest first (at most `SECURITY_LOG_MAX`).
    pub async fn security_log(&self, user_id: &str) -> AppResult<Vec<SecurityEvent>> {
        Ok(self.db.security_events(user_id, SECURITY_LOG_MAX).await?)
    }

    /// The user's authenticators, current and replaced.
    pub async fn authenticators(&self, user_id: &str) -> AppResult<Vec<Authenticator>> {
        Ok(self
            .db
            .authenticators(user_id)
            .await?
            .into_iter()
            .map(|(kind, created_at, revoked_at)| Authenticator {
                kind,
                created_at,
                revoked_at,
                status: if revoked_at.is_some() {
                    AuthenticatorStatus::Replaced
                } else {
                    AuthenticatorStatus::Active
                },
            })
            .collect())
    }
}

/// The security log's detail for a change that ended other sessions.
fn other_sessions(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => "1 other session signed out".into(),
        n => format!("{n} other sessions signed out"),
    }
}

impl Accounts {
    /// The replacement of one of `user`'s authenticators, made now by `client` from the
    /// session `keep_session` (which stays; every other one ends).
    fn replacement<'a>(
        &self,
        user: &'a UserRow,
        client: &'a Client,
        keep_session: &'a str,
    ) -> Replacement<'a> {
        Replacement {
            user_id: &user.id,
            keep_session,
            now: self.clock.now(),
            ip: client.ip_str(),
            user_agent: &client.user_agent,
        }
    }

    /// After a replacement: the failures of the new `factor` (if a second factor) start from
    /// zero, and the security log records `kind` with the number of sessions `ended`.
    async fn replaced(
        &self,
        user: &UserRow,
        client: &Client,
        kind: SecurityEventKind,
        factor: Option<Factor>,
        ended: &[String],
    ) -> AppResult<()> {
        if let Some(factor) = factor {
            self.db
                .reset_failures(&Throttle::Factor {
                    user_id: &user.id,
                    factor,
                })
                .await?;
        }
        self.event(&user.id, kind, client, &other_sessions(ended.len()))
            .await
    }

    /// A new set of recovery codes, to show once, and their hashes, to store.
    pub(super) async fn new_recovery_codes(&self) -> AppResult<(Vec<String>, Vec<String>)> {
        let codes = recovery::generate();
        let mut hashes = Vec::with_capacity(codes.len());
        for c in &codes {
            let canonical = recovery::canonical(c).ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!("generated recovery code is not canonical"))
            })?;
            hashes.push(self.hasher.hash_code(&canonical).await?);
        }
        Ok((codes, hashes))
    }
}
