//! Sessions (§7.1, §4.2.3, A7): a 256-bit secret from the OS CSPRNG in a `__Host-` cookie,
//! stored only as its SHA-256; a new secret at every authentication step (fixation-proof);
//! 30 minutes idle (user actions only) and 12 hours absolute, enforced here on every request.

use super::crypto::{random_id, random_token, token_hash};
use crate::core::{AppError, AppResult, Clock};
use crate::db::Db;
use crate::db::sessions::SessionRow;

pub const COOKIE: &str = "__Host-parley_session";
pub const IDLE_SECS: i64 = 30 * 60;
pub const ABSOLUTE_SECS: i64 = 12 * 60 * 60;
/// A session that has passed only the password step must finish within this time.
pub const PENDING_SECS: i64 = 10 * 60;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Password verified, second factor outstanding: can do nothing but the second step.
    Pending,
    Full,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Pending => "pending",
            Stage::Full => "full",
        }
    }
}

/// The `Set-Cookie` value for a session secret: host-only, HTTPS-only, invisible to scripts,
/// never sent cross-site, and without `Expires`/`Max-Age` so it dies with the browser (§7.2).
pub fn cookie(name: &str, token: &str) -> String {
    format!("{name}={token}; Path=/; Secure; HttpOnly; SameSite=Strict")
}

/// Clears the cookie on the client (7.1-secret-4).
pub fn clear_cookie(name: &str) -> String {
    format!("{name}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// A freshly created session: the secret goes into the cookie, never into the database.
pub struct NewSession {
    pub token: String,
    pub row: SessionRow,
}

pub async fn create(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    stage: Stage,
    ip: &str,
    user_agent: &str,
) -> AppResult<NewSession> {
    let token = random_token();
    let now = clock.now();
    let row = SessionRow {
        id_hash: token_hash(&token),
        public_id: random_id(),
        user_id: user_id.to_owned(),
        stage: stage.as_str().to_owned(),
        csrf_token: random_token(),
        created_at: now,
        last_active_at: now,
        user_agent: user_agent.chars().take(300).collect(),
        ip: ip.to_owned(),
    };
    db.insert_session(&row).await?;
    Ok(NewSession { token, row })
}

/// Look a session up by its secret and enforce the time limits; an expired session is deleted
/// (so replaying its cookie later is refused too, 4.2.3-terminate).
pub async fn validate(db: &Db, clock: &Clock, token: &str) -> AppResult<SessionRow> {
    let hash = token_hash(token);
    let Some(s) = db.session_by_hash(&hash).await? else {
        return Err(AppError::Unauthorized);
    };
    let now = clock.now();
    let expired = if now - s.created_at >= ABSOLUTE_SECS {
        Some("absolute")
    } else if now - s.last_active_at >= IDLE_SECS
        || (s.stage == "pending" && now - s.created_at >= PENDING_SECS)
    {
        Some("idle")
    } else {
        None
    };
    if let Some(reason) = expired {
        db.delete_session(&hash).await?;
        return Err(AppError::SessionExpired { reason });
    }
    Ok(s)
}

pub fn idle_expires_at(s: &SessionRow) -> i64 {
    (s.last_active_at + IDLE_SECS).min(absolute_expires_at(s))
}

pub fn absolute_expires_at(s: &SessionRow) -> i64 {
    s.created_at + ABSOLUTE_SECS
}
