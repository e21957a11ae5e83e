//! Built-in infrastructure checks: databases and queue depths, built from `[checks.NAME]` tables.
//!
//! ```toml
//! [checks.orders-db]
//! type = "database"        # or "pgmq", "sql_queue", "redis_queue"
//! datasource = "orders"
//! ```
//!
//! A check type is one file: its table (declared with [`check_config!`](vitals_config::check_config)),
//! its check, and a [`CheckType`] impl saying its defaults, its datasource and how it is built.
//! Adding one to the config is one line in [`builtin_checks!`] below.

mod database;
mod embedded;
mod queue;

use std::sync::Arc;

use serde::Deserialize;

use crate::datasource::{Datasource, Datasources};
use vitals::{Check, CheckSettings};
use vitals_config::CommonSettings;

pub use database::{DatabaseCheck, DatabaseCheckConfig};
pub use embedded::{EmbeddedSqlite, EmbeddedSqliteError, prepare_embedded_sqlite};
pub use queue::{
    PgmqQueueCheck, PgmqQueueCheckConfig, RedisQueueCheck, RedisQueueCheckConfig, RedisQueueKind,
    SqlCountQueueCheck, SqlCountQueueCheckConfig,
};

/// One built-in check type, implemented by its table's struct.
pub trait CheckType {
    /// Settings of this type unless its table says otherwise.
    fn defaults(&self) -> CheckSettings {
        CheckSettings::default()
    }

    /// The datasource the check uses, if any.
    fn datasource(&self) -> Option<&str> {
        None
    }

    /// Build check `name`. `datasource` is the one [`datasource`](Self::datasource) names,
    /// resolved.
    fn build(
        &self,
        name: &str,
        datasource: Option<Arc<Datasource>>,
    ) -> Result<Arc<dyn Check>, BuildError>;
}

/// Declares [`BuiltinCheckConfig`], one variant per check type with its `type` name, and its
/// dispatch to each type's [`CheckType`] impl.
macro_rules! builtin_checks {
    ($($(#[$doc:meta])* $variant:ident($config:ty) = $name:literal,)*) => {
        /// The config of one built-in check, selected by its `type` key.
        #[derive(Debug, Clone, PartialEq, Deserialize)]
        #[serde(tag = "type")]
        pub enum BuiltinCheckConfig {
            $($(#[$doc])* #[serde(rename = $name)] $variant($config),)*
        }

        impl BuiltinCheckConfig {
            /// Every type's `type` name.
            pub const NAMES: &[&str] = &[$($name),*];

            fn as_type(&self) -> &dyn CheckType {
                match self {
                    $(BuiltinCheckConfig::$variant(c) => c,)*
                }
            }

            /// The common settings (`interval`, `timeout`, ...) written in the table.
            pub fn common(&self) -> CommonSettings {
                match self {
                    $(BuiltinCheckConfig::$variant(c) => c.common(),)*
                }
            }

            /// The first error in `table` (a `[checks.NAME]` table without its `type` key) as
            /// type `kind`, with its path: deserializing the tagged enum loses both.
            pub fn table_error<'de, D: serde::Deserializer<'de>>(
                kind: &str,
                table: D,
            ) -> Option<serde_path_to_error::Error<D::Error>> {
                match kind {
                    $($name => serde_path_to_error::deserialize::<_, $config>(table).err(),)*
                    _ => None,
                }
            }
        }
    };
}

builtin_checks! {
    /// `type = "database"`: round-trip latency of a query.
    Database(DatabaseCheckConfig) = "database",
    /// `type = "pgmq"`: depth of a PGMQ queue.
    Pgmq(PgmqQueueCheckConfig) = "pgmq",
    /// `type = "sql_queue"`: depth from a counting query.
    SqlQueue(SqlCountQueueCheckConfig) = "sql_queue",
    /// `type = "redis_queue"`: length of a Redis list, stream or sorted set.
    RedisQueue(RedisQueueCheckConfig) = "redis_queue",
}

impl BuiltinCheckConfig {
    /// The datasource this check uses, if any.
    pub fn datasource(&self) -> Option<&str> {
        self.as_type().datasource()
    }

    /// Settings of this check's type unless its table says otherwise.
    pub fn defaults(&self) -> CheckSettings {
        self.as_type().defaults()
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
    cfg.as_type().build(name, datasource)
}

/// The datasource a check type needs, or the error saying it has none.
pub(crate) fn needed(
    name: &str,
    datasource: Option<Arc<Datasource>>,
) -> Result<Arc<Datasource>, BuildError> {
    datasource.ok_or_else(|| BuildError::Invalid {
        check: name.to_owned(),
        reason: "this check type needs a datasource".to_owned(),
    })
}

/// Settings of queue checks unless given: they measure load, which is shed through
/// backpressure rather than failing readiness, so they are not critical.
pub(crate) fn queue_defaults() -> CheckSettings {
    CheckSettings {
        interval: std::time::Duration::from_secs(5),
        critical: false,
        ..CheckSettings::default()
    }
}

#[cfg(test)]
mod config_tests;
