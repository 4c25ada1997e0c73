//! Public keys and messages. Payloads are opaque to these queries.

use sqlx::Row;

use super::Db;
pub use super::writer::Turn;

pub use parley_api::{Conversation, Message, PublicKeyRecord};

/// A unique index refused the row (here: a repeated (sender, key set, IV)).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// The conversation of two users, independent of who asks.
pub fn pair_key(a: &str, b: &str) -> String {
    if a <= b {
        format!("{a}:{b}")
    } else {
        format!("{b}:{a}")
    }
}

macro_rules! message_columns {
    () => {
        "id, sender_id, recipient_id, kind, payload, created_at, delivered_at, read_at"
    };
}

/// The insert of a message, its row returned (the push is built from it: no re-`SELECT`).
pub(super) const MESSAGE_INSERT: &str = concat!(
    "INSERT INTO messages (sender_id, recipient_id, pair_key, kind, payload, created_at, \
     key_set, iv, iv_counter) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ",
    message_columns!()
);

/// Mark one message delivered unless it was: `RETURNING sender_id` only the first time.
const MARK_DELIVERED: &str = "UPDATE messages SET delivered_at = $1 WHERE id = $2 \
     AND recipient_id = $3 AND delivered_at IS NULL RETURNING sender_id";

/// [`MARK_DELIVERED`] for each of `ids` on one connection (the caller's transaction): the
/// `(id, sender)` of each message acknowledged for the first time.
pub(super) async fn deliver_each(
    conn: &mut sqlx::AnyConnection,
    recipient: &str,
    ids: &[i64],
    now: i64,
) -> Result<Vec<(i64, String)>, sqlx::Error> {
    let mut first = Vec::new();
    for &id in ids {
        let row = sqlx::query(MARK_DELIVERED)
            .bind(now)
            .bind(id)
            .bind(recipient)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(r) = row {
            first.push((id, r.try_get("sender_id")?));
        }
    }
    Ok(first)
}

pub(super) fn message_from_row(r: sqlx::any::AnyRow) -> Result<Message, sqlx::Error> {
    message(r)
}

fn message(r: sqlx::any::AnyRow) -> Result<Message, sqlx::Error> {
    read_row!(r, Message {
        id, sender_id, recipient_id, kind, created_at, delivered_at, read_at,
    } {
        // The client's JSON, verbatim (it was checked when stored; anything unreadable is null).
        payload: serde_json::from_str(&r.try_get::<String, _>("payload")?)
            .unwrap_or(serde_json::Value::Null),
    })
}

fn public_key(r: sqlx::any::AnyRow) -> Result<PublicKeyRecord, sqlx::Error> {
    read_row!(
        r,
        PublicKeyRecord {
            public_key,
            created_at
        }
    )
}

/// A row of `conversations` joined with the peer's `users` row.
fn conversation(r: sqlx::any::AnyRow) -> Result<Conversation, sqlx::Error> {
    read_row!(r, Conversation { peer_id, last_activity, last_id, unread } {
        peer_username: r.try_get("username")?,
        peer_deleted: r.try_get::<Option<i64>, _>("deleted_at")?.is_some(),
    })
}

impl Db {
    /// Publish a key; returns whether it is new. Publishing a known key again makes it the
    /// current one again (a user back in an earlier browser) and keeps its first time.
    pub async fn publish_key(
        &self,
        user_id: &str,
        key: &str,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let existed =
            sqlx::query("SELECT 1 FROM public_keys WHERE user_id = $1 AND public_key = $2")
                .bind(user_id)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?
                .is_some();
        // The stamp orders publications: the time, but strictly after the user's last one,
        // so two publications in the same second still have an order.
        let last: Option<i64> =
            sqlx::query("SELECT MAX(last_published_at) AS m FROM public_keys WHERE user_id = $1")
                .bind(user_id)
                .fetch_one(&self.pool)
                .await?
                .try_get("m")?;
        let stamp = now.max(last.unwrap_or(0) + 1);
        sqlx::query(
            "INSERT INTO public_keys (user_id, public_key, created_at, last_published_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, public_key) \
             DO UPDATE SET last_published_at = excluded.last_published_at",
        )
        .bind(user_id)
        .bind(key)
        .bind(now)
        .bind(stamp)
        .execute(&self.pool)
        .await?;
        Ok(!existed)
    }

