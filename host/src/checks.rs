//! Built-in infrastructure checks: databases and queue depths, built from `[checks.NAME]` tables.
//!
//! ```toml
//! [checks.orders-db]
//! type = "database"        # or "pgmq", "sql_queue", "redis_queue"
//! datasource = "orders"
//! ```

mod database;
mod embedded;
mod queue;

use std::sync::Arc;

use serde::Deserialize;

use crate::check::Check;
use crate::config::CommonSettings;
use crate::datasource::Datasources;

pub use database::{DatabaseCheck, DatabaseCheckConfig};
pub use embedded::{EmbeddedSqlite, EmbeddedSqliteError, prepare_embedded_sqlite};
pub use queue::{
    PgmqQueueCheck, PgmqQueueCheckConfig, RedisQueueCheck, RedisQueueCheckConfig, RedisQueueKind,
    SqlCountQueueCheck, SqlCountQueueCheckConfig,
};

/// The config of one built-in check, selected by its `type` key.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BuiltinCheckConfig {
    /// `type = "database"`: round-trip latency of a query.
    Database(DatabaseCheckConfig),
    /// `type = "pgmq"`: depth of a PGMQ queue.
    Pgmq(PgmqQueueCheckConfig),
    /// `type = "sql_queue"`: depth from a counting query.
    SqlQueue(SqlCountQueueCheckConfig),
    /// `type = "redis_queue"`: length of a Redis list, stream or sorted set.
    RedisQueue(RedisQueueCheckConfig),
}

impl BuiltinCheckConfig {
    /// The common settings (`interval`, `timeout`, ...) written in the table.
    pub fn common(&self) -> CommonSettings {
        match self {
            BuiltinCheckConfig::Database(c) => c.common(),
            BuiltinCheckConfig::Pgmq(c) => c.common(),
            BuiltinCheckConfig::SqlQueue(c) => c.common(),
            BuiltinCheckConfig::RedisQueue(c) => c.common(),
        }
    }

    /// The datasource this check uses, if any.
    pub fn datasource(&self) -> Option<&str> {
        match self {
            BuiltinCheckConfig::Database(c) => Some(&c.datasource),
            BuiltinCheckConfig::Pgmq(c) => Some(&c.datasource),
            BuiltinCheckConfig::SqlQueue(c) => Some(&c.datasource),
            BuiltinCheckConfig::RedisQueue(_) => None,
        }
    }
}

/// Why a built-in check could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The check names a datasource that is not configured.
    #[error("check '{check}': datasource '{datasource}' is not defined under [datasources]")]
    UnknownDatasource {
        /// The check.
        check: String,
        /// The missing datasource.
        datasource: String,
    },
    /// A value in the check's table is not usable.
    #[error("check '{check}': {reason}")]
    Invalid {
        /// The check.
        check: String,
        /// What is wrong (secrets removed).
        reason: String,
    },
}

/// Build the check `name` from its config, resolving its datasource.
pub fn build_check(
    name: &str,
    cfg: &BuiltinCheckConfig,
    datasources: &Datasources,
) -> Result<Arc<dyn Check>, BuildError> {
    let datasource = match cfg.datasource() {
        Some(ds) => Some(
            datasources
                .get(ds)
                .ok_or_else(|| BuildError::UnknownDatasource {
                    check: name.to_owned(),
                    datasource: ds.to_owned(),
                })?,
        ),
        None => None,
    };
    let check: Arc<dyn Check> = match (cfg, datasource) {
        (BuiltinCheckConfig::Database(c), Some(ds)) => Arc::new(DatabaseCheck::new(ds, c)),
        (BuiltinCheckConfig::Pgmq(c), Some(ds)) => Arc::new(PgmqQueueCheck::new(ds, c)),
        (BuiltinCheckConfig::SqlQueue(c), Some(ds)) => Arc::new(
            SqlCountQueueCheck::new(ds, c).map_err(|e| BuildError::Invalid {
                check: name.to_owned(),
                reason: e.to_string(),
            })?,
        ),
        (BuiltinCheckConfig::RedisQueue(c), _) => Arc::new(RedisQueueCheck::new(c).map_err(
            |reason| BuildError::Invalid {
                check: name.to_owned(),
                reason,
            },
        )?),
        (_, None) => unreachable_datasource(name)?,
    };
    Ok(check)
}

fn unreachable_datasource(name: &str) -> Result<Arc<dyn Check>, BuildError> {
    Err(BuildError::Invalid {
        check: name.to_owned(),
        reason: "this check type needs a datasource".to_owned(),
    })
}

#[cfg(test)]
mod config_tests;
