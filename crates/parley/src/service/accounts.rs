//! Accounts and authentication (A1–A8): registration that binds password + TOTP + recovery
//! codes in one flow, two-step sign-in, throttling per account and factor, and the management
//! of authenticators after re-authentication.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use unicode_normalization::UnicodeNormalization;

use super::breach::{BreachChecker, BreachResult};
use super::crypto::{ServerKeys, random_id, random_token, token_hash};
use super::password_policy::{self, Context};
use super::passwords::{Hasher, Verified};
use super::rate_limit::{self, Action, IpLimiter, MAX_FAILURES};
use super::sessions::{self, NewSession, Stage};
use super::{captcha, recovery, totp};
use crate::core::config::LoginCaptcha;
use crate::core::error::Rejection;
use crate::core::{AppError, AppResult, Clock, Config};
use crate::db::Db;
use crate::db::auth_state::{Claim, RegistrationRow, Throttle};
use crate::db::sessions::SessionRow;
use crate::db::users::UserRow;

/// A half-finished registration lives this long (A5: ≤ 15 minutes).
pub const REGISTRATION_SECS: i64 = 15 * 60;
/// Codes tried during one registration before it must start again (counted before checking).
pub const REGISTRATION_MAX_ATTEMPTS: i64 = 10;
/// Codes tried to confirm one TOTP re-enrolment before it must start again.
pub const ENROLMENT_MAX_ATTEMPTS: i64 = 5;
/// A sign-in completed from an address makes it a "known place" for this long (issue 9 item 5).
pub const KNOWN_PLACE_SECS: i64 = 30 * 86_400;
use parley_api::limits::SECURITY_LOG_MAX;
pub use parley_api::limits::{USERNAME_MAX, USERNAME_MIN};
use parley_api::{Authenticator, AuthenticatorStatus, SecurityEvent};

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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Factor {
    Password,
    Totp,
    Recovery,
}

impl Factor {
    pub fn as_str(self) -> &'static str {
        match self {
            Factor::Password => "password",
            Factor::Totp => "totp",
            Factor::Recovery => "recovery",
        }
    }
    pub fn parse(s: &str) -> Option<Factor> {
        match s {
            "password" => Some(Factor::Password),
            "totp" => Some(Factor::Totp),
            "recovery" => Some(Factor::Recovery),
            _ => None,
        }
    }
}

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

