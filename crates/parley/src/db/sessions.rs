//! Sessions: stored by the SHA-256 of their secret, so the table holds no live credential.

use sqlx::Row;

use super::Db;

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id_hash: String,
    pub public_id: String,
    pub user_id: String,
    pub stage: String,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_active_at: i64,
    pub user_agent: String,
    pub ip: String,
}

fn session(r: sqlx::any::AnyRow) -> Result<SessionRow, sqlx::Error> {
    Ok(SessionRow {
        id_hash: r.try_get("id_hash")?,
        public_id: r.try_get("public_id")?,
        user_id: r.try_get("user_id")?,
        stage: r.try_get("stage")?,
        csrf_token: r.try_get("csrf_token")?,
        created_at: r.try_get("created_at")?,
        last_active_at: r.try_get("last_active_at")?,
        user_agent: r.try_get("user_agent")?,
        ip: r.try_get("ip")?,
    })
}

/// sqlx 0.9 accepts only static SQL strings (no injection by construction), hence a macro.
macro_rules! columns {
    () => {
        "id_hash, public_id, user_id, stage, csrf_token, created_at, last_active_at, user_agent, ip"
    };
}

impl Db {
    pub async fn insert_session(&self, s: &SessionRow) -> Result<(), sqlx::Error> {
        sqlx::query(concat!(
            "INSERT INTO sessions (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(&s.id_hash)
        .bind(&s.public_id)
        .bind(&s.user_id)
        .bind(&s.stage)
        .bind(&s.csrf_token)
        .bind(s.created_at)
        .bind(s.last_active_at)
        .bind(&s.user_agent)
        .bind(&s.ip)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn session_by_hash(&self, id_hash: &str) -> Result<Option<SessionRow>, sqlx::Error> {
        sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM sessions WHERE id_hash = $1"
        ))
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?
        .map(session)
        .transpose()
    }

    pub async fn sessions_of(&self, user_id: &str) -> Result<Vec<SessionRow>, sqlx::Error> {
        sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM sessions WHERE user_id = $1 AND stage = 'full' ORDER BY created_at DESC"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(session)
        .collect()
    }

    pub async fn touch_session(&self, id_hash: &str, now: i64) -> Result<(), sqlx::Error> {
        if let Some(writer) = &self.writer {
            return writer.touch(id_hash, now).await;
        }
        sqlx::query("UPDATE sessions SET last_active_at = $1 WHERE id_hash = $2")
            .bind(now)
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Delete a session and say whether it was still there (single use of a pending session:
    /// of two requests finishing one sign-in, one wins; a session ended meanwhile by a
    /// password change cannot be finished).
    pub async fn take_session(&self, id_hash: &str) -> Result<bool, sqlx::Error> {
        Ok(sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?
            .rows_affected()
            == 1)
    }

    /// Delete one of a user's sessions by its public id; returns the removed session's hash.
    pub async fn delete_session_by_public_id(
        &self,
        user_id: &str,
        public_id: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        let hash: Option<String> =
            sqlx::query("SELECT id_hash FROM sessions WHERE user_id = $1 AND public_id = $2")
                .bind(user_id)
                .bind(public_id)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| r.try_get("id_hash"))
                .transpose()?;
        if let Some(h) = &hash {
            self.delete_session(h).await?;
        }
        Ok(hash)
    }

    /// Delete all of a user's sessions; returns their hashes (to close their sockets).
    pub async fn delete_sessions_of(&self, user_id: &str) -> Result<Vec<String>, sqlx::Error> {
        let hashes: Vec<String> = sqlx::query("SELECT id_hash FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| r.try_get("id_hash"))
            .collect::<Result<_, _>>()?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(hashes)
    }

    /// Remove sessions past either limit (they are refused anyway; this keeps the table small).
    pub async fn purge_sessions(
        &self,
        idle_before: i64,
        created_before: i64,
    ) -> Result<u64, sqlx::Error> {
        Ok(
            sqlx::query("DELETE FROM sessions WHERE last_active_at < $1 OR created_at < $2")
                .bind(idle_before)
                .bind(created_before)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }
}
