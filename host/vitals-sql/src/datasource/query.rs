//! The read-only query API shared by checks and plugins: values, rows, limits and errors.

use std::time::Duration;

/// A value passed to or read from a query.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point or numeric value.
    Float(f64),
    /// Text.
    Text(String),
}

/// The result of a query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// The rows, each with one value per column.
    pub rows: Vec<Vec<SqlValue>>,
}

/// Per-query limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Server-side statement timeout, backed by a client-side timeout.
    pub statement_timeout: Duration,
    /// More rows than this is an error ([`QueryError::TooManyRows`]).
    pub row_limit: u32,
}

/// Why a read-only query failed. Every message is free of the datasource's secrets.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// Getting a connection or running the statement took too long.
    #[error("{what} timed out after {}", humantime::format_duration(*after))]
    Timeout {
        /// What timed out: "connecting", "waiting for a connection" or "statement".
        what: &'static str,
        /// The limit that was exceeded.
        after: Duration,
    },
    /// The query returned more rows than allowed.
    #[error("query returned more than {0} rows")]
    TooManyRows(u32),
    /// The statement is not a read-only query.
    #[error("only read-only queries are allowed: {0}")]
    NotReadOnly(String),
    /// The datasource's circuit breaker is open; the database was not touched.
    #[error("circuit open; next probe in {}", humantime::format_duration(*retry_in))]
    CircuitOpen {
        /// Time until the breaker allows a probe.
        retry_in: Duration,
    },
    /// The database (or the connection to it) reported an error; the text is sanitized.
    #[error("{0}")]
    Database(String),
}

/// Statements a read-only query may start with.
const READ_ONLY_VERBS: [&str; 6] = ["select", "with", "values", "show", "explain", "table"];

/// Reject statements that are obviously not queries, before touching the database. This is a
/// first line only: the read-only transaction (or `query_only` pragma) is the real guard.
pub fn ensure_read_only_statement(sql: &str) -> Result<(), QueryError> {
    let body = skip_comments(sql);
    let verb: String = body
        .trim_start_matches(|c: char| c == '(' || c.is_whitespace())
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase();
    if !READ_ONLY_VERBS.contains(&verb.as_str()) {
        let shown = if verb.is_empty() {
            "empty statement".to_owned()
        } else {
            verb.to_uppercase()
        };
        return Err(QueryError::NotReadOnly(format!(
            "{shown} is not one of SELECT, WITH, VALUES, SHOW, EXPLAIN, TABLE"
        )));
    }
    // One statement only: some drivers (SQLite) run every statement in the string.
    if let Some(i) = body.find(';')
        && !body[i + 1..].trim().is_empty()
    {
        return Err(QueryError::NotReadOnly(
            "multiple statements are not allowed".to_owned(),
        ));
    }
    Ok(())
}

fn skip_comments(sql: &str) -> &str {
    let mut rest = sql.trim_start();
    loop {
        if let Some(line) = rest.strip_prefix("--") {
            rest = line.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else if let Some(block) = rest.strip_prefix("/*") {
            rest = block.split_once("*/").map_or("", |(_, r)| r).trim_start();
        } else {
            return rest;
        }
    }
}

/// What went wrong inside a driver run, before sanitizing; decides the breaker verdict.
#[derive(Debug)]
pub(crate) enum RunError {
    /// Could not get a connection (refused, auth, TLS, ...).
    Acquire(sqlx::Error),
    /// Getting a connection took too long.
    AcquireTimeout(&'static str, Duration),
    /// The statement failed.
    Statement(sqlx::Error),
    /// The statement ran past its timeout (server- or client-side).
    StatementTimeout(Duration),
    /// Too many rows.
    TooManyRows(u32),
    /// A column could not be converted to a [`SqlValue`].
    Decode(String),
}

impl RunError {
    /// Whether this failure says the datasource itself is unhealthy (feeds the breaker). A SQL
    /// error the server answered with says nothing about its health.
    pub(crate) fn counts_against_breaker(&self) -> bool {
        match self {
            RunError::Acquire(_) | RunError::AcquireTimeout(..) | RunError::StatementTimeout(_) => {
                true
            }
            RunError::Statement(e) => !matches!(e, sqlx::Error::Database(_)),
            RunError::TooManyRows(_) | RunError::Decode(_) => false,
        }
    }

    /// The public error, with `scrub` applied to any driver text.
    pub(crate) fn into_query_error(self, scrub: impl Fn(&str) -> String) -> QueryError {
        match self {
            RunError::Acquire(e) => QueryError::Database(scrub(&format!("connecting: {e}"))),
            RunError::AcquireTimeout(what, after) => QueryError::Timeout { what, after },
            RunError::Statement(e) => QueryError::Database(scrub(&e.to_string())),
            RunError::StatementTimeout(after) => QueryError::Timeout {
                what: "statement",
                after,
            },
            RunError::TooManyRows(n) => QueryError::TooManyRows(n),
            RunError::Decode(msg) => QueryError::Database(scrub(&msg)),
        }
    }
}

/// Map a statement error to a timeout when the server cancelled it for running too long.
pub(crate) fn statement_error(e: sqlx::Error, limit: Duration) -> RunError {
    if let sqlx::Error::Database(db) = &e {
        // Postgres query_canceled; MariaDB max_statement_time; MySQL max_execution_time.
        let msg = db.message();
        if db.code().as_deref() == Some("57014")
            || msg.contains("max_statement_time")
            || msg.contains("maximum statement execution time")
        {
            return RunError::StatementTimeout(limit);
        }
    }
    RunError::Statement(e)
}

/// Acquire a connection, bounded by `bound`.
pub(crate) async fn acquire<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
    what: &'static str,
    bound: Duration,
) -> Result<sqlx::pool::PoolConnection<DB>, RunError> {
    match tokio::time::timeout(bound, pool.acquire()).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(sqlx::Error::PoolTimedOut)) | Err(_) => Err(RunError::AcquireTimeout(what, bound)),
        Ok(Err(e)) => Err(RunError::Acquire(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_pass_the_first_line_guard_and_writes_do_not() {
        for ok in [
            "SELECT 1",
            "  -- why\n select 1;",
            "/* x */ WITH a AS (SELECT 1) SELECT * FROM a",
            "(select 1)",
            "VALUES (1)",
            "show tables",
            "EXPLAIN SELECT 1",
        ] {
            assert_eq!(ensure_read_only_statement(ok), Ok(()), "{ok}");
        }
        for bad in [
            "INSERT INTO t VALUES (1)",
            "update t set a = 1",
            "DROP TABLE t",
            "PRAGMA query_only = 0",
            "",
            "SELECT 1; DELETE FROM t",
        ] {
            assert!(
                matches!(
                    ensure_read_only_statement(bad),
                    Err(QueryError::NotReadOnly(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn timeouts_say_what_and_how_long() {
        let e = QueryError::Timeout {
            what: "statement",
            after: Duration::from_millis(200),
        };
        assert_eq!(e.to_string(), "statement timed out after 200ms");
    }
}