/// Associated data binding a sealed CAPTCHA answer to its challenge.
fn captcha_aad(id: &str) -> String {
    format!("parley captcha {id}")
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

    // ---- CAPTCHA -------------------------------------------------------------------------

    pub async fn new_captcha(&self, client: &Client) -> AppResult<(String, String)> {
        self.limit(Action::Captcha, client)?;
        let fixed = self.config.test_captcha_answer.as_deref();
        let c = tokio::task::spawn_blocking({
            let fixed = fixed.map(str::to_owned);
            move || captcha::new_challenge(fixed.as_deref())
        })
        .await
        .map_err(|e| AppError::Internal(e.into()))??;
        let now = self.clock.now();
        let sealed = self
            .keys
            .seal(c.answer.as_bytes(), captcha_aad(&c.id).as_bytes());
        self.db
            .insert_captcha(&c.id, &c.answer_hash, &sealed, now + captcha::TTL_SECS)
            .await?;
        Ok((c.id, c.png_data_uri))
    }

    /// The same challenge, spoken (WCAG 1.1.1): a WAV made on demand from the sealed answer.
    /// Listening does not consume the challenge; an unknown, expired or consumed one is 404.
    pub async fn captcha_audio(&self, id: &str, client: &Client) -> AppResult<Vec<u8>> {
        self.limit(Action::Captcha, client)?;
        let sealed = self
            .db
            .captcha_answer_enc(id, self.clock.now())
            .await?
            .ok_or(AppError::NotFound)?;
        let answer = self
            .keys
            .open(&sealed, captcha_aad(id).as_bytes())
            .map_err(AppError::Internal)?;
        let answer = String::from_utf8(answer).map_err(|e| AppError::Internal(e.into()))?;
        tokio::task::spawn_blocking(move || captcha::render_wav(&answer))
            .await
            .map_err(|e| AppError::Internal(e.into()))?
            .map_err(AppError::Internal)
    }

    /// Whether a challenge sent with a refused request can still be answered: true when the
    /// request was refused before the challenge was checked (the client keeps the typed
    /// answer and the image then).
    pub async fn captcha_kept(&self, id: Option<&str>) -> bool {
        match id {
            Some(id) => self
                .db
                .captcha_alive(id, self.clock.now())
                .await
                .unwrap_or(false),
            None => false,
        }
    }

    /// Consume the challenge; right answer or not, it cannot be tried again. Callers check it
    /// only once every field that can be judged without it has passed (issue 14 item 1): a
    /// request refused for a weak password or a malformed username leaves the challenge
    /// untouched, so the person keeps their answer; the first request that checks it
    /// consumes it, so a solved challenge buys exactly one attempt at what it protects (one
    /// password guess, one username-availability answer).
    pub async fn check_captcha(&self, id: Option<&str>, answer: Option<&str>) -> AppResult<()> {
        let (Some(id), Some(answer)) = (id, answer) else {
            return Err(AppError::CaptchaFailed);
        };
        let stored = self.db.take_captcha(id, self.clock.now()).await?;
        match stored {
            Some(hash) if super::crypto::ct_eq(&hash, &captcha::answer_hash(answer)) => Ok(()),
            _ => Err(AppError::CaptchaFailed),
        }
    }

    // ---- usernames and passwords ----------------------------------------------------------

    /// NFKC, 3–32 characters of letters or digits (any script), `_`, `-`, `.`; the lookup key
    /// is the lower-cased form, so names differing only in case collide.
    pub fn validate_username(raw: &str) -> AppResult<(String, String)> {
        let name: String = raw.nfkc().collect();
        let name = name.trim().to_owned();
        let n = name.chars().count();
        if !(USERNAME_MIN..=USERNAME_MAX).contains(&n) {
            return Err(AppError::validation(
                "username",
                format!("a username has {USERNAME_MIN} to {USERNAME_MAX} characters"),
            ));
        }
        if !name
            .chars()
            .all(|c| c.is_alphanumeric() || "_-.".contains(c))
        {
            return Err(AppError::validation(
                "username",
                "a username may contain letters, digits, '_', '-' and '.' only",
            ));
        }
        let key = name.to_lowercase();
        Ok((name, key))
    }

    /// The extra rules for a *new* name (issue 9 item 4, Unicode TS #39): no mixing of scripts
    /// beyond the "highly restrictive" combinations (one script, or Latin with Han and
    /// Japanese kana, Han with Bopomofo, or Han with Hangul; digits and `_-.` go with any), and
    /// every character allowed in identifiers. Returns the name's confusable skeleton.
    pub fn check_new_username(name: &str) -> AppResult<String> {
        use unicode_security::{RestrictionLevel, RestrictionLevelDetection};
        let level = name.detect_restriction_level();
        if level > RestrictionLevel::HighlyRestrictive {
            return Err(AppError::validation(
                "username",
                "a username may not mix writing systems (for example Latin and Cyrillic \
                 letters), since such names can imitate other people's",
            ));
        }
        Ok(username_skeleton(name))
    }

    /// Give accounts made before skeletons were stored their skeleton (at start-up). Two old
    /// names that look alike keep working; the second simply has none stored.
    pub async fn backfill_username_skeletons(&self) -> AppResult<()> {
        for (id, username) in self.db.users_without_skeleton().await? {
            if !self
                .db
                .set_skeleton(&id, &username_skeleton(&username))
                .await?
            {
                tracing::warn!("an older username is confusable with another; left as it is");
            }
        }
        Ok(())
    }

    fn context<'a>(&'a self, username: &'a str) -> Context<'a> {
        Context {
            username,
            domain: &self.config.domain,
        }
    }

    /// Every reason `password` is not acceptable, including the breach corpus (A3).
    async fn password_rejections(&self, password: &str, username: &str) -> Vec<Rejection> {
        let mut reasons: Vec<Rejection> =
            password_policy::local_rejections(password, &self.context(username))
                .into_iter()
                .map(|r| Rejection {
                    code: r.code,
                    message: r.message,
                })
                .collect();
        let too_short_or_long = reasons
            .iter()
            .any(|r| r.code == "too_short" || r.code == "too_long");
        if !too_short_or_long && self.breach.enabled() {
            match self.breach.check(password).await {
                BreachResult::Found { count } => reasons.push(Rejection {
                    code: "breached",
                    message: format!(
                        "This password has appeared in {count} known data breaches, so attackers \
                         try it first. Please choose a different one."
                    ),
                }),
                BreachResult::NotFound => {}
                BreachResult::Unavailable(why) => {
                    tracing::warn!(reason = %why, "breached-password API unavailable; \
                        relying on the offline list");
                }
            }
        }
        reasons.dedup_by(|a, b| a.code == b.code);
        reasons
    }

    /// Check a new password (and its confirmation); returns it normalized for hashing.
    pub async fn check_new_password(
        &self,
        password: &str,
        confirm: &str,
        username: &str,
    ) -> AppResult<String> {
        let normalized = password_policy::normalize(password);
        let mut reasons = self.password_rejections(&normalized, username).await;
        if password_policy::normalize(confirm) != normalized {
            reasons.push(Rejection {
                code: "mismatch",
                message: "The two passwords do not match.".into(),
            });
        }
        if reasons.is_empty() {
            Ok(normalized)
        } else {
            Err(AppError::PasswordRejected(reasons))
        }
    }

    pub async fn password_feedback(
        &self,
        password: &str,
        username: &str,
        client: &Client,
    ) -> AppResult<PasswordFeedback> {
        self.limit(Action::PasswordCheck, client)?;
        let normalized = password_policy::normalize(password);
        let reasons = self.password_rejections(&normalized, username).await;
        let s = password_policy::strength(&normalized, &self.context(username));
        Ok(PasswordFeedback {
            acceptable: reasons.is_empty(),
            reasons: reasons.iter().map(Into::into).collect(),
            score: s.score,
            warning: s.warning,
            suggestions: s.suggestions,
            length: normalized.chars().count(),
        })
    }

    // ---- registration (A1, A5, A8) --------------------------------------------------------

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
                stage: "totp".into(),
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
        if reg.stage != "totp" {
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
        let codes = recovery::generate();
        let mut hashes = Vec::with_capacity(codes.len());
        for c in &codes {
            let canonical = recovery::canonical(c).ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!("generated recovery code is not canonical"))
            })?;
            hashes.push(self.hasher.hash_code(&canonical).await?);
        }
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
            .filter(|_| reg.stage == "recovery")
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
        self.event(&user_id, "registered", client, "").await?;
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

    // ---- sign-in ------------------------------------------------------------------------

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
        self.event(&user.id, "login_password_ok", client, "")
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

    /// Check one possession factor under its throttle: refused while locked or disabled; a
    /// failure is counted, a success resets the count (and unlocks the other factor). The one
    /// path for sign-in and for sensitive changes alike.
    async fn possession_factor(
        &self,
        user: &UserRow,
        factor: Factor,
        code: &str,
        client: &Client,
    ) -> AppResult<()> {
        let key = Throttle::Factor {
            user_id: &user.id,
            factor: factor.as_str(),
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
            self.event(&user.id, "recovery_code_used", client, "")
                .await?;
        }
        self.succeeded(&user.id, factor, client).await
    }

    async fn finish_login(
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
        self.event(&user.id, "login_succeeded", client, &format!("with {how}"))
            .await?;
        Ok((user, session))
    }

    async fn verify_totp(&self, user: &UserRow, code: &str) -> AppResult<bool> {
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

    async fn use_recovery_code(&self, user: &UserRow, code: &str) -> AppResult<bool> {
        let Some(canonical) = recovery::canonical(code) else {
            return Ok(false);
        };
        let stored = self.db.unused_recovery_codes(&user.id).await?;
        match self.hasher.find_code(&canonical, stored).await? {
            Some(id) => Ok(self.db.use_recovery_code(id, self.clock.now()).await?),
            None => Ok(false),
        }
    }

    pub async fn recovery_codes_remaining(&self, user_id: &str) -> AppResult<usize> {
        Ok(self.db.unused_recovery_codes(user_id).await?.len())
    }

    // ---- throttling per account and factor (§5.2.2) --------------------------------------

    /// Count an attempt before it is checked (issue 9 item 1; `Db::claim_attempt`): refused
    /// while the factor is disabled (403) or delayed (429, unless `ignore_delay`).
    async fn claim(&self, key: &Throttle<'_>, factor: Factor, ignore_delay: bool) -> AppResult<()> {
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
    async fn known_place(&self, user_id: &str, client: &Client) -> AppResult<bool> {
        let since = self.clock.now() - KNOWN_PLACE_SECS;
        Ok(self
            .db
            .signed_in_from(user_id, &client.ip_str(), since)
            .await?)
    }

    /// The failure was already counted by `claim`; record it in the user's security log.
    async fn failed(&self, user_id: &str, factor: Factor, client: &Client) -> AppResult<()> {
        let key_name;
        let key = match factor {
            Factor::Password => {
                let user = self.user(user_id).await?;
                key_name = user.username.to_lowercase();
                Throttle::Name(&key_name)
            }
            _ => Throttle::Factor {
                user_id,
                factor: factor.as_str(),
            },
        };
        let state = self.db.failure_state(&key).await?;
        let n = state.consecutive;
        let event = match factor {
            Factor::Password => "login_password_failed",
            Factor::Totp => "login_totp_failed",
            Factor::Recovery => "login_recovery_failed",
        };
        self.event(user_id, event, client, &format!("{n} in a row"))
            .await?;
        if state.disabled {
            self.event(user_id, "factor_locked", client, factor.as_str())
                .await?;
        }
        Ok(())
    }

    /// A success resets that factor's count; the possession factors also unlock each other
    /// ("unlock with another factor").
    async fn succeeded(&self, user_id: &str, factor: Factor, client: &Client) -> AppResult<()> {
        self.db
            .reset_failures(&Throttle::Factor {
                user_id,
                factor: factor.as_str(),
            })
            .await?;
        let other = match factor {
            Factor::Totp => Some(Factor::Recovery),
            Factor::Recovery => Some(Factor::Totp),
            Factor::Password => None,
        };
        if let Some(other) = other {
            let key = Throttle::Factor {
                user_id,
                factor: other.as_str(),
            };
            if self.db.failure_state(&key).await?.disabled {
                self.db.reset_failures(&key).await?;
                self.event(user_id, "factor_unlocked", client, other.as_str())
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
                            factor: f.as_str(),
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
                "factor_unlocked",
                "",
                "parley admin",
                &names.join(","),
            )
            .await?;
        Ok(user.username)
    }

    // ---- session-bound operations ------------------------------------------------------

    pub async fn user(&self, id: &str) -> AppResult<UserRow> {
        self.db.user_by_id(id).await?.ok_or(AppError::Unauthorized)
    }

    pub async fn event(
        &self,
        user_id: &str,
        event: &str,
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
    async fn verify_password(
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
        let ended = self
            .db
            .replace_password(
                &user.id,
                &hash,
                keep_session,
                self.clock.now(),
                &client.ip_str(),
                &client.user_agent,
            )
            .await?;
        self.event(
            &user.id,
            "password_changed",
            client,
            &other_sessions(ended.len()),
        )
        .await?;
        Ok(ended)
    }

    /// Re-enrolment, step 1: a new secret, kept aside until confirmed; the old one still works.
    pub async fn totp_start(&self, user: &UserRow) -> AppResult<totp::Provisioning> {
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
            self.event(&user.id, "totp_confirm_failed", client, "")
                .await?;
            return Err(AppError::InvalidCode);
        };
        let ended = self
            .db
            .replace_totp(
                &user.id,
                &sealed,
                &self.keys.seal(&secret, user.id.as_bytes()),
                step,
                keep_session,
                self.clock.now(),
                &client.ip_str(),
                &client.user_agent,
            )
            .await?
            .ok_or(AppError::InvalidCode)?;
        self.db
            .reset_failures(&Throttle::Factor {
                user_id: &user.id,
                factor: "totp",
            })
            .await?;
        self.event(
            &user.id,
            "totp_reenrolled",
            client,
            &other_sessions(ended.len()),
        )
        .await?;
        Ok(ended)
    }

    /// A new set of recovery codes; every other session ends (issue 9 item 3). Returns the
    /// codes and the ended sessions' hashes.
    pub async fn regenerate_recovery_codes(
        &self,
        user: &UserRow,
        client: &Client,
        keep_session: &str,
    ) -> AppResult<(Vec<String>, Vec<String>)> {
        let codes = recovery::generate();
        let mut hashes = Vec::with_capacity(codes.len());
        for c in &codes {
            let canonical = recovery::canonical(c)
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("non-canonical code")))?;
            hashes.push(self.hasher.hash_code(&canonical).await?);
        }
        let ended = self
            .db
            .replace_recovery_codes(
                &user.id,
                &hashes,
                keep_session,
                self.clock.now(),
                &client.ip_str(),
                &client.user_agent,
            )
            .await?;
        self.db
            .reset_failures(&Throttle::Factor {
                user_id: &user.id,
                factor: "recovery",
            })
            .await?;
        self.event(
            &user.id,
            "recovery_codes_regenerated",
            client,
            &other_sessions(ended.len()),
        )
        .await?;
        Ok((codes, ended))
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

    /// The database answers (`GET /api/health`).
    pub async fn database_reachable(&self) -> AppResult<()> {
        Ok(self.db.ping().await?)
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

    /// Delete the account after re-authentication: every session ends, the user is replaced
    /// by a tombstone (its name stays taken). Returns the ended sessions' hashes and the
    /// contacts to tell, so the caller can close WebSockets and notify.
    pub async fn delete_account(
        &self,
        user: &UserRow,
        password: &str,
        second: &SecondFactor,
        client: &Client,
    ) -> AppResult<Deleted> {
        self.reauthenticate(user, password, second, client).await?;
        let sessions = self.db.delete_sessions_of(&user.id).await?;
        let contacts = self.db.contacts_of(&user.id).await?;
        self.db.tombstone_user(&user.id, self.clock.now()).await?;
        tracing::info!("an account was deleted");
        Ok(Deleted { sessions, contacts })
    }
}

/// What an account deletion leaves to announce.
pub struct Deleted {
    /// The ended sessions' hashes (their WebSockets must close).
    pub sessions: Vec<String>,
    /// The users who had a conversation with the deleted account.
    pub contacts: Vec<String>,
}

/// The confusable skeleton (UTS #39) of a name, case-insensitive: two names with the same
/// skeleton look alike (`аlice` with a Cyrillic а, `a1ice`, `ALICE` all give `alice`'s).
pub fn username_skeleton(name: &str) -> String {
    use unicode_security::confusable_detection::skeleton;
    let lower: String = skeleton(&name.to_lowercase()).collect();
    skeleton(&lower.to_lowercase()).collect()
}

/// The security log's detail for a change that ended other sessions.
fn other_sessions(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => "1 other session signed out".into(),
        n => format!("{n} other sessions signed out"),
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