    /// Every key the user published, oldest first.
    pub async fn keys_of(&self, user_id: &str) -> Result<Vec<PublicKeyRecord>, sqlx::Error> {
        fetch_all!(
            &self.pool,
            public_key,
            "SELECT public_key, created_at FROM public_keys WHERE user_id = $1 ORDER BY id",
            user_id
        )
    }

    /// The key most recently published (or published again).
    pub async fn current_key(&self, user_id: &str) -> Result<Option<PublicKeyRecord>, sqlx::Error> {
        fetch_optional!(
            &self.pool,
            public_key,
            "SELECT public_key, created_at FROM public_keys WHERE user_id = $1 \
             ORDER BY last_published_at DESC, id DESC LIMIT 1",
            user_id
        )
    }

    /// Store a payload. `slot` is (key set, IV or `change`, IV counter) of a `msg` or `change`:
    /// a repeat of (sender, key set, IV) fails with a unique violation (see [`is_unique_violation`]).
    /// `turn` orders it after another send (see [`Turn`]).
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_message(
        &self,
        sender: &str,
        recipient: &str,
        kind: &str,
        payload: &str,
        slot: Option<(&str, &str, Option<i64>)>,
        now: i64,
        turn: Option<Turn>,
    ) -> Result<Message, sqlx::Error> {
        let (key_set, iv, counter) = match slot {
            Some((k, i, c)) => (Some(k), Some(i), c),
            None => (None, None, None),
        };
        let (after, queued) = match turn {
            Some(t) => (t.after, Some(t.queued)),
            None => (None, None),
        };
        if let Some(after) = after {
            // Signalled or dropped (the previous send failed): either way, our turn.
            let _ = after.await;
        }
        if let Some(writer) = &self.writer {
            let answer = writer
                .queue_insert(super::writer::NewMessage {
                    sender: sender.to_owned(),
                    recipient: recipient.to_owned(),
                    kind: kind.to_owned(),
                    payload: payload.to_owned(),
                    key_set: key_set.map(str::to_owned),
                    iv: iv.map(str::to_owned),
                    iv_counter: counter,
                    now,
                })
                .await;
            drop(queued);
            return answer?.await.map_err(|_| sqlx::Error::WorkerCrashed)?;
        }
        // No writer (PostgreSQL): the next send of the socket waits for this commit.
        let row = sqlx::query(MESSAGE_INSERT)
            .bind(sender)
            .bind(recipient)
            .bind(pair_key(sender, recipient))
            .bind(kind)
            .bind(payload)
            .bind(now)
            .bind(key_set)
            .bind(iv)
            .bind(counter)
            .fetch_one(&self.pool)
            .await;
        drop(queued);
        message(row?)
    }

    /// The highest IV counter `sender` stored under `key_set` (0 if none), and whether a
    /// `change` from it is stored (the key set was refreshed away).
    pub async fn last_iv(&self, sender: &str, key_set: &str) -> Result<(i64, bool), sqlx::Error> {
        let row = sqlx::query(
            "SELECT MAX(iv_counter) AS last_iv, \
             COUNT(CASE WHEN kind = 'change' THEN 1 END) AS changes \
             FROM messages WHERE sender_id = $1 AND key_set = $2",
        )
        .bind(sender)
        .bind(key_set)
        .fetch_one(&self.pool)
        .await?;
        let last: Option<i64> = row.try_get("last_iv")?;
        let changes: i64 = row.try_get("changes")?;
        Ok((last.unwrap_or(0), changes > 0))
    }

