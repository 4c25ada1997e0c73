//! The single SQLite writer with group commit (issue 10).
//!
//! SQLite allows one writer at a time. Before, every pooled connection wrote for itself: a sent
//! message, its ack and each session touch were each one transaction with its own `fsync`, and
//! the 8 connections queued for the write lock in SQLite's busy handler (sleeps of ms). Now the
//! hot writes (message inserts, delivery acks, session touches) go to one task that owns the
//! one write connection: it takes every job queued while the previous transaction committed,
//! runs them in one transaction, commits once (one `fsync` for the batch, `synchronous =
//! FULL`), and only then answers each caller. The pooled connections keep reading beside it
//! (WAL). Rarer writes (sign-ups, key publications, read marks…) still go through the pool and
//! take the lock between two batches.
//!
//! Guarantees kept: an answer means the row is committed and on disk (a `201` survives a power
//! loss); ids are given in queue order and the commit hook sees the inserted messages in id
//! order, before any caller is answered; a job refused by a constraint (a repeated IV) fails
//! alone — SQLite undoes only that statement and the transaction goes on — and any other error
//! fails the whole batch, rolled back, so an error answer always means "not stored".

use std::fmt;
use std::sync::{Arc, OnceLock};

use sqlx::AnyPool;
use sqlx::error::ErrorKind;
use tokio::sync::{mpsc, oneshot};

use super::messages::{MESSAGE_INSERT, Message, deliver_each, message_from_row, pair_key};

/// Jobs in one transaction at most.
pub const MAX_BATCH: usize = 512;
/// Jobs waiting for the writer at most (callers wait for room beyond).
const QUEUE: usize = 4096;

/// Called with each message inserted, in id order, once its batch is committed and before any
/// sender hears of it (the real-time push: pushes leave in id order).
pub type CommitHook = Arc<dyn Fn(&Message) + Send + Sync>;

/// The place of an insert among the sends of one WebSocket (issue 10): it waits for `after`
/// (the previous send's `queued`, signalled or dropped) before it takes its id, and signals
/// `queued` once its id order is fixed, so the messages of one socket get ids in the order of
/// its frames even though they are checked concurrently.
pub struct Turn {
    pub after: Option<oneshot::Receiver<()>>,
    pub queued: oneshot::Sender<()>,
}

/// A message to store (the columns of `INSERT INTO messages`).
pub struct NewMessage {
    pub sender: String,
    pub recipient: String,
    pub kind: String,
    pub payload: String,
    pub key_set: Option<String>,
    pub iv: Option<String>,
    pub iv_counter: Option<i64>,
    pub now: i64,
}

enum Job {
    Insert(NewMessage, oneshot::Sender<Result<Message, sqlx::Error>>),
    Deliver {
        recipient: String,
        ids: Vec<i64>,
        now: i64,
        reply: oneshot::Sender<Result<Vec<(i64, String)>, sqlx::Error>>,
    },
    Touch {
        id_hash: String,
        now: i64,
        reply: oneshot::Sender<Result<(), sqlx::Error>>,
    },
}

/// What a job produced, kept until the commit.
enum Done {
    Inserted(Result<Message, sqlx::Error>),
    Delivered(Result<Vec<(i64, String)>, sqlx::Error>),
    Touched(Result<(), sqlx::Error>),
}

/// The handle of the writer task.
pub struct Writer {
    tx: mpsc::Sender<Job>,
    hook: Arc<OnceLock<CommitHook>>,
}

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

fn gone() -> sqlx::Error {
    sqlx::Error::WorkerCrashed
}

impl Writer {
    /// Start the task on `pool` (one connection).
    pub fn start(pool: AnyPool) -> Writer {
        let (tx, rx) = mpsc::channel(QUEUE);
        let hook: Arc<OnceLock<CommitHook>> = Arc::default();
        tokio::spawn(run(pool, rx, hook.clone()));
        Writer { tx, hook }
    }

    /// Set the commit hook (once); false if one was set already.
    pub fn on_commit(&self, hook: CommitHook) -> bool {
        self.hook.set(hook).is_ok()
    }

    /// Queue a job; the receiver has its answer once its batch is committed.
    async fn queue<T>(
        &self,
        job: impl FnOnce(oneshot::Sender<Result<T, sqlx::Error>>) -> Job,
    ) -> Result<oneshot::Receiver<Result<T, sqlx::Error>>, sqlx::Error> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(job(reply)).await.map_err(|_| gone())?;
        Ok(answer)
    }

    /// Queue a job and wait for its answer.
    async fn ask<T>(
        &self,
        job: impl FnOnce(oneshot::Sender<Result<T, sqlx::Error>>) -> Job,
    ) -> Result<T, sqlx::Error> {
        self.queue(job).await?.await.map_err(|_| gone())?
    }

    /// Queue an insert: its place in the queue is its place in id order. The answer comes once
    /// its batch is committed.
    pub async fn queue_insert(
        &self,
        m: NewMessage,
    ) -> Result<oneshot::Receiver<Result<Message, sqlx::Error>>, sqlx::Error> {
        self.queue(|reply| Job::Insert(m, reply)).await
    }

    pub async fn insert(&self, m: NewMessage) -> Result<Message, sqlx::Error> {
        self.ask(|reply| Job::Insert(m, reply)).await
    }

    pub async fn deliver(
        &self,
        recipient: &str,
        ids: &[i64],
        now: i64,
    ) -> Result<Vec<(i64, String)>, sqlx::Error> {
        self.ask(|reply| Job::Deliver {
            recipient: recipient.to_owned(),
            ids: ids.to_vec(),
            now,
            reply,
        })
        .await
    }

    pub async fn touch(&self, id_hash: &str, now: i64) -> Result<(), sqlx::Error> {
        self.ask(|reply| Job::Touch {
            id_hash: id_hash.to_owned(),
            now,
            reply,
        })
        .await
    }
}

