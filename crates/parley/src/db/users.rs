//! Users and their authenticators: queries only, no rules.

use sqlx::Row;

use super::Db;

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub totp_secret_enc: Vec<u8>,
    pub totp_last_step: i64,
    pub must_change_password: bool,
    pub created_at: i64,
}

/// A user's authenticator replaced from a session: that session is kept and every other one
/// ends; the replacement is recorded as made at `now` from `ip` with `user_agent`.
pub struct Replacement<'a> {
    pub user_id: &'a str,
    pub keep_session: &'a str,
    pub now: i64,
    pub ip: String,
    pub user_agent: &'a str,
}

/// sqlx 0.9 accepts only static SQL strings (no injection by construction), hence a macro.
macro_rules! user_columns {
    () => {
        "id, username, password_hash, totp_secret_enc, totp_last_step, must_change_password, created_at"
    };
}

fn user(row: sqlx::any::AnyRow) -> Result<UserRow, sqlx::Error> {
    read_row!(row, UserRow {
        id, username, password_hash, totp_secret_enc, totp_last_step, created_at,
    } {
        must_change_password: row.try_get::<i64, _>("must_change_password")? != 0,
    })
}

impl Db {
    pub async fn user_by_key(&self, username_key: &str) -> Result<Option<UserRow>, sqlx::Error> {
        fetch_optional!(
            &self.pool,
            user,
            concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE username_key = $1"
            ),
            username_key
        )
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRow>, sqlx::Error> {
        fetch_optional!(
            &self.pool,
            user,
            concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1"),
            id
        )
    }

    pub async fn username_exists(&self, username_key: &str) -> Result<bool, sqlx::Error> {
        exists!(
            &self.pool,
            "SELECT 1 FROM users WHERE username_key = $1",
            username_key
        )
    }

