//! MySQL and MariaDB: `START TRANSACTION READ ONLY` with a per-session statement time limit.

use std::sync::OnceLock;
use std::time::Duration;

use futures_util::TryStreamExt;
use sqlx::mysql::{MySqlPool, MySqlRow};
use sqlx::{Column, Executor, Row, Statement, TypeInfo, ValueRef};

use super::query::{Rows, RunError, SqlValue, acquire, statement_error};
use super::{CLIENT_GRACE, QueryLimits};

/// Run `sql` in a READ ONLY transaction that is always rolled back. `is_mariadb` caches the
/// server flavor, which decides the name of the time-limit variable.
pub(super) async fn run(
    pool: &MySqlPool,
    is_mariadb: &OnceLock<bool>,
    sql: &str,
    params: &[SqlValue],
    limits: QueryLimits,
    acquire_bound: (&'static str, Duration),
) -> Result<Rows, RunError> {
    let mut conn = acquire(pool, acquire_bound.0, acquire_bound.1).await?;
    let limit = limits.statement_timeout;
    let work = async {
        let mariadb = match is_mariadb.get() {
            Some(m) => *m,
            None => {
                let version: String = sqlx::query_scalar("SELECT VERSION()")
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(|e| statement_error(e, limit))?;
                *is_mariadb.get_or_init(|| version.contains("MariaDB"))
            }
        };
        let set_limit = if mariadb {
            format!(
                "SET SESSION max_statement_time = {}",
                limit.as_secs_f64().max(0.001)
            )
        } else {
            format!(
                "SET SESSION max_execution_time = {}",
                limit.as_millis().max(1)
            )
        };
        (&mut *conn)
            .execute(sqlx::raw_sql(&set_limit))
            .await
            .map_err(|e| statement_error(e, limit))?;
        (&mut *conn)
            .execute(sqlx::raw_sql("START TRANSACTION READ ONLY"))
            .await
            .map_err(|e| statement_error(e, limit))?;
        let result = fetch(&mut conn, sql, params, limits).await;
        (&mut *conn)
            .execute(sqlx::raw_sql("ROLLBACK"))
            .await
            .map_err(|e| statement_error(e, limit))?;
        result
    };
    let outcome = tokio::time::timeout(limit + CLIENT_GRACE, work).await;
    match outcome {
        Ok(result) => {
            // Return the connection now rather than from a spawned task, so the next query
            // (and the pool statistics) see it idle.
            let _ = tokio::time::timeout(CLIENT_GRACE, conn.return_to_pool()).await;
            result
        }
        Err(_) => {
            conn.close_on_drop();
            Err(RunError::StatementTimeout(limit))
        }
    }
}

async fn fetch(
    conn: &mut sqlx::MySqlConnection,
    sql: &str,
    params: &[SqlValue],
    limits: QueryLimits,
) -> Result<Rows, RunError> {
    let stmt = conn
        .prepare(sql)
        .await
        .map_err(|e| statement_error(e, limits.statement_timeout))?;
    let columns = stmt.columns().iter().map(|c| c.name().to_owned()).collect();
    let mut query = stmt.query();
    for p in params {
        query = match p {
            SqlValue::Null => query.bind(None::<String>),
            SqlValue::Bool(b) => query.bind(*b),
            SqlValue::Int(i) => query.bind(*i),
            SqlValue::Float(f) => query.bind(*f),
            SqlValue::Text(t) => query.bind(t.clone()),
        };
    }
    let mut stream = query.fetch(&mut *conn);
    let mut rows = Vec::new();
    while let Some(row) = stream
        .try_next()
        .await
        .map_err(|e| statement_error(e, limits.statement_timeout))?
    {
        if rows.len() >= limits.row_limit as usize {
            return Err(RunError::TooManyRows(limits.row_limit));
        }
        rows.push(decode_row(&row)?);
    }
    Ok(Rows { columns, rows })
}

fn decode_row(row: &MySqlRow) -> Result<Vec<SqlValue>, RunError> {
    (0..row.len())
        .map(|i| {
            let raw = row.try_get_raw(i).map_err(RunError::Statement)?;
            if raw.is_null() {
                return Ok(SqlValue::Null);
            }
            let type_name = raw.type_info().name().to_owned();
            let column = row.column(i).name().to_owned();
            let unsupported = || {
                RunError::Decode(format!(
                    "column {column}: type {type_name} is not supported; cast it to CHAR or a number in the query"
                ))
            };
            let t = type_name.as_str();
            Ok(if t == "BOOLEAN" {
                SqlValue::Bool(row.try_get(i).map_err(|_| unsupported())?)
            } else if t.contains("INT") && t.ends_with("UNSIGNED") {
                let v: u64 = row.try_get(i).map_err(|_| unsupported())?;
                i64::try_from(v).map_or(SqlValue::Float(v as f64), SqlValue::Int)
            } else if t.contains("INT") || t == "YEAR" {
                SqlValue::Int(row.try_get(i).map_err(|_| unsupported())?)
            } else if t == "FLOAT" {
                SqlValue::Float(row.try_get::<f32, _>(i).map_err(|_| unsupported())?.into())
            } else if t == "DOUBLE" {
                SqlValue::Float(row.try_get(i).map_err(|_| unsupported())?)
            } else if t == "DECIMAL" {
                // DECIMAL arrives as its decimal text in the binary protocol.
                let text: &str = row.try_get_unchecked(i).map_err(|_| unsupported())?;
                SqlValue::Float(text.trim().parse().map_err(|_| unsupported())?)
            } else if t.contains("CHAR") || t.contains("TEXT") || t == "ENUM" || t == "SET" {
                SqlValue::Text(row.try_get(i).map_err(|_| unsupported())?)
            } else if t == "NULL" {
                SqlValue::Null
            } else {
                return Err(unsupported());
            })
        })
        .collect()
}
