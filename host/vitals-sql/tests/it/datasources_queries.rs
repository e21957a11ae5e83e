//! `Datasource::query_read_only` on all three databases: read-only enforcement, statement
//! timeouts, row limits and value decoding.

use std::time::{Duration, Instant};

use sqlx::{Connection, Executor};
use vitals_sql::{Datasource, DatasourceConfig, QueryError, QueryLimits, SqlValue};
use vitals_test_support::servers::{require_mysql, require_pg, unique};

fn limits(statement_ms: u64, rows: u32) -> QueryLimits {
    QueryLimits {
        statement_timeout: Duration::from_millis(statement_ms),
        row_limit: rows,
    }
}

fn ds(url: &str) -> Datasource {
    Datasource::new("q", DatasourceConfig::new(url)).unwrap()
}

/// Create `table` with one integer column using a normal (writable) connection.
async fn create_table(url: &str, table: &str) {
    let ddl = format!("CREATE TABLE {table} (n INTEGER)");
    if url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        c.execute(ddl.as_str()).await.unwrap();
    } else if url.starts_with("mysql") {
        let mut c = sqlx::MySqlConnection::connect(url).await.unwrap();
        c.execute(ddl.as_str()).await.unwrap();
    } else {
        let mut c = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc"))
            .await
            .unwrap();
        c.execute(ddl.as_str()).await.unwrap();
    }
}

async fn writes_are_rejected(url: &str, sneaky_write: &str, table: &str) {
    create_table(url, table).await;
    let ds = ds(url);
    for sql in [
        format!("INSERT INTO {table} VALUES (1)"),
        format!("UPDATE {table} SET n = 2"),
        format!("DROP TABLE {table}"),
        format!("CREATE TABLE {table}_x (n INTEGER)"),
    ] {
        let err = ds
            .query_read_only(&sql, &[], limits(2000, 10))
            .await
            .unwrap_err();
        assert!(matches!(err, QueryError::NotReadOnly(_)), "{sql}: {err}");
    }
    // Passes the first-line guard; the read-only transaction (or query_only) stops it.
    let err = ds
        .query_read_only(sneaky_write, &[], limits(2000, 10))
        .await
        .unwrap_err();
    let QueryError::Database(msg) = &err else {
        panic!("{sneaky_write}: expected a database error, got {err:?}");
    };
    assert!(msg.to_lowercase().contains("read"), "{msg}");
    let count = ds
        .query_read_only(
            &format!("SELECT COUNT(*) FROM {table}"),
            &[],
            limits(2000, 10),
        )
        .await
        .unwrap();
    assert_eq!(
        count.rows,
        vec![vec![SqlValue::Int(0)]],
        "nothing was written"
    );
    assert_eq!(
        ds.breaker().consecutive_failures(),
        0,
        "SQL errors do not trip the breaker"
    );
}

#[tokio::test]
async fn postgres_rejects_writes() {
    let url = require_pg().await;
    let t = unique("ro");
    let sneaky = format!("WITH v AS (SELECT 1 AS n) INSERT INTO {t} SELECT n FROM v");
    writes_are_rejected(&url, &sneaky, &t).await;
}

#[tokio::test]
async fn mariadb_rejects_writes() {
    let url = require_mysql().await;
    let t = unique("ro");
    let f = format!("{t}_f");
    let mut c = sqlx::MySqlConnection::connect(&url).await.unwrap();
    create_table(&url, &t).await;
    c.execute(sqlx::raw_sql(&format!(
        "CREATE FUNCTION {f}() RETURNS INT MODIFIES SQL DATA BEGIN INSERT INTO {t} VALUES (1); RETURN 1; END"
    )))
    .await
    .unwrap();
    let ds = ds(&url);
    let err = ds
        .query_read_only(&format!("SELECT {f}()"), &[], limits(2000, 10))
        .await
        .unwrap_err();
    let QueryError::Database(msg) = &err else {
        panic!("{err:?}")
    };
    assert!(msg.contains("READ ONLY"), "{msg}");
    for sql in [
        format!("INSERT INTO {t} VALUES (1)"),
        format!("DELETE FROM {t}"),
        format!("ALTER TABLE {t} ADD m INT"),
    ] {
        let err = ds
            .query_read_only(&sql, &[], limits(2000, 10))
            .await
            .unwrap_err();
        assert!(matches!(err, QueryError::NotReadOnly(_)), "{sql}: {err}");
    }
    let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {t}"))
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn sqlite_rejects_writes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ro.db").display());
    let sneaky = "WITH v(n) AS (VALUES (1)) INSERT INTO jobs SELECT n FROM v";
    writes_are_rejected(&url, sneaky, "jobs").await;
}

