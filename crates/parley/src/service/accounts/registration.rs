//! Registration (A1, A5, A8) in three steps: password and CAPTCHA, then the first TOTP code,
//! then the confirmation that the recovery codes are saved; the account exists only after the
//! last, with all three authenticators at once.

use super::credentials::username_skeleton;
use super::{Accounts, Client};
use crate::core::{AppError, AppResult};
use crate::db::auth_state::RegistrationRow;
use crate::db::users::UserRow;
use crate::service::crypto::{random_id, random_token, token_hash};
use crate::service::rate_limit::Action;
use crate::service::sessions::{self, NewSession, Stage};
use crate::service::totp;
use parley_api::{RegistrationStage, SecurityEventKind};

use parley_api::limits::{REGISTRATION_MAX_ATTEMPTS, REGISTRATION_SECS};

impl Accounts {
    /// Step 1: validate everything, hash the password, make the TOTP secret. Nothing usable
    /// exists yet; the returned token goes into the registration cookie of this browser only.
    #[allow(clippy::too_many_arguments)]
    pub async fn register_start(
        &self,
        username: &str,
        password: &str,
        confirm: &str,
        captcha_id: Option<&str>,
        captcha_answer: Option<&str>,
        client: &Client,
    ) -> AppResult<(String, totp::Provisioning, i64, String)> {
        self.limit(Action::Register, client)?;
        // Fields judged without the CAPTCHA first: their errors leave it unconsumed.
        let (username, key) = Self::validate_username(username)?;
        let skeleton = Self::check_new_username(&username)?;
        let normalized = self
            .check_new_password(password, confirm, &username)
            .await?;
        self.check_captcha(captcha_id, captcha_answer).await?;
        if self.db.username_exists(&key).await? {
            return Err(AppError::UsernameTaken);
        }
        if self.db.skeleton_exists(&skeleton).await? {
            return Err(AppError::UsernameConfusable);
        }
        let password_hash = self.hasher.hash(&normalized).await?;
        let secret = totp::new_secret();
        let token = random_token();
        let id_hash = token_hash(&token);
        let expires_at = self.clock.now() + REGISTRATION_SECS;
        self.db
            .insert_registration(&RegistrationRow {
                id_hash: id_hash.clone(),
                username: username.clone(),
                username_key: key,
                password_hash,
                totp_secret_enc: self.keys.seal(&secret, id_hash.as_bytes()),
                totp_last_step: 0,
                stage: RegistrationStage::Totp,
                recovery_hashes: None,
                failures: 0,
                expires_at,
            })
            .await?;
        Ok((
            token,
            totp::provisioning(&secret, &username),
            expires_at,
            username,
        ))
    }

    pub async fn registration(&self, token: Option<&str>) -> AppResult<RegistrationRow> {
        let token = token.ok_or(AppError::RegistrationExpired)?;
        self.db
            .registration(&token_hash(token), self.clock.now())
            .await?
            .ok_or(AppError::RegistrationExpired)
    }

    /// Step 2: the user proves the authenticator works; the recovery codes are made and shown.
    pub async fn register_totp(&self, token: Option<&str>, code: &str) -> AppResult<Vec<String>> {
        let reg = self.registration(token).await?;
        if reg.stage != RegistrationStage::Totp {
            return Err(AppError::RegistrationExpired);
        }
        let secret = self
            .keys
            .open(&reg.totp_secret_enc, reg.id_hash.as_bytes())
            .map_err(AppError::Internal)?;
        // Counted before it is checked (issue 9 item 1): a burst cannot try more than the limit.
        // Past the limit the registration is unusable (and purged when it expires).
        if self
            .db
            .registration_attempt(&reg.id_hash, self.clock.now(), REGISTRATION_MAX_ATTEMPTS)
            .await?
            .is_none()
        {
            return Err(AppError::RegistrationExpired);
        }
        let Some(step) = totp::verify(&secret, code, self.clock.now(), reg.totp_last_step) else {
            return Err(AppError::InvalidCode);
        };
        let (codes, hashes) = self.new_recovery_codes().await?;
        let json = serde_json::to_string(&hashes).map_err(|e| AppError::Internal(e.into()))?;
        if !self
            .db
            .registration_totp_confirmed(&reg.id_hash, step, &json)
            .await?
        {
            return Err(AppError::RegistrationExpired);
        }
        Ok(codes)
    }

    /// Step 3: the user has saved the codes; the account is created with all three
    /// authenticators at once and a full session starts.
    pub async fn register_finish(
        &self,
        token: Option<&str>,
        client: &Client,
    ) -> AppResult<(UserRow, NewSession)> {
        let reg = self.registration(token).await?;
        let Some(recovery_json) = reg
            .recovery_hashes
            .as_deref()
            .filter(|_| reg.stage == RegistrationStage::Recovery)
        else {
            return Err(AppError::RegistrationExpired);
        };
        let hashes: Vec<String> =
            serde_json::from_str(recovery_json).map_err(|e| AppError::Internal(e.into()))?;
        let secret = self
            .keys
            .open(&reg.totp_secret_enc, reg.id_hash.as_bytes())
            .map_err(AppError::Internal)?;
        let user_id = random_id();
        let now = self.clock.now();
        let created = self
            .db
            .create_user(
                &user_id,
                &reg.username,
                &reg.username_key,
                &username_skeleton(&reg.username),
                &reg.password_hash,
                &self.keys.seal(&secret, user_id.as_bytes()),
                reg.totp_last_step,
                &hashes,
                now,
                &client.ip_str(),
                &client.user_agent,
            )
            .await?;
        self.db.delete_registration(&reg.id_hash).await?;
        if !created {
            return Err(AppError::UsernameTaken);
        }
        self.event(&user_id, SecurityEventKind::Registered, client, "")
            .await?;
        let session = sessions::create(
            &self.db,
            &self.clock,
            &user_id,
            Stage::Full,
            &client.ip_str(),
            &client.user_agent,
        )
        .await?;
        let user = self
            .db
            .user_by_id(&user_id)
            .await?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("user vanished")))?;
        Ok((user, session))
    }
}