    pub async fn message(&self, id: i64) -> Result<Option<Message>, sqlx::Error> {
        sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .map(message)
        .transpose()
    }

    /// A page of the conversation of `me` and `peer`: ids after `after` (ascending) or before
    /// `before` (the latest `limit` of them, returned ascending).
    pub async fn conversation_page(
        &self,
        me: &str,
        peer: &str,
        after: Option<i64>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Message>, sqlx::Error> {
        let key = pair_key(me, peer);
        let rows = if let Some(after) = after {
            sqlx::query(concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE pair_key = $1 AND id > $2 ORDER BY id ASC LIMIT $3"
            ))
            .bind(&key)
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
        } else {
            let mut rows = sqlx::query(concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE pair_key = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
            ))
            .bind(&key)
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
            rows.reverse();
            rows
        };
        rows.into_iter().map(message).collect()
    }

    /// A page of the messages to `user` that no client of theirs has acknowledged yet: ids
    /// after `after`, oldest first (the WebSocket backlog's cursor; index
    /// `messages_undelivered`).
    pub async fn undelivered_after(
        &self,
        user: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Message>, sqlx::Error> {
        sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE recipient_id = $1 AND delivered_at IS NULL AND id > $2 \
             ORDER BY id LIMIT $3"
        ))
        .bind(user)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(message)
        .collect()
    }

    /// The recipient acknowledged a message; `Some(sender)` the first time.
    pub async fn mark_delivered(
        &self,
        recipient: &str,
        id: i64,
        now: i64,
    ) -> Result<Option<String>, sqlx::Error> {
        sqlx::query(MARK_DELIVERED)
            .bind(now)
            .bind(id)
            .bind(recipient)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get("sender_id"))
            .transpose()
    }

    /// `mark_delivered` for several ids in one transaction (one commit, one fsync; on SQLite
    /// in the writer's group commit with other writes): the
    /// `(id, sender)` of each message acknowledged for the first time.
    pub async fn mark_delivered_many(
        &self,
        recipient: &str,
        ids: &[i64],
        now: i64,
    ) -> Result<Vec<(i64, String)>, sqlx::Error> {
        if let Some(writer) = &self.writer {
            return writer.deliver(recipient, ids, now).await;
        }
        let mut tx = self.pool.begin().await?;
        let first = deliver_each(&mut tx, recipient, ids, now).await?;
        tx.commit().await?;
        Ok(first)
    }

    pub async fn mark_read(
        &self,
        me: &str,
        peer: &str,
        up_to: i64,
        now: i64,
    ) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "UPDATE messages SET read_at = $1, delivered_at = COALESCE(delivered_at, $1) \
             WHERE pair_key = $2 AND recipient_id = $3 AND id <= $4 AND read_at IS NULL",
        )
        .bind(now)
        .bind(pair_key(me, peer))
        .bind(me)
        .bind(up_to)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// The conversations of `me`, newest first: one row of the `conversations` table (issue 10,
    /// migration 0009, kept up to date by triggers on `messages`) per peer, so the cost does not
    /// grow with the number of messages.
    pub async fn conversations(&self, me: &str) -> Result<Vec<Conversation>, sqlx::Error> {
        fetch_all!(
            &self.pool,
            conversation,
            "SELECT c.peer_id, u.username, u.deleted_at, c.last_activity, c.last_id, c.unread \
             FROM conversations c JOIN users u ON u.id = c.peer_id \
             WHERE c.owner_id = $1 ORDER BY c.last_id DESC",
            me
        )
    }

    /// Users who share a conversation with `user` (to tell them about a new key).
    pub async fn contacts_of(&self, user: &str) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query("SELECT peer_id AS peer FROM conversations WHERE owner_id = $1")
            .bind(user)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| r.try_get("peer"))
            .collect()
    }
}