async fn statement_timeout_obeyed_and_violated(url: &str, sleep: &str) {
    let ds = ds(url);
    let started = Instant::now();
    let err = ds
        .query_read_only(&format!("SELECT {sleep}(5)"), &[], limits(200, 10))
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(err.to_string(), "statement timed out after 200ms");
    assert!(elapsed < Duration::from_millis(700), "took {elapsed:?}");
    let ok = ds
        .query_read_only(&format!("SELECT {sleep}(0.05)"), &[], limits(1000, 10))
        .await;
    assert!(ok.is_ok(), "{ok:?}");
    // The timed-out connection was not handed back dirty: the next query works.
    assert!(
        ds.query_read_only("SELECT 1", &[], limits(1000, 10))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn postgres_statement_timeout_is_enforced() {
    statement_timeout_obeyed_and_violated(&require_pg().await, "pg_sleep").await;
}

#[tokio::test]
async fn mariadb_statement_timeout_is_enforced() {
    statement_timeout_obeyed_and_violated(&require_mysql().await, "SLEEP").await;
}

#[tokio::test]
async fn sqlite_statement_timeout_is_enforced_client_side() {
    let dir = tempfile::tempdir().unwrap();
    let ds = ds(&dir.path().join("t.db").display().to_string());
    let slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 30000000) SELECT COUNT(*) FROM c";
    let started = Instant::now();
    let err = ds
        .query_read_only(slow, &[], limits(200, 10))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "statement timed out after 200ms");
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
}

async fn row_limit_obeyed_and_violated(url: &str) {
    let ds = ds(url);
    let ten = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10) SELECT x FROM c";
    let rows = ds
        .query_read_only(ten, &[], limits(2000, 10))
        .await
        .unwrap();
    assert_eq!(rows.rows.len(), 10);
    assert_eq!(rows.columns, ["x"]);
    let err = ds
        .query_read_only(ten, &[], limits(2000, 9))
        .await
        .unwrap_err();
    assert_eq!(err, QueryError::TooManyRows(9));
    assert_eq!(err.to_string(), "query returned more than 9 rows");
}

#[tokio::test]
async fn row_limits_are_enforced_on_all_databases() {
    row_limit_obeyed_and_violated(&require_pg().await).await;
    row_limit_obeyed_and_violated(&require_mysql().await).await;
    let dir = tempfile::tempdir().unwrap();
    row_limit_obeyed_and_violated(&dir.path().join("r.db").display().to_string()).await;
}

#[tokio::test]
async fn common_types_decode_and_parameters_bind() {
    let pg = ds(&require_pg().await);
    let r = pg
        .query_read_only(
            "SELECT 1::int2 AS a, 2::int4, 3::int8, 1.5::float4, 2.5::float8, 12.25::numeric, 'x'::text, true, NULL::int, $1::int8 + 1, $2::text",
            &[SqlValue::Int(41), SqlValue::Text("p".into())],
            limits(2000, 1),
        )
        .await
        .unwrap();
    use SqlValue::*;
    assert_eq!(
        r.rows[0],
        [
            Int(1),
            Int(2),
            Int(3),
            Float(1.5),
            Float(2.5),
            Float(12.25),
            Text("x".into()),
            Bool(true),
            Null,
            Int(42),
            Text("p".into())
        ]
    );
    assert_eq!(r.columns[0], "a");
    // PostgreSQL 14+ NUMERIC infinities have no digits; they must not read as 0.
    let r = pg
        .query_read_only(
            "SELECT 'Infinity'::numeric, '-Infinity'::numeric, 'NaN'::numeric",
            &[],
            limits(2000, 1),
        )
        .await
        .unwrap();
    assert_eq!(r.rows[0][0], Float(f64::INFINITY));
    assert_eq!(r.rows[0][1], Float(f64::NEG_INFINITY));
    assert!(
        matches!(r.rows[0][2], Float(f) if f.is_nan()),
        "{:?}",
        r.rows[0]
    );
    let err = pg
        .query_read_only("SELECT now()", &[], limits(2000, 1))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("TIMESTAMPTZ is not supported; cast it"),
        "{err}"
    );

    let my = ds(&require_mysql().await);
    let r = my
        .query_read_only(
            "SELECT 1, CAST(2 AS UNSIGNED), 1.5e0, CAST(12.25 AS DECIMAL(6,2)), 'x', NULL, ? + 1, COUNT(*) FROM (SELECT 1) t",
            &[Int(41)],
            limits(2000, 1),
        )
        .await
        .unwrap();
    assert_eq!(
        r.rows[0],
        [
            Int(1),
            Int(2),
            Float(1.5),
            Float(12.25),
            Text("x".into()),
            Null,
            Int(42),
            Int(1)
        ]
    );

    let dir = tempfile::tempdir().unwrap();
    let lite = ds(&dir.path().join("d.db").display().to_string());
    let r = lite
        .query_read_only(
            "SELECT 1, 1.5, 'x', NULL, ? + 1",
            &[Int(41)],
            limits(2000, 1),
        )
        .await
        .unwrap();
    assert_eq!(
        r.rows[0],
        [Int(1), Float(1.5), Text("x".into()), Null, Int(42)]
    );
}
