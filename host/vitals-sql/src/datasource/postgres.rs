//! PostgreSQL: read-only transaction with `SET LOCAL statement_timeout`, and value decoding.

use std::time::Duration;

use futures_util::TryStreamExt;
use sqlx::Postgres;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgPool, PgRow, PgValueRef};
use sqlx::{Column, Executor, Row, Statement, TypeInfo, ValueRef};

use super::query::{Rows, RunError, SqlValue, acquire, statement_error};
use super::{CLIENT_GRACE, QueryLimits};

/// Run `sql` in a READ ONLY transaction that is always rolled back.
pub(super) async fn run(
    pool: &PgPool,
    sql: &str,
    params: &[SqlValue],
    limits: QueryLimits,
    acquire_bound: (&'static str, Duration),
) -> Result<Rows, RunError> {
    let mut conn = acquire(pool, acquire_bound.0, acquire_bound.1).await?;
    let client_limit = limits.statement_timeout + CLIENT_GRACE;
    let work = async {
        let begin = format!(
            "BEGIN; SET TRANSACTION READ ONLY; SET LOCAL statement_timeout = {}",
            limits.statement_timeout.as_millis().max(1)
        );
        (&mut *conn)
            .execute(sqlx::raw_sql(&begin))
            .await
            .map_err(|e| statement_error(e, limits.statement_timeout))?;
        let result = fetch(&mut conn, sql, params, limits).await;
        (&mut *conn)
            .execute(sqlx::raw_sql("ROLLBACK"))
            .await
            .map_err(|e| statement_error(e, limits.statement_timeout))?;
        result
    };
    let outcome = tokio::time::timeout(client_limit, work).await;
    match outcome {
        Ok(result) => {
            // Return the connection now rather than from a spawned task, so the next query
            // (and the pool statistics) see it idle.
            let _ = tokio::time::timeout(CLIENT_GRACE, conn.return_to_pool()).await;
            result
        }
        Err(_) => {
            // The server may still be running the statement: do not reuse this connection.
            conn.close_on_drop();
            Err(RunError::StatementTimeout(limits.statement_timeout))
        }
    }
}

async fn fetch(
    conn: &mut sqlx::PgConnection,
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

fn decode_row(row: &PgRow) -> Result<Vec<SqlValue>, RunError> {
    (0..row.len())
        .map(|i| {
            let raw = row.try_get_raw(i).map_err(RunError::Statement)?;
            let column = row.column(i).name().to_owned();
            decode_value(raw).map_err(|type_name| {
                RunError::Decode(format!(
                    "column {column}: type {type_name} is not supported; cast it to text or a number in the query"
                ))
            })
        })
        .collect()
}

fn decode_value(raw: PgValueRef<'_>) -> Result<SqlValue, String> {
    if raw.is_null() {
        return Ok(SqlValue::Null);
    }
    let type_name = raw.type_info().name().to_owned();
    let bad = |_| type_name.clone();
    let value = match type_name.as_str() {
        "BOOL" => SqlValue::Bool(decode::<bool>(raw).map_err(bad)?),
        "INT2" => SqlValue::Int(decode::<i16>(raw).map_err(bad)?.into()),
        "INT4" => SqlValue::Int(decode::<i32>(raw).map_err(bad)?.into()),
        "INT8" => SqlValue::Int(decode::<i64>(raw).map_err(bad)?),
        "OID" => SqlValue::Int(decode::<Oid>(raw).map_err(bad)?.0.into()),
        "FLOAT4" => SqlValue::Float(decode::<f32>(raw).map_err(bad)?.into()),
        "FLOAT8" => SqlValue::Float(decode::<f64>(raw).map_err(bad)?),
        "NUMERIC" => {
            SqlValue::Float(numeric_to_f64(raw.as_bytes().map_err(bad)?).ok_or(type_name)?)
        }
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "UNKNOWN" | "\"CHAR\"" | "CITEXT" => {
            SqlValue::Text(decode::<String>(raw).map_err(bad)?)
        }
        "VOID" => SqlValue::Null,
        _ => return Err(type_name),
    };
    Ok(value)
}

fn decode<'r, T: sqlx::Decode<'r, Postgres>>(
    raw: PgValueRef<'r>,
) -> Result<T, sqlx::error::BoxDynError> {
    T::decode(raw)
}

/// Postgres' binary NUMERIC: ndigits, weight, sign, dscale, then base-10000 digits.
fn numeric_to_f64(bytes: &[u8]) -> Option<f64> {
    let word = |i: usize| -> Option<[u8; 2]> { Some([*bytes.get(i)?, *bytes.get(i + 1)?]) };
    let ndigits = i16::from_be_bytes(word(0)?);
    let weight = i32::from(i16::from_be_bytes(word(2)?));
    // Signs (PostgreSQL's numeric.c): positive, negative, NaN, and since 14 ±Infinity, which
    // have no digits and would otherwise read as 0.
    let sign = u16::from_be_bytes(word(4)?);
    match sign {
        0xC000 => return Some(f64::NAN),
        0xD000 => return Some(f64::INFINITY),
        0xF000 => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    let mut value = 0.0;
    for d in 0..i32::from(ndigits.max(0)) {
        let digit = f64::from(i16::from_be_bytes(word(8 + 2 * d as usize)?));
        value += digit * 10_000f64.powi(weight - d);
    }
    Some(if sign == 0x4000 { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::numeric_to_f64;

    #[test]
    fn binary_numerics_decode_to_floats() {
        // 12345.67 = digits [1, 2345, 6700], weight 1, positive, dscale 2
        let bytes = [0, 3, 0, 1, 0, 0, 0, 2, 0, 1, 0x09, 0x29, 0x1a, 0x2c];
        assert_eq!(numeric_to_f64(&bytes), Some(12345.67));
        let negative = [0, 1, 0, 0, 0x40, 0, 0, 0, 0, 7];
        assert_eq!(numeric_to_f64(&negative), Some(-7.0));
        assert_eq!(numeric_to_f64(&[0, 1]), None);
    }

    #[test]
    fn infinite_and_nan_numerics_keep_their_meaning() {
        assert_eq!(
            numeric_to_f64(&[0, 0, 0, 0, 0xD0, 0, 0, 0]),
            Some(f64::INFINITY)
        );
        assert_eq!(
            numeric_to_f64(&[0, 0, 0, 0, 0xF0, 0, 0, 0]),
            Some(f64::NEG_INFINITY)
        );
        assert!(numeric_to_f64(&[0, 0, 0, 0, 0xC0, 0, 0, 0]).is_some_and(f64::is_nan));
    }
}
