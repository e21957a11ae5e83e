//! The embedded SQLite database of the default config: a `jobs` table the example queue check
//! counts, so `vitals serve` without a config shows a database and a queue check working.

use std::path::{Path, PathBuf};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};

/// Where the embedded database is and how to count its ready jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedSqlite {
    /// `sqlite://<data_dir>/vitals.db`, for a `[datasources.local]` table.
    pub url: String,
    /// The `sql_queue` query: ready jobs and the oldest one's age in seconds.
    pub queue_query: String,
}

/// Why the embedded database could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedSqliteError {
    /// The data directory could not be created.
    #[error("cannot create data directory {}: {error}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The cause (in the message, not a `source()`, so a printed chain names it once).
        error: std::io::Error,
    },
    /// The database could not be opened or its schema created.
    #[error("cannot prepare {}: {error}", path.display())]
    Database {
        /// The database file.
        path: PathBuf,
        /// The cause (in the message, not a `source()`, so a printed chain names it once).
        error: sqlx::Error,
    },
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    state TEXT NOT NULL,
    enqueued_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, enqueued_at);";

/// Counts jobs in state `ready` and the age of the oldest in seconds (NULL when none).
const QUEUE_QUERY: &str = "SELECT COUNT(*), CAST(strftime('%s', 'now') AS INTEGER) - MIN(enqueued_at) \
     FROM jobs WHERE state = 'ready'";

/// Create `data_dir/vitals.db` and its `jobs` table if missing (idempotent).
pub async fn prepare_embedded_sqlite(
    data_dir: &Path,
) -> Result<EmbeddedSqlite, EmbeddedSqliteError> {
    tokio::fs::create_dir_all(data_dir)
        .await
        .map_err(|error| EmbeddedSqliteError::DataDir {
            path: data_dir.to_owned(),
            error,
        })?;
    let path = data_dir.join("vitals.db");
    let db_error = |error| EmbeddedSqliteError::Database {
        path: path.clone(),
        error,
    };
    let mut conn = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .connect()
        .await
        .map_err(db_error)?;
    conn.execute(sqlx::raw_sql(SCHEMA))
        .await
        .map_err(db_error)?;
    conn.close().await.map_err(db_error)?;
    Ok(EmbeddedSqlite {
        url: format!("sqlite://{}", path.display()),
        queue_query: QUEUE_QUERY.to_owned(),
    })
}
