//! # vitals-sql
//!
//! Datasources for vitals: PostgreSQL, MySQL/MariaDB and SQLite pools behind a circuit breaker,
//! read-only queries with limits, and the built-in checks on them (`database`, and the queue
//! depths `pgmq`, `sql_queue`, `redis_queue`).
//!
//! A check type is one file in `checks/` and one line in `builtin_checks!` (see the README's
//! architecture section).

#![deny(unreachable_pub)]

mod checks;
mod circuit;
mod datasource;

pub use checks::{
    BuildError, BuiltinCheckConfig, CheckType, DatabaseCheck, DatabaseCheckConfig, EmbeddedSqlite,
    EmbeddedSqliteError, PgmqQueueCheck, PgmqQueueCheckConfig, RedisQueueCheck,
    RedisQueueCheckConfig, RedisQueueKind, SqlCountQueueCheck, SqlCountQueueCheckConfig,
    build_check, prepare_embedded_sqlite,
};
pub use circuit::{Admission, CircuitBreaker, CircuitConfig, CircuitState, Transition};
pub use datasource::{
    DEFAULT_ROW_LIMIT, Datasource, DatasourceConfig, DatasourceError, DatasourceKind, Datasources,
    PoolStats, QueryError, QueryLimits, Rows, SharedDatasources, SqlValue, check_url,
    ensure_read_only_statement,
};