/// A constraint refused one statement: SQLite undid that statement only, the transaction goes
/// on (https://sqlite.org/lang_conflict.html, ABORT).
fn is_constraint(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if matches!(
        d.kind(),
        ErrorKind::UniqueViolation
            | ErrorKind::ForeignKeyViolation
            | ErrorKind::NotNullViolation
            | ErrorKind::CheckViolation
    ))
}

async fn run(pool: AnyPool, mut rx: mpsc::Receiver<Job>, hook: Arc<OnceLock<CommitHook>>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(job) = rx.recv().await {
        batch.push(job);
        // Everything that queued while the previous batch committed goes into this one.
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit(&pool, std::mem::take(&mut batch), &hook).await;
    }
}

async fn execute(conn: &mut sqlx::AnyConnection, job: &Job) -> Result<Done, (sqlx::Error, bool)> {
    // `Err((e, fatal))`: fatal errors abort the batch.
    let classify = |e: sqlx::Error| {
        let fatal = !is_constraint(&e);
        (e, fatal)
    };
    match job {
        Job::Insert(m, _) => {
            let r = sqlx::query(MESSAGE_INSERT)
                .bind(&m.sender)
                .bind(&m.recipient)
                .bind(pair_key(&m.sender, &m.recipient))
                .bind(&m.kind)
                .bind(&m.payload)
                .bind(m.now)
                .bind(&m.key_set)
                .bind(&m.iv)
                .bind(m.iv_counter)
                .fetch_one(&mut *conn)
                .await
                .and_then(message_from_row);
            match r {
                Ok(m) => Ok(Done::Inserted(Ok(m))),
                Err(e) => match classify(e) {
                    (e, false) => Ok(Done::Inserted(Err(e))),
                    fatal => Err(fatal),
                },
            }
        }
        Job::Deliver {
            recipient,
            ids,
            now,
            ..
        } => {
            let first = deliver_each(&mut *conn, recipient, ids, *now)
                .await
                .map_err(|e| (e, true))?;
            Ok(Done::Delivered(Ok(first)))
        }
        Job::Touch { id_hash, now, .. } => {
            sqlx::query("UPDATE sessions SET last_active_at = $1 WHERE id_hash = $2")
                .bind(now)
                .bind(id_hash)
                .execute(&mut *conn)
                .await
                .map_err(|e| (e, true))?;
            Ok(Done::Touched(Ok(())))
        }
    }
}

/// Answer every job of the batch with a copy of `e` (nothing of the batch was stored).
fn fail_all(batch: Vec<Job>, e: &sqlx::Error) {
    tracing::warn!(error = %e, jobs = batch.len(), "a write batch failed; nothing of it stored");
    let copy = || sqlx::Error::Protocol(format!("the write batch failed: {e}"));
    for job in batch {
        match job {
            Job::Insert(_, reply) => drop(reply.send(Err(copy()))),
            Job::Deliver { reply, .. } => drop(reply.send(Err(copy()))),
            Job::Touch { reply, .. } => drop(reply.send(Err(copy()))),
        }
    }
}

async fn commit(pool: &AnyPool, batch: Vec<Job>, hook: &OnceLock<CommitHook>) {
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => return fail_all(batch, &e),
    };
    let mut done = Vec::with_capacity(batch.len());
    for job in &batch {
        match execute(&mut tx, job).await {
            Ok(d) => done.push(d),
            Err((e, _)) => {
                // Some errors (I/O, full disk) may have rolled the transaction back already;
                // either way nothing of the batch stays.
                let _ = tx.rollback().await;
                return fail_all(batch, &e);
            }
        }
    }
    if let Err(e) = tx.commit().await {
        return fail_all(batch, &e);
    }
    if let Some(hook) = hook.get() {
        for d in &done {
            if let Done::Inserted(Ok(m)) = d {
                hook(m);
            }
        }
    }
    for (job, d) in batch.into_iter().zip(done) {
        match (job, d) {
            (Job::Insert(_, reply), Done::Inserted(r)) => drop(reply.send(r)),
            (Job::Deliver { reply, .. }, Done::Delivered(r)) => drop(reply.send(r)),
            (Job::Touch { reply, .. }, Done::Touched(r)) => drop(reply.send(r)),
            // Each job has the outcome of its own kind (built in the same order).
            _ => {}
        }
    }
}
