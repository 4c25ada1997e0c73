//! Migration 0009 (issue 10): the `conversations` table, backfilled from the messages stored
//! before it and kept by triggers afterwards, answers exactly what the aggregate query it
//! replaced answered — for every user, after the backfill and after inserts, read marks and
//! deletes (the newest message of a pair, random ones, a whole pair).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

use super::SQLITE_MIGRATIONS;

/// The query `GET /api/conversations` ran before 0009 (peer, last activity, last id, unread).
const OLD_QUERY: &str = "SELECT peer_id, last_activity, last_id, unread FROM ( \
       SELECT CASE WHEN sender_id = $1 THEN recipient_id ELSE sender_id END AS peer_id, \
              MAX(created_at) AS last_activity, MAX(id) AS last_id, \
              COUNT(*) FILTER (WHERE recipient_id = $1 AND read_at IS NULL AND kind = 'msg') AS unread \
       FROM messages WHERE sender_id = $1 OR recipient_id = $1 \
       GROUP BY CASE WHEN sender_id = $1 THEN recipient_id ELSE sender_id END) \
     ORDER BY last_id DESC";
const NEW_QUERY: &str = "SELECT peer_id, last_activity, last_id, unread FROM conversations \
     WHERE owner_id = $1 ORDER BY last_id DESC";

const USERS: usize = 5;

type Row4 = (String, i64, i64, i64);

/// A small deterministic generator (no seed file, same sequence every run).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn user(i: usize) -> String {
    format!("{i:032x}")
}

async fn rows(pool: &SqlitePool, sql: &'static str, me: &str) -> Vec<Row4> {
    sqlx::query(sql)
        .bind(me)
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.get::<String, _>(0),
                r.get::<i64, _>(1),
                r.get::<i64, _>(2),
                r.get::<i64, _>(3),
            )
        })
        .collect()
}

async fn assert_same(pool: &SqlitePool, when: &str) {
    let (mut compared, mut unread) = (0, 0);
    for i in 0..USERS {
        let me = user(i);
        let old = rows(pool, OLD_QUERY, &me).await;
        let new = rows(pool, NEW_QUERY, &me).await;
        assert_eq!(
            new, old,
            "user {i} {when}: conversations table vs the old aggregate"
        );
        compared += old.len();
        unread += old.iter().map(|r| r.3).sum::<i64>();
    }
    // The comparison has something to compare: conversations, some with unread messages.
    assert!(
        compared >= USERS && unread > 0,
        "{when}: {compared} rows, {unread} unread"
    );
}

async fn insert_messages(pool: &SqlitePool, rng: &mut Lcg, n: usize, t0: i64) {
    for k in 0..n {
        let a = user(rng.next(USERS as u64) as usize);
        // One in ten is a message to oneself (the old query counted those too).
        let b = if rng.next(10) == 0 {
            a.clone()
        } else {
            user(rng.next(USERS as u64) as usize)
        };
        let pair = if a <= b {
            format!("{a}:{b}")
        } else {
            format!("{b}:{a}")
        };
        let kind = ["msg", "msg", "msg", "ecdh", "change"][rng.next(5) as usize];
        let read_at = (rng.next(3) == 0).then_some(t0);
        // Times are not monotonic in ids (clock steps between instances).
        let created_at = t0 + k as i64 - rng.next(5) as i64;
        sqlx::query(
            "INSERT INTO messages (sender_id, recipient_id, pair_key, kind, payload, created_at, read_at) \
             VALUES ($1, $2, $3, $4, '{}', $5, $6)",
        )
        .bind(&a)
        .bind(&b)
        .bind(&pair)
        .bind(kind)
        .bind(created_at)
        .bind(read_at)
        .execute(pool)
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn migration_0009_backfill_and_triggers_answer_what_the_old_query_answered() {
    let dir = tempfile::tempdir().unwrap();
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(dir.path().join("p.db"))
                .create_if_missing(true),
        )
        .await
        .unwrap();
    // The schema of an installation before 0009, with history in it.
    SQLITE_MIGRATIONS.run_to(8, &pool).await.unwrap();
    for i in 0..USERS {
        sqlx::query(
            "INSERT INTO users (id, username, username_key, password_hash, totp_secret_enc, created_at) \
             VALUES ($1, $2, $2, 'x', x'00', 0)",
        )
        .bind(user(i))
        .bind(format!("user{i}"))
        .execute(&pool)
        .await
        .unwrap();
    }
    let mut rng = Lcg(0x0009);
    insert_messages(&pool, &mut rng, 400, 1_000).await;

    SQLITE_MIGRATIONS.run(&pool).await.unwrap();
    assert_same(&pool, "after the backfill").await;

    insert_messages(&pool, &mut rng, 300, 2_000).await;
    assert_same(&pool, "after inserts").await;

    // Read marks: a user reads everything from one peer; then one message is marked unread.
    sqlx::query("UPDATE messages SET read_at = 3000 WHERE recipient_id = $1 AND sender_id = $2")
        .bind(user(0))
        .bind(user(1))
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE messages SET read_at = NULL WHERE id = (SELECT MAX(id) FROM messages \
         WHERE recipient_id = $1 AND kind = 'msg')",
    )
    .bind(user(2))
    .execute(&pool)
    .await
    .unwrap();
    assert_same(&pool, "after read marks").await;

    // Deletes: the newest message of the store, then random ones.
    sqlx::query("DELETE FROM messages WHERE id = (SELECT MAX(id) FROM messages)")
        .execute(&pool)
        .await
        .unwrap();
    assert_same(&pool, "after deleting the newest message").await;
    for _ in 0..40 {
        let max: i64 = sqlx::query_scalar("SELECT MAX(id) FROM messages")
            .fetch_one(&pool)
            .await
            .unwrap();
        let id = 1 + rng.next(max as u64) as i64;
        sqlx::query("DELETE FROM messages WHERE id = $1")
            .bind(id)
            .execute(&pool)
            .await
            .unwrap();
    }
    assert_same(&pool, "after random deletes").await;

    // A whole pair goes (as an account tombstone removes it): its rows go too.
    let pair = format!("{}:{}", user(1), user(3));
    sqlx::query("DELETE FROM messages WHERE pair_key = $1")
        .bind(&pair)
        .execute(&pool)
        .await
        .unwrap();
    assert_same(&pool, "after deleting a whole pair").await;
    let left: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM conversations WHERE (owner_id = $1 AND peer_id = $2) \
         OR (owner_id = $2 AND peer_id = $1)",
    )
    .bind(user(1))
    .bind(user(3))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        left, 0,
        "no conversation row is left for a pair without messages"
    );
}
