//! Sessions (§7.1, §4.2.3, A7): a 256-bit secret from the OS CSPRNG in a `__Host-` cookie,
//! stored only as its SHA-256; a new secret at every authentication step (fixation-proof);
//! 30 minutes idle (user actions only) and 12 hours absolute, enforced here on every request.

use super::crypto::{random_id, random_token, token_hash};
use super::realtime::{Event, Events};
use crate::core::{AppError, AppResult, Clock};
use crate::db::Db;
use crate::db::sessions::SessionRow;

pub const COOKIE: &str = "__Host-parley_session";
pub use parley_api::limits::{
    SESSION_ABSOLUTE_SECS as ABSOLUTE_SECS, SESSION_IDLE_SECS as IDLE_SECS,
    SESSION_PENDING_SECS as PENDING_SECS,
};
/// A user action is written to the session at most once per this many seconds (issue 10:
/// not one `UPDATE` per request). `last_active_at` may therefore lag the last action by up to
/// this much, so a session can end up to this much *before* 30 minutes after its last action,
/// never after it: the idle limit is never exceeded.
pub const TOUCH_EVERY_SECS: i64 = 10;

/// How far a session has got (stored by `db::sessions`).
pub use crate::db::sessions::SessionStage as Stage;

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
        stage,
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
        || (s.stage == Stage::Pending && now - s.created_at >= PENDING_SECS)
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

/// A user action on a session: its idle timer starts again; the session as it now stands, or
/// `Unauthorized` if it ended meanwhile.
pub async fn extend(db: &Db, clock: &Clock, id_hash: &str) -> AppResult<SessionRow> {
    db.touch_session(id_hash, clock.now()).await?;
    db.session_by_hash(id_hash)
        .await?
        .ok_or(AppError::Unauthorized)
}

/// Whether a user action at `now` must be written to a session last marked active at
/// `last_active_at` (see [`TOUCH_EVERY_SECS`]).
pub fn touch_due(last_active_at: i64, now: i64) -> bool {
    now - last_active_at >= TOUCH_EVERY_SECS || now < last_active_at
}

pub fn idle_expires_at(s: &SessionRow) -> i64 {
    (s.last_active_at + IDLE_SECS).min(absolute_expires_at(s))
}

pub fn absolute_expires_at(s: &SessionRow) -> i64 {
    s.created_at + ABSOLUTE_SECS
}

/// The sessions of signed-in users (issue 11): checking, extending, listing and ending them.
/// Ending a session also closes its WebSockets, on every instance.
#[derive(Clone)]
pub struct Sessions {
    db: Db,
    clock: Clock,
    events: Events,
}

impl Sessions {
    pub fn new(db: Db, clock: Clock, events: Events) -> Sessions {
        Sessions { db, clock, events }
    }

    /// The session whose secret this is, within its time limits (see [`validate`]).
    pub async fn validate(&self, token: &str) -> AppResult<SessionRow> {
        validate(&self.db, &self.clock, token).await
    }

    /// A user action: the idle timer starts again (4.2.3-idle-30m).
    pub async fn touch(&self, id_hash: &str) -> AppResult<()> {
        Ok(self.db.touch_session(id_hash, self.clock.now()).await?)
    }

    /// A user action on a session last marked active at `last_active_at`: written when
    /// [`touch_due`]; returns the session's `last_active_at` now.
    pub async fn touch_if_due(&self, id_hash: &str, last_active_at: i64) -> AppResult<i64> {
        let now = self.clock.now();
        if !touch_due(last_active_at, now) {
            return Ok(last_active_at);
        }
        self.db.touch_session(id_hash, now).await?;
        Ok(now)
    }

    /// Invalidate a session server-side and tell its WebSockets to close.
    pub async fn end(&self, id_hash: &str) -> AppResult<()> {
        self.db.delete_session(id_hash).await?;
        self.ended(vec![id_hash.to_owned()]).await;
        Ok(())
    }

    /// Close the WebSockets of sessions already ended (by a credential change, issue 9 item 3,
    /// or an account deletion), on every instance.
    pub async fn ended(&self, hashes: Vec<String>) {
        for session in hashes {
            self.events.publish(Event::SessionEnded { session }).await;
        }
    }

    /// Every session of the user, for the session list.
    pub async fn of(&self, user_id: &str) -> AppResult<Vec<SessionRow>> {
        Ok(self.db.sessions_of(user_id).await?)
    }

    /// End one of the user's own sessions, named by its public id (`NotFound` for anyone
    /// else's, or none).
    pub async fn revoke(&self, user_id: &str, public_id: &str) -> AppResult<()> {
        let hash = self
            .db
            .delete_session_by_public_id(user_id, public_id)
            .await?
            .ok_or(AppError::NotFound)?;
        self.ended(vec![hash]).await;
        Ok(())
    }

    /// End every session of the user, the current one included.
    pub async fn revoke_all(&self, user_id: &str) -> AppResult<()> {
        let hashes = self.db.delete_sessions_of(user_id).await?;
        self.ended(hashes).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session is marked active at most every `TOUCH_EVERY_SECS`, and the idle limit counted
    /// from the recorded time is never later than 30 minutes after the last action.
    #[test]
    fn touches_are_throttled_but_the_idle_limit_holds() {
        assert!(!touch_due(1000, 1000));
        assert!(!touch_due(1000, 1000 + TOUCH_EVERY_SECS - 1));
        assert!(touch_due(1000, 1000 + TOUCH_EVERY_SECS));
        assert!(touch_due(1000, 999), "a clock that went back writes");
        // Actions every second for an hour: the recorded time never lags the last action by
        // TOUCH_EVERY_SECS or more, so the session ends at most that much early, never late.
        let mut recorded = 0;
        for now in 0..3600 {
            if touch_due(recorded, now) {
                recorded = now;
            }
            assert!(now - recorded < TOUCH_EVERY_SECS);
        }
    }
}
