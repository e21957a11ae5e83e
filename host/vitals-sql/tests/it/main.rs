//! The datasource crate's integration tests, one binary with one module per suite, against the
//! real PostgreSQL, MariaDB, SQLite and Redis (`scripts/services.sh` starts them).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod datasources_backpressure;
mod datasources_checks;
mod datasources_queries;
mod datasources_queues;
mod datasources_secrets;
