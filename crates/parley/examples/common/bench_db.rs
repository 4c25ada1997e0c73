//! Fresh PostgreSQL databases for the benchmarks' `--database-url` runs (issue 10): made per
//! server, dropped at the end, so runs never see each other's rows.

use sqlx::Connection;

/// A fresh database on the PostgreSQL server `base` (`postgres://user:password@host:port`): its
/// name.
pub async fn create_database(base: &str) -> String {
    let name = format!("parley_bench_{}", parley::service::crypto::random_id());
    let mut admin = sqlx::postgres::PgConnection::connect(&format!("{base}/postgres"))
        .await
        .expect("PostgreSQL reachable at --database-url");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    name
}

/// Drop a database made by `create_database`, closing the connections still open to it.
pub async fn drop_database(base: &str, name: &str) {
    let dropped = async {
        let mut admin = sqlx::postgres::PgConnection::connect(&format!("{base}/postgres")).await?;
        let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
            .execute(&mut admin)
            .await
    };
    if let Err(e) = dropped.await {
        eprintln!("could not drop the benchmark database {name}: {e}");
    }
}