    /// Create the account with all its authenticators in one transaction (A5).
    /// `Ok(false)` when the username was taken meanwhile.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_user(
        &self,
        id: &str,
        username: &str,
        username_key: &str,
        username_skeleton: &str,
        password_hash: &str,
        totp_secret_enc: &[u8],
        totp_last_step: i64,
        recovery_hashes: &[String],
        now: i64,
        ip: &str,
        user_agent: &str,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO users (id, username, username_key, password_hash, totp_secret_enc, \
             totp_last_step, created_at, username_skeleton) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(username)
        .bind(username_key)
        .bind(password_hash)
        .bind(totp_secret_enc)
        .bind(totp_last_step)
        .bind(now)
        .bind(username_skeleton)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Ok(false);
        }
        insert_recovery_codes(&mut tx, id, recovery_hashes, now).await?;
        for kind in ["password", "totp", "recovery_codes"] {
            insert_authenticator(&mut tx, id, kind, now, ip, user_agent).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Store a rehash of the same password (stronger parameters). It changes nothing else —
    /// in particular not a forced change (issue 9 item 6) — and only if the hash is still the
    /// one that was verified (a password change meanwhile wins).
    pub async fn rehash_password(
        &self,
        user_id: &str,
        verified: &str,
        hash: &str,
    ) -> Result<(), sqlx::Error> {
        execute!(
            &self.pool,
            "UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3",
            hash,
            user_id,
            verified
        )?;
        Ok(())
    }

    /// Record a new password as a new authenticator (the old one revoked). Every other
    /// session of the user ends in the same transaction (issue 9 item 3); their hashes are
    /// returned so their WebSockets can be closed.
    pub async fn replace_password(
        &self,
        r: &Replacement<'_>,
        hash: &str,
    ) -> Result<Vec<String>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE users SET password_hash = $1, must_change_password = 0 WHERE id = $2")
            .bind(hash)
            .bind(r.user_id)
            .execute(&mut *tx)
            .await?;
        replace_authenticator(tx, r, "password").await
    }

    /// Accept a TOTP step only if it is later than the last accepted one. Atomic, so two
    /// concurrent logins with the same code cannot both succeed.
    pub async fn advance_totp_step(&self, user_id: &str, step: i64) -> Result<bool, sqlx::Error> {
        let changed = execute!(
            &self.pool,
            "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1",
            step,
            user_id
        )?;
        Ok(changed == 1)
    }

    /// Confirm a TOTP re-enrolment: the pending enrolment `enrolment_enc` is consumed (single
    /// use: `None` if another request consumed it first), the new secret replaces the old one,
    /// and every other session ends (issue 9 item 3; their hashes are returned).
    pub async fn replace_totp(
        &self,
        r: &Replacement<'_>,
        enrolment_enc: &[u8],
        secret_enc: &[u8],
        last_step: i64,
    ) -> Result<Option<Vec<String>>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let taken =
            sqlx::query("DELETE FROM totp_enrolments WHERE user_id = $1 AND secret_enc = $2")
                .bind(r.user_id)
                .bind(enrolment_enc)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if taken != 1 {
            return Ok(None);
        }
        sqlx::query("UPDATE users SET totp_secret_enc = $1, totp_last_step = $2 WHERE id = $3")
            .bind(secret_enc)
            .bind(last_step)
            .bind(r.user_id)
            .execute(&mut *tx)
            .await?;
        replace_authenticator(tx, r, "totp").await.map(Some)
    }

    pub async fn unused_recovery_codes(
        &self,
        user_id: &str,
    ) -> Result<Vec<(i64, String)>, sqlx::Error> {
        sqlx::query(
            "SELECT id, code_hash FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("code_hash")?)))
        .collect()
    }

    /// Mark a code used; `false` if another request used it first (single use, §5.1.2.2).
    pub async fn use_recovery_code(&self, id: i64, now: i64) -> Result<bool, sqlx::Error> {
        let changed = execute!(
            &self.pool,
            "UPDATE recovery_codes SET used_at = $1 WHERE id = $2 AND used_at IS NULL",
            now,
            id
        )?;
        Ok(changed == 1)
    }

    /// A new set of recovery codes replaces the old; every other session ends (issue 9 item 3;
    /// their hashes are returned).
    pub async fn replace_recovery_codes(
        &self,
        r: &Replacement<'_>,
        hashes: &[String],
    ) -> Result<Vec<String>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(r.user_id)
            .execute(&mut *tx)
            .await?;
        insert_recovery_codes(&mut tx, r.user_id, hashes, r.now).await?;
        replace_authenticator(tx, r, "recovery_codes").await
    }

    pub async fn delete_user(&self, user_id: &str) -> Result<(), sqlx::Error> {
        execute!(&self.pool, "DELETE FROM users WHERE id = $1", user_id)?;
        Ok(())
    }

    pub async fn set_must_change_password(&self, user_id: &str) -> Result<(), sqlx::Error> {
        execute!(
            &self.pool,
            "UPDATE users SET must_change_password = 1 WHERE id = $1",
            user_id
        )?;
        Ok(())
    }

    /// (kind, created_at, revoked_at) of every authenticator ever bound, newest first.
    pub async fn authenticators(
        &self,
        user_id: &str,
    ) -> Result<Vec<(String, i64, Option<i64>)>, sqlx::Error> {
        sqlx::query(
            "SELECT kind, created_at, revoked_at FROM authenticators WHERE user_id = $1 \
             ORDER BY id DESC",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| {
            Ok((
                r.try_get("kind")?,
                r.try_get("created_at")?,
                r.try_get("revoked_at")?,
            ))
        })
        .collect()
    }

    pub async fn save_totp_enrolment(
        &self,
        user_id: &str,
        secret_enc: &[u8],
        expires_at: i64,
    ) -> Result<(), sqlx::Error> {
        execute!(
            &self.pool,
            "INSERT INTO totp_enrolments (user_id, secret_enc, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET secret_enc = excluded.secret_enc, \
             expires_at = excluded.expires_at, failures = 0",
            user_id,
            secret_enc,
            expires_at
        )?;
        Ok(())
    }

    /// Count a confirmation attempt on the pending enrolment **before** checking it (issue 9
    /// item 1) and return its sealed secret; `None` when there is none, it expired, or `max`
    /// attempts were already made (the replacement must then start again).
    pub async fn totp_enrolment_attempt(
        &self,
        user_id: &str,
        now: i64,
        max: i64,
    ) -> Result<Option<Vec<u8>>, sqlx::Error> {
        fetch_optional!(
            &self.pool,
            |r| r.try_get("secret_enc"),
            "UPDATE totp_enrolments SET failures = failures + 1 WHERE user_id = $1 \
             AND expires_at > $2 AND failures < $3 RETURNING secret_enc",
            user_id,
            now,
            max
        )
    }

    /// Is the confusable skeleton of a name taken (issue 9 item 4)?
    pub async fn skeleton_exists(&self, skeleton: &str) -> Result<bool, sqlx::Error> {
        exists!(
            &self.pool,
            "SELECT 1 FROM users WHERE username_skeleton = $1",
            skeleton
        )
    }

    /// Accounts made before skeletons were stored: (id, username).
    pub async fn users_without_skeleton(&self) -> Result<Vec<(String, String)>, sqlx::Error> {
        sqlx::query("SELECT id, username FROM users WHERE username_skeleton IS NULL")
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("username")?)))
            .collect()
    }

    /// Store a skeleton for an older account; `false` if another account already has it.
    pub async fn set_skeleton(&self, user_id: &str, skeleton: &str) -> Result<bool, sqlx::Error> {
        if self.skeleton_exists(skeleton).await? {
            return Ok(false);
        }
        execute!(
            &self.pool,
            "UPDATE users SET username_skeleton = $1 WHERE id = $2",
            skeleton,
            user_id
        )?;
        Ok(true)
    }
}

