//! Short-lived authentication state kept in the database so every instance shares it:
//! CAPTCHA challenges, half-finished registrations, per-factor failure counters, and the
//! security log.

use parley_api::{RegistrationStage, SecurityEventKind};
use sqlx::Row;

use super::Db;

#[derive(Debug, Clone)]
pub struct RegistrationRow {
    pub id_hash: String,
    pub username: String,
    pub username_key: String,
    pub password_hash: String,
    pub totp_secret_enc: Vec<u8>,
    pub totp_last_step: i64,
    pub stage: RegistrationStage,
    pub recovery_hashes: Option<String>,
    pub failures: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Default)]
pub struct FailureState {
    pub consecutive: i64,
    pub locked_until: i64,
    pub disabled: bool,
}

/// The factors counted separately for throttling; stored in `factor_failures.factor` by
/// these names (`as_str`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Factor {
    Password,
    Totp,
    Recovery,
}

impl Factor {
    pub const fn as_str(self) -> &'static str {
        match self {
            Factor::Password => "password",
            Factor::Totp => "totp",
            Factor::Recovery => "recovery",
        }
    }

    pub fn parse(s: &str) -> Option<Factor> {
        [Factor::Password, Factor::Totp, Factor::Recovery]
            .into_iter()
            .find(|f| f.as_str() == s)
    }
}

/// Which failure counter: a factor of an account, or the password of a *name* (whether or not
/// an account of that name exists, so unknown names are throttled exactly like real ones).
#[derive(Debug, Clone, Copy)]
pub enum Throttle<'a> {
    Factor { user_id: &'a str, factor: Factor },
    Name(&'a str),
}

/// The outcome of `claim_attempt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Counted as the `consecutive`-th failure until proven right; go ahead and check it.
    Admitted {
        consecutive: i64,
    },
    Delayed {
        retry_after_secs: u64,
    },
    Disabled,
    /// Too much contention to get a decision: refuse (fail closed).
    Busy,
}

pub use parley_api::SecurityEvent;

/// sqlx 0.9 accepts only static SQL strings (no injection by construction), hence a macro.
macro_rules! registration_columns {
    () => {
        "id_hash, username, username_key, password_hash, totp_secret_enc, totp_last_step, \
         stage, recovery_hashes, failures, expires_at"
    };
}

fn registration(r: sqlx::any::AnyRow) -> Result<RegistrationRow, sqlx::Error> {
    read_row!(r, RegistrationRow {
        id_hash, username, username_key, password_hash, totp_secret_enc, totp_last_step,
        recovery_hashes, failures, expires_at,
    } {
        stage: stored_kind(&r, "stage", "registration stage", RegistrationStage::parse)?,
    })
}

impl Db {
    pub async fn insert_captcha(
        &self,
        id: &str,
        answer_hash: &str,
        answer_enc: &[u8],
        expires_at: i64,
    ) -> Result<(), sqlx::Error> {
        execute!(
            &self.pool,
            "INSERT INTO captchas (id, answer_hash, answer_enc, expires_at) VALUES ($1, $2, $3, $4)",
            id,
            answer_hash,
            answer_enc,
            expires_at
        )?;
        Ok(())
    }

