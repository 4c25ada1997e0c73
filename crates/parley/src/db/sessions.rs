//! Sessions: stored by the SHA-256 of their secret, so the table holds no live credential.

use sqlx::Row;

use super::Db;
use super::auth_state::stored_kind;

/// How far a session has got; stored in `sessions.stage` by these names (`as_str`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionStage {
    /// Password verified, second factor outstanding: can do nothing but the second step.
    Pending,
    /// Signed in with both factors.
    Full,
}

impl SessionStage {
    pub const fn as_str(self) -> &'static str {
        match self {
            SessionStage::Pending => "pending",
            SessionStage::Full => "full",
        }
    }

    pub fn parse(name: &str) -> Option<SessionStage> {
        [SessionStage::Pending, SessionStage::Full]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id_hash: String,
    pub public_id: String,
    pub user_id: String,
    pub stage: SessionStage,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_active_at: i64,
    pub user_agent: String,
    pub ip: String,
}

fn session(r: sqlx::any::AnyRow) -> Result<SessionRow, sqlx::Error> {
    read_row!(r, SessionRow {
        id_hash, public_id, user_id, csrf_token, created_at, last_active_at, user_agent, ip,
    } {
        stage: stored_kind(&r, "stage", "session stage", SessionStage::parse)?,
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
        execute!(
            &self.pool,
            concat!(
                "INSERT INTO sessions (",
                columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ),
            &s.id_hash,
            &s.public_id,
            &s.user_id,
            s.stage.as_str(),
            &s.csrf_token,
            s.created_at,
            s.last_active_at,
            &s.user_agent,
            &s.ip,
        )?;
        Ok(())
    }

    pub async fn session_by_hash(&self, id_hash: &str) -> Result<Option<SessionRow>, sqlx::Error> {
        fetch_optional!(
            &self.pool,
            session,
            concat!("SELECT ", columns!(), " FROM sessions WHERE id_hash = $1"),
            id_hash
        )
    }

    pub async fn sessions_of(&self, user_id: &str) -> Result<Vec<SessionRow>, sqlx::Error> {
        fetch_all!(
            &self.pool,
            session,
            concat!(
                "SELECT ",
                columns!(),
                " FROM sessions WHERE user_id = $1 AND stage = $2 ORDER BY created_at DESC"
            ),
            user_id,
            SessionStage::Full.as_str()
        )
    }

    pub async fn touch_session(&self, id_hash: &str, now: i64) -> Result<(), sqlx::Error> {
        if let Some(writer) = &self.writer {
            return writer.touch(id_hash, now).await;
        }
        execute!(
            &self.pool,
            "UPDATE sessions SET last_active_at = $1 WHERE id_hash = $2",
            now,
            id_hash
        )?;
        Ok(())
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<(), sqlx::Error> {
        self.take_session(id_hash).await.map(drop)
    }

    /// Delete a session and say whether it was still there (single use of a pending session:
    /// of two requests finishing one sign-in, one wins; a session ended meanwhile by a
    /// password change cannot be finished).
    pub async fn take_session(&self, id_hash: &str) -> Result<bool, sqlx::Error> {
        Ok(execute!(
            &self.pool,
            "DELETE FROM sessions WHERE id_hash = $1",
            id_hash
        )? == 1)
    }

    /// Delete one of a user's sessions by its public id; returns the removed session's hash.
    pub async fn delete_session_by_public_id(
        &self,
        user_id: &str,
        public_id: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        fetch_optional!(
            &self.pool,
            |r| r.try_get("id_hash"),
            "DELETE FROM sessions WHERE user_id = $1 AND public_id = $2 RETURNING id_hash",
            user_id,
            public_id
        )
    }

    /// Delete all of a user's sessions; returns their hashes (to close their sockets).
    pub async fn delete_sessions_of(&self, user_id: &str) -> Result<Vec<String>, sqlx::Error> {
        fetch_all!(
            &self.pool,
            |r| r.try_get("id_hash"),
            "DELETE FROM sessions WHERE user_id = $1 RETURNING id_hash",
            user_id
        )
    }

    /// Remove sessions past either limit (they are refused anyway; this keeps the table small).
    pub async fn purge_sessions(
        &self,
        idle_before: i64,
        created_before: i64,
    ) -> Result<u64, sqlx::Error> {
        execute!(
            &self.pool,
            "DELETE FROM sessions WHERE last_active_at < $1 OR created_at < $2",
            idle_before,
            created_before
        )
    }
}
