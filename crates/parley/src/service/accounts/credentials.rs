//! Usernames and new passwords: the username rules (NFKC, length, scripts, confusables) and the
//! password policy plus the breach check (A3), for registration, password change and the
//! strength meter.

use unicode_normalization::UnicodeNormalization;

use super::{Accounts, Client, USERNAME_MAX, USERNAME_MIN};
use crate::core::{AppError, AppResult};
use crate::service::breach::BreachResult;
use crate::service::password_policy::{self, Context, Rejection, code};
use crate::service::rate_limit::Action;
use parley_api::PasswordFeedback;

impl Accounts {
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

    pub(super) fn context<'a>(&'a self, username: &'a str) -> Context<'a> {
        Context {
            username,
            domain: &self.config.domain,
        }
    }

    /// Every reason `password` is not acceptable, including the breach corpus (A3).
    pub(super) async fn password_rejections(
        &self,
        password: &str,
        username: &str,
    ) -> Vec<Rejection> {
        let mut reasons = password_policy::local_rejections(password, &self.context(username));
        let too_short_or_long = reasons
            .iter()
            .any(|r| r.code == code::TOO_SHORT || r.code == code::TOO_LONG);
        if !too_short_or_long && self.breach.enabled() {
            match self.breach.check(password).await {
                BreachResult::Found { count } => reasons.push(Rejection::breached(count)),
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
            reasons.push(Rejection::mismatch());
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
}

/// The confusable skeleton (UTS #39) of a name, case-insensitive: two names with the same
/// skeleton look alike (`аlice` with a Cyrillic а, `a1ice`, `ALICE` all give `alice`'s).
pub fn username_skeleton(name: &str) -> String {
    use unicode_security::confusable_detection::skeleton;
    let lower: String = skeleton(&name.to_lowercase()).collect();
    skeleton(&lower.to_lowercase()).collect()
}