    /// Consume a challenge (single use, whether the answer is right or not); returns its
    /// answer hash if it existed and had not expired.
    pub async fn take_captcha(&self, id: &str, now: i64) -> Result<Option<String>, sqlx::Error> {
        let row =
            sqlx::query("DELETE FROM captchas WHERE id = $1 RETURNING answer_hash, expires_at")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            Some(r) if r.try_get::<i64, _>("expires_at")? > now => Some(r.try_get("answer_hash")?),
            _ => None,
        })
    }

    /// The sealed answer of a live (unexpired, unconsumed) challenge, for its audio version.
    pub async fn captcha_answer_enc(
        &self,
        id: &str,
        now: i64,
    ) -> Result<Option<Vec<u8>>, sqlx::Error> {
        fetch_optional!(
            &self.pool,
            |r| r.try_get("answer_enc"),
            "SELECT answer_enc FROM captchas WHERE id = $1 AND expires_at > $2 \
             AND answer_enc IS NOT NULL",
            id,
            now
        )
    }

    /// Whether a challenge can still be answered (not consumed, not expired).
    pub async fn captcha_alive(&self, id: &str, now: i64) -> Result<bool, sqlx::Error> {
        exists!(
            &self.pool,
            "SELECT 1 AS one FROM captchas WHERE id = $1 AND expires_at > $2",
            id,
            now
        )
    }

    pub async fn purge_expired(&self, now: i64) -> Result<(), sqlx::Error> {
        for sql in [
            "DELETE FROM captchas WHERE expires_at <= $1",
            "DELETE FROM registrations WHERE expires_at <= $1",
            "DELETE FROM totp_enrolments WHERE expires_at <= $1",
        ] {
            execute!(&self.pool, sql, now)?;
        }
        Ok(())
    }

    pub async fn insert_registration(&self, r: &RegistrationRow) -> Result<(), sqlx::Error> {
        execute!(
            &self.pool,
            concat!(
                "INSERT INTO registrations (",
                registration_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ),
            &r.id_hash,
            &r.username,
            &r.username_key,
            &r.password_hash,
            &r.totp_secret_enc,
            r.totp_last_step,
            r.stage.as_str(),
            &r.recovery_hashes,
            r.failures,
            r.expires_at,
        )?;
        Ok(())
    }

    pub async fn registration(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<RegistrationRow>, sqlx::Error> {
        fetch_optional!(
            &self.pool,
            registration,
            concat!(
                "SELECT ",
                registration_columns!(),
                " FROM registrations WHERE id_hash = $1 AND expires_at > $2"
            ),
            id_hash,
            now
        )
    }

    pub async fn registration_totp_confirmed(
        &self,
        id_hash: &str,
        step: i64,
        recovery_hashes: &str,
    ) -> Result<bool, sqlx::Error> {
        let changed = execute!(
            &self.pool,
            "UPDATE registrations SET stage = $1, totp_last_step = $2, recovery_hashes = $3 \
             WHERE id_hash = $4 AND stage = $5",
            RegistrationStage::Recovery.as_str(),
            step,
            recovery_hashes,
            id_hash,
            RegistrationStage::Totp.as_str(),
        )?;
        Ok(changed == 1)
    }

    /// Count a code attempt on a registration **before** checking it (issue 9 item 1): `None`
    /// once `max` attempts were made (or the registration is gone, expired or past this step).
    pub async fn registration_attempt(
        &self,
        id_hash: &str,
        now: i64,
        max: i64,
    ) -> Result<Option<i64>, sqlx::Error> {
        fetch_optional!(
            &self.pool,
            |r| r.try_get("failures"),
            "UPDATE registrations SET failures = failures + 1 WHERE id_hash = $1 \
             AND stage = $2 AND failures < $3 AND expires_at > $4 RETURNING failures",
            id_hash,
            RegistrationStage::Totp.as_str(),
            max,
            now
        )
    }

    pub async fn delete_registration(&self, id_hash: &str) -> Result<(), sqlx::Error> {
        execute!(
            &self.pool,
            "DELETE FROM registrations WHERE id_hash = $1",
            id_hash
        )?;
        Ok(())
    }

    /// The throttle state of one counter (no row: nothing counted).
    pub async fn failure_state(&self, key: &Throttle<'_>) -> Result<FailureState, sqlx::Error> {
        Ok(self.failure_row(key).await?.unwrap_or_default())
    }

    async fn failure_row(&self, key: &Throttle<'_>) -> Result<Option<FailureState>, sqlx::Error> {
        let q = match key {
            Throttle::Factor { user_id, factor } => sqlx::query(
                "SELECT consecutive, locked_until, disabled FROM factor_failures \
                 WHERE user_id = $1 AND factor = $2",
            )
            .bind(*user_id)
            .bind(factor.as_str()),
            Throttle::Name(name_key) => sqlx::query(
                "SELECT consecutive, locked_until, disabled FROM password_throttle \
                 WHERE name_key = $1",
            )
            .bind(*name_key),
        };
        q.fetch_optional(&self.pool)
            .await?
            .map(|r| -> Result<FailureState, sqlx::Error> {
                Ok(FailureState {
                    consecutive: r.try_get("consecutive")?,
                    locked_until: r.try_get("locked_until")?,
                    disabled: r.try_get::<i64, _>("disabled")? != 0,
                })
            })
            .transpose()
    }

    /// Count one attempt **before** it is checked (issue 9 item 1): the attempt is presumed
    /// wrong, so the counter, the delay after it and the disabling at `max` are written in the
    /// same step that admits it. A compare-and-swap on the whole row makes this atomic on both
    /// backends and across instances: of concurrent claims on one state, one wins and the
    /// others re-read. Refused while disabled, or while delayed unless `ignore_delay`.
    /// A success afterwards resets the counter (`reset_failures`).
    pub async fn claim_attempt(
        &self,
        key: &Throttle<'_>,
        now: i64,
        ignore_delay: bool,
        delay_after: fn(i64) -> i64,
        max: i64,
    ) -> Result<Claim, sqlx::Error> {
        // Each lost race means another attempt was counted; the loop ends within a few rounds
        // under any realistic contention, and fails closed (busy) past that.
        for _ in 0..64 {
            let row = self.failure_row(key).await?;
            let exists = row.is_some();
            let cur = row.unwrap_or_default();
            if cur.disabled {
                return Ok(Claim::Disabled);
            }
            if cur.locked_until > now && !ignore_delay {
                return Ok(Claim::Delayed {
                    retry_after_secs: (cur.locked_until - now) as u64,
                });
            }
            let n = cur.consecutive + 1;
            let locked_until = match delay_after(n) {
                0 => cur.locked_until.min(now),
                d => now + d,
            };
            let disabled = i64::from(n >= max);
            let won = if exists {
                let q = match key {
                    Throttle::Factor { user_id, factor } => sqlx::query(
                        "UPDATE factor_failures SET consecutive = $1, locked_until = $2, \
                         disabled = $3 WHERE user_id = $4 AND factor = $5 AND consecutive = $6 \
                         AND locked_until = $7 AND disabled = 0",
                    )
                    .bind(n)
                    .bind(locked_until)
                    .bind(disabled)
                    .bind(*user_id)
                    .bind(factor.as_str()),
                    Throttle::Name(name_key) => sqlx::query(
                        "UPDATE password_throttle SET consecutive = $1, locked_until = $2, \
                         disabled = $3 WHERE name_key = $4 AND consecutive = $5 \
                         AND locked_until = $6 AND disabled = 0",
                    )
                    .bind(n)
                    .bind(locked_until)
                    .bind(disabled)
                    .bind(*name_key),
                };
                q.bind(cur.consecutive)
                    .bind(cur.locked_until)
                    .execute(&self.pool)
                    .await?
                    .rows_affected()
                    == 1
            } else {
                let q = match key {
                    Throttle::Factor { user_id, factor } => sqlx::query(
                        "INSERT INTO factor_failures (user_id, factor, consecutive, \
                         locked_until, disabled) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(*user_id)
                    .bind(factor.as_str()),
                    Throttle::Name(name_key) => sqlx::query(
                        "INSERT INTO password_throttle (name_key, consecutive, locked_until, \
                         disabled) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    )
                    .bind(*name_key),
                };
                q.bind(n)
                    .bind(locked_until)
                    .bind(disabled)
                    .execute(&self.pool)
                    .await?
                    .rows_affected()
                    == 1
            };
            if won {
                return Ok(Claim::Admitted { consecutive: n });
            }
        }
        Ok(Claim::Busy)
    }

    pub async fn reset_failures(&self, key: &Throttle<'_>) -> Result<(), sqlx::Error> {
        match key {
            Throttle::Factor { user_id, factor } => execute!(
                &self.pool,
                "DELETE FROM factor_failures WHERE user_id = $1 AND factor = $2",
                *user_id,
                factor.as_str()
            )?,
            Throttle::Name(name_key) => execute!(
                &self.pool,
                "DELETE FROM password_throttle WHERE name_key = $1",
                *name_key
            )?,
        };
        Ok(())
    }

    /// Has this user completed a sign-in from `ip` since `since`? (A "known place", issue 9
    /// item 5: the password delay does not apply there.)
    pub async fn signed_in_from(
        &self,
        user_id: &str,
        ip: &str,
        since: i64,
    ) -> Result<bool, sqlx::Error> {
        exists!(
            &self.pool,
            "SELECT 1 FROM security_events WHERE user_id = $1 AND event = $2 \
             AND ip = $3 AND at > $4 LIMIT 1",
            user_id,
            SecurityEventKind::LoginSucceeded.as_str(),
            ip,
            since
        )
    }

    pub async fn log_event(
        &self,
        user_id: &str,
        at: i64,
        event: SecurityEventKind,
        ip: &str,
        user_agent: &str,
        detail: &str,
    ) -> Result<(), sqlx::Error> {
        execute!(
            &self.pool,
            "INSERT INTO security_events (user_id, at, event, ip, user_agent, detail) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            user_id,
            at,
            event.as_str(),
            ip,
            user_agent,
            detail
        )?;
        Ok(())
    }

    pub async fn security_events(
        &self,
        user_id: &str,
        limit: i64,
    ) -> Result<Vec<SecurityEvent>, sqlx::Error> {
        fetch_all!(
            &self.pool,
            security_event,
            "SELECT at, event, ip, user_agent, detail FROM security_events WHERE user_id = $1 \
             ORDER BY id DESC LIMIT $2",
            user_id,
            limit
        )
    }
}

fn security_event(r: sqlx::any::AnyRow) -> Result<SecurityEvent, sqlx::Error> {
    read_row!(r, SecurityEvent { at, ip, user_agent, detail } {
        event: stored_kind(&r, "event", "security event", SecurityEventKind::parse)?,
    })
}

/// A value stored by its name (`as_str`) in `column`, read back: a name this server never
/// writes is a decoding error, not a silent default.
pub(crate) fn stored_kind<T>(
    r: &sqlx::any::AnyRow,
    column: &str,
    what: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, sqlx::Error> {
    let name: String = r.try_get(column)?;
    parse(&name).ok_or_else(|| sqlx::Error::Decode(format!("unknown {what} {name:?}").into()))
}
