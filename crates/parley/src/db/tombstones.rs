//! Deleted accounts (issue 14 item 3): the `users` row stays as a tombstone (id, display name,
//! `deleted_at`) while anyone still has a conversation with it, so their history stays
//! listable and readable; every credential and everything else the account owned goes.

use sqlx::Row;

use super::Db;

impl Db {
    /// Turn an account into a tombstone in one transaction: credentials wiped, username (and its
    /// confusable skeleton, issue 9 item 4) freed
    /// for a new account (which gets a new id), sessions, codes, authenticators, counters and
    /// the security log deleted. Messages stay for the people it talked to; conversations
    /// whose other side is deleted too are removed, and so is a tombstone nobody talks to.
    pub async fn tombstone_user(&self, user_id: &str, now: i64) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE users SET deleted_at = $2, username_key = 'deleted:' || id, \
             username_skeleton = 'deleted:' || id, \
             password_hash = '', totp_secret_enc = $3, totp_last_step = 0, \
             must_change_password = 0 WHERE id = $1",
        )
        .bind(user_id)
        .bind(now)
        .bind(Vec::<u8>::new())
        .execute(&mut *tx)
        .await?;
        for sql in [
            "DELETE FROM sessions WHERE user_id = $1",
            "DELETE FROM recovery_codes WHERE user_id = $1",
            "DELETE FROM factor_failures WHERE user_id = $1",
            "DELETE FROM totp_enrolments WHERE user_id = $1",
            "DELETE FROM authenticators WHERE user_id = $1",
            "DELETE FROM security_events WHERE user_id = $1",
            // First the conversation rows of those pairs (issue 10, migration 0009), so the
            // delete trigger on `messages` finds nothing to recompute row by row.
            "DELETE FROM conversations WHERE \
               (owner_id = $1 AND peer_id IN (SELECT id FROM users WHERE deleted_at IS NOT NULL)) \
               OR (peer_id = $1 AND owner_id IN (SELECT id FROM users WHERE deleted_at IS NOT NULL))",
            "DELETE FROM messages WHERE \
               (sender_id = $1 AND recipient_id IN (SELECT id FROM users WHERE deleted_at IS NOT NULL)) \
               OR (recipient_id = $1 AND sender_id IN (SELECT id FROM users WHERE deleted_at IS NOT NULL))",
            "DELETE FROM users WHERE deleted_at IS NOT NULL \
               AND NOT EXISTS (SELECT 1 FROM messages WHERE sender_id = users.id OR recipient_id = users.id)",
        ] {
            sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
        }
        tx.commit().await
    }

    /// `None` for no such account, `Some(true)` for a deleted one.
    pub async fn account_deleted(&self, user_id: &str) -> Result<Option<bool>, sqlx::Error> {
        sqlx::query("SELECT deleted_at FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| Ok(r.try_get::<Option<i64>, _>("deleted_at")?.is_some()))
            .transpose()
    }
}
