//! Fresh PostgreSQL databases, one per server under test, so runs never see each other's rows:
//! shared by the integration tests (tests/it/common.rs) and the benchmarks' `--database-url`
//! runs (issue 10), which drop theirs at the end.

use sqlx::Connection;

/// A new, empty database named `prefix_<random>` on the PostgreSQL server at `base`
/// (`postgres://user:password@host:port`): its URL.
pub async fn create_database(base: &str, prefix: &str) -> String {
    let base = base.trim_end_matches('/');
    let name = format!("{prefix}_{}", parley::service::crypto::random_id());
    let mut admin = sqlx::postgres::PgConnection::connect(&format!("{base}/postgres"))
        .await
        .expect("a PostgreSQL server (scripts/setup-test-deps.sh starts one)");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create a database");
    format!("{base}/{name}")
}

/// Drop a database made by `create_database` (its URL), closing the connections still open
/// to it.
#[allow(dead_code)] // the integration tests keep their databases for inspection
pub async fn drop_database(url: &str) {
    let Some((base, name)) = url.rsplit_once('/') else {
        return;
    };
    let dropped = async {
        let mut admin = sqlx::postgres::PgConnection::connect(&format!("{base}/postgres")).await?;
        let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
            .execute(&mut admin)
            .await
    };
    if let Err(e) = dropped.await {
        eprintln!("could not drop the database {name}: {e}");
    }
}
