//! The database layer: one `AnyPool` over SQLite (embedded default) or PostgreSQL (scale-out),
//! with a migration set per backend. Queries use `$1` placeholders, which both backends accept,
//! and portable types only (integers for times, TEXT, BLOB/BYTEA), so each query is written once.

/// `sqlx::query($sql)` with its parameters bound in order, run by `$run` (`execute`,
/// `fetch_optional`, `fetch_all`…) on `$exec` and awaited. sqlx 0.9 takes only static SQL, so
/// the text stays a literal (or `concat!` of literals): no injection by construction.
macro_rules! run_query {
    ($run:ident, $exec:expr, $sql:expr $(, $arg:expr)*) => {
        sqlx::query($sql)$(.bind($arg))*.$run($exec).await
    };
}

/// One statement, its parameters bound in order; the rows it changed.
/// `execute!(&self.pool, "DELETE FROM t WHERE id = $1", id)?`.
macro_rules! execute {
    ($exec:expr, $sql:expr $(, $arg:expr)* $(,)?) => {
        run_query!(execute, $exec, $sql $(, $arg)*).map(|done| done.rows_affected())
    };
}

/// The row a query finds, if any, read by `$read` (`fn(AnyRow) -> Result<T, sqlx::Error>`).
macro_rules! fetch_optional {
    ($exec:expr, $read:expr, $sql:expr $(, $arg:expr)* $(,)?) => {
        run_query!(fetch_optional, $exec, $sql $(, $arg)*)
            .and_then(|row| row.map($read).transpose())
    };
}

/// Every row a query finds, each read by `$read`.
macro_rules! fetch_all {
    ($exec:expr, $read:expr, $sql:expr $(, $arg:expr)* $(,)?) => {
        run_query!(fetch_all, $exec, $sql $(, $arg)*)
            .and_then(|rows| rows.into_iter().map($read).collect::<Result<Vec<_>, _>>())
    };
}

/// `Ok($ty { … })` read from the row `$r`: each field of the first list from the column of the
/// same name, then each `field: value` of the optional second list (computed from `$r`).
/// `read_row!(r, User { id, name } { admin: r.try_get::<i64, _>("admin")? != 0 })`.
macro_rules! read_row {
    ($r:ident, $ty:ident { $($col:ident),* $(,)? } $({ $($field:ident: $value:expr),* $(,)? })?) => {
        Ok($ty {
            $($col: $r.try_get(stringify!($col))?,)*
            $($($field: $value,)*)?
        })
    };
}

/// Whether a query finds a row.
macro_rules! exists {
    ($exec:expr, $sql:expr $(, $arg:expr)* $(,)?) => {
        fetch_optional!($exec, |_| Ok(()), $sql $(, $arg)*).map(|found| found.is_some())
    };
}

pub mod auth_state;
pub mod messages;
pub mod sessions;
pub mod tombstones;
pub mod users;
pub mod writer;

#[cfg(test)]
mod conversations_tests;

use std::time::Duration;

use anyhow::{Context, Result};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;

use crate::core::config::{Config, DbKind};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub kind: DbKind,
    /// SQLite on a file: the one write connection with group commit (issue 10) that message
    /// inserts, delivery acks and session touches go through. `None` on PostgreSQL (many
    /// writers are its normal case) and for an in-memory SQLite database.
    pub writer: Option<std::sync::Arc<writer::Writer>>,
}

/// SQLite connection settings. WAL lets readers run beside the writer; the busy timeout queues
/// writers instead of failing them; foreign keys are off by default in SQLite.
/// `synchronous = FULL`: every commit is fsync'd to the WAL before the answer, so a `201`
/// survives a power loss or OS crash, not only a killed process (NORMAL could lose the last
/// commits; docs/security.md, docs/performance.md). With group commit that is one fsync per
/// batch of writes, not one per message.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; \
     PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;";

fn sqlite_options(max: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::raw_sql(SQLITE_PRAGMAS).execute(conn).await?;
                Ok(())
            })
        })
}

impl Db {
    /// Connect and bring the schema up to date.
    pub async fn connect(config: &Config) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let kind = config.db_kind();
        let url = config.database_url();
        if kind == DbKind::Sqlite {
            restrict_sqlite_files(url.expose())?;
        }
        let options = if kind == DbKind::Sqlite {
            // Readers (and the rarer writes); the hot writes have their own connection below.
            sqlite_options(8)
        } else {
            AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
        };
        let pool = options
            .connect(url.expose())
            .await
            .with_context(|| format!("cannot open the {kind:?} database"))?;
        let migrator = match kind {
            DbKind::Sqlite => &SQLITE_MIGRATIONS,
            DbKind::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&pool)
            .await
            .context("database migrations failed")?;
        let mut writer = None;
        if kind == DbKind::Sqlite {
            restrict_sqlite_files(url.expose())?;
            if !is_memory(url.expose()) {
                let one = sqlite_options(1)
                    .connect(url.expose())
                    .await
                    .context("cannot open the SQLite write connection")?;
                writer = Some(std::sync::Arc::new(writer::Writer::start(one)));
            }
        }
        Ok(Db { pool, kind, writer })
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }
}

/// An in-memory SQLite database is one per connection: it cannot have a separate writer.
fn is_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// The SQLite database and its `-wal` and `-shm` files are readable by the owner only (issue 9
/// item 8): the file is created 0600 before SQLite opens it (SQLite gives the `-wal` and `-shm`
/// files the database file's mode), and files of an older install are tightened.
fn restrict_sqlite_files(url: &str) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.starts_with(":memory:") {
        return Ok(());
    }
    let path = std::path::Path::new(path);
    if !path.exists() {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let p = std::path::PathBuf::from(p);
        if p.exists() {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot restrict {}", p.display()))?;
        }
    }
    Ok(())
}