/// Revoke the user's current authenticator of `kind`, record its replacement, end every
/// session of the user but the kept one (issue 9 item 3) and commit; returns the ended
/// sessions' hashes.
async fn replace_authenticator(
    mut tx: sqlx::Transaction<'_, sqlx::Any>,
    r: &Replacement<'_>,
    kind: &str,
) -> Result<Vec<String>, sqlx::Error> {
    execute!(
        &mut *tx,
        "UPDATE authenticators SET revoked_at = $1 WHERE user_id = $2 AND kind = $3 \
         AND revoked_at IS NULL",
        r.now,
        r.user_id,
        kind
    )?;
    insert_authenticator(&mut tx, r.user_id, kind, r.now, &r.ip, r.user_agent).await?;
    let ended = fetch_all!(
        &mut *tx,
        |row: sqlx::any::AnyRow| row.try_get("id_hash"),
        "DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2 RETURNING id_hash",
        r.user_id,
        r.keep_session
    )?;
    tx.commit().await?;
    Ok(ended)
}

async fn insert_recovery_codes(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user_id: &str,
    hashes: &[String],
    now: i64,
) -> Result<(), sqlx::Error> {
    for h in hashes {
        execute!(
            &mut **tx,
            "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)",
            user_id,
            h,
            now
        )?;
    }
    Ok(())
}

/// Record an authenticator of `kind` bound at `now` from `ip` with `user_agent`.
async fn insert_authenticator(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user_id: &str,
    kind: &str,
    now: i64,
    ip: &str,
    user_agent: &str,
) -> Result<(), sqlx::Error> {
    execute!(
        &mut **tx,
        "INSERT INTO authenticators (user_id, kind, created_at, source_ip, source_user_agent) \
         VALUES ($1, $2, $3, $4, $5)",
        user_id,
        kind,
        now,
        ip,
        user_agent
    )?;
    Ok(())
}
