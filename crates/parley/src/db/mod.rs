//! The database layer: one `AnyPool` over SQLite (embedded default) or PostgreSQL (scale-out),
//! with a migration set per backend. Queries use `$1` placeholders, which both backends accept,
//! and portable types only (integers for times, TEXT, BLOB/BYTEA), so each query is written once.

pub mod auth_state;
pub mod messages;
pub mod sessions;
pub mod users;

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
}

impl Db {
    /// Connect and bring the schema up to date.
    pub async fn connect(config: &Config) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let kind = config.db_kind();
        let url = config.database_url();
        let mut options = AnyPoolOptions::new()
            .max_connections(if kind == DbKind::Sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(10));
        if kind == DbKind::Sqlite {
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL lets readers run beside the writer; the busy timeout queues writers
                    // instead of failing them; foreign keys are off by default in SQLite.
                    // `synchronous = FULL`: every commit is fsync'd to the WAL before the
                    // answer, so a `201` survives a power loss or OS crash, not only a killed
                    // process (NORMAL could lose the last commits; docs/security.md).
                    sqlx::raw_sql(
                        "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; \
                         PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;",
                    )
                    .execute(conn)
                    .await?;
                    Ok(())
                })
            });
        }
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
        Ok(Db { pool, kind })
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }
}
