//! SQLite: connections with `PRAGMA query_only = ON`; the time limit is client-side only.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use futures_util::TryStreamExt;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqliteRow};
use sqlx::{Column, Executor, Row, Statement, TypeInfo, ValueRef};

use super::query::{Rows, RunError, SqlValue, acquire, statement_error};
use super::{CLIENT_GRACE, QueryLimits};

/// Connect options for a `sqlite:` URL or a plain path; the file is created if missing.
pub(super) fn connect_options(
    url: &str,
    busy: Duration,
) -> Result<SqliteConnectOptions, sqlx::Error> {
    let options = if url.starts_with("sqlite:") {
        SqliteConnectOptions::from_str(url)?
    } else {
        SqliteConnectOptions::new().filename(Path::new(url))
    };
    Ok(options
        .create_if_missing(true)
        .busy_timeout(busy)
        .pragma("query_only", "ON"))
}

/// Run `sql` on a query-only connection.
pub(super) async fn run(
    pool: &SqlitePool,
    sql: &str,
    params: &[SqlValue],
    limits: QueryLimits,
    acquire_bound: (&'static str, Duration),
) -> Result<Rows, RunError> {
    let mut conn = acquire(pool, acquire_bound.0, acquire_bound.1).await?;
    let limit = limits.statement_timeout;
    let work = async {
        let stmt = (&mut *conn)
            .prepare(sql)
            .await
            .map_err(|e| statement_error(e, limit))?;
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
            .map_err(|e| statement_error(e, limit))?
        {
            if rows.len() >= limits.row_limit as usize {
                return Err(RunError::TooManyRows(limits.row_limit));
            }
            rows.push(decode_row(&row)?);
        }
        Ok(Rows { columns, rows })
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

fn decode_row(row: &SqliteRow) -> Result<Vec<SqlValue>, RunError> {
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
                    "column {column}: type {type_name} is not supported"
                ))
            };
            Ok(match type_name.as_str() {
                "BOOLEAN" => SqlValue::Bool(row.try_get(i).map_err(|_| unsupported())?),
                "INTEGER" | "INT8" => {
                    SqlValue::Int(row.try_get_unchecked(i).map_err(|_| unsupported())?)
                }
                "REAL" => SqlValue::Float(row.try_get_unchecked(i).map_err(|_| unsupported())?),
                "NUMERIC" => match row.try_get_unchecked::<i64, _>(i) {
                    Ok(v) => SqlValue::Int(v),
                    Err(_) => SqlValue::Float(row.try_get_unchecked(i).map_err(|_| unsupported())?),
                },
                "BLOB" => return Err(unsupported()),
                _ => SqlValue::Text(row.try_get_unchecked(i).map_err(|_| unsupported())?),
            })
        })
        .collect()
}
