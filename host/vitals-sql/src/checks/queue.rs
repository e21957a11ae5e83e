//! Queue-depth checks. They only measure: depth and oldest age go to the backpressure engine as
//! [`Pressure::QueueDepth`], which applies tiers and hysteresis. A failed measurement is
//! `unknown` with no pressure at all, never a depth of 0.

mod redis;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{BuildError, CheckType, needed, queue_defaults};
use crate::datasource::{Datasource, QueryLimits, Rows, SqlValue, ensure_read_only_statement};
use vitals::{Check, CheckKind, CheckSettings, Outcome, Pressure};

pub use redis::{RedisQueueCheck, RedisQueueCheckConfig, RedisQueueKind};

vitals_config::check_config! {
    /// `[checks.NAME]` with `type = "pgmq"`.
    pub struct PgmqQueueCheckConfig {
        /// A Postgres datasource with the PGMQ schema.
        pub datasource: String,
        /// The queue name.
        pub queue: String,
    }
}

vitals_config::check_config! {
    /// `[checks.NAME]` with `type = "sql_queue"`.
    pub struct SqlCountQueueCheckConfig {
        /// The datasource to query.
        pub datasource: String,
        /// A read-only query returning one row: the depth, and optionally the oldest message's
        /// age in seconds as a second column.
        pub query: String,
    }
}

impl CheckType for PgmqQueueCheckConfig {
    fn defaults(&self) -> CheckSettings {
        queue_defaults()
    }

    fn datasource(&self) -> Option<&str> {
        Some(&self.datasource)
    }

    fn build(
        &self,
        name: &str,
        datasource: Option<Arc<Datasource>>,
    ) -> Result<Arc<dyn Check>, BuildError> {
        Ok(Arc::new(PgmqQueueCheck::new(
            needed(name, datasource)?,
            self,
        )))
    }
}

impl CheckType for SqlCountQueueCheckConfig {
    fn defaults(&self) -> CheckSettings {
        queue_defaults()
    }

    fn datasource(&self) -> Option<&str> {
        Some(&self.datasource)
    }

    fn build(
        &self,
        name: &str,
        datasource: Option<Arc<Datasource>>,
    ) -> Result<Arc<dyn Check>, BuildError> {
        let check = SqlCountQueueCheck::new(needed(name, datasource)?, self).map_err(|e| {
            BuildError::Invalid {
                check: name.to_owned(),
                reason: e.to_string(),
            }
        })?;
        Ok(Arc::new(check))
    }
}

fn queue_kind() -> CheckKind {
    CheckKind {
        component_type: "component",
        measurement: "depth",
    }
}

/// The outcome of a successful measurement.
pub(crate) fn depth_outcome(depth: u64, oldest_age: Option<Duration>) -> Outcome {
    let output = match oldest_age {
        Some(age) => format!("{depth} messages, oldest {}s", age.as_secs()),
        None => format!("{depth} messages"),
    };
    let mut outcome = Outcome::pass(output).observed(depth as f64, "messages");
    if let Some(age) = oldest_age {
        outcome = outcome.detail("oldest_age_secs", age.as_secs_f64());
    }
    outcome.pressure(Pressure::QueueDepth { depth, oldest_age })
}

/// The outcome of a failed measurement: unknown, with the reason, and no pressure.
pub(crate) fn measurement_failed(reason: impl std::fmt::Display) -> Outcome {
    Outcome::unknown(format!("could not measure queue depth: {reason}"))
}

/// Read `(depth, oldest age)` from the first row: an integer count, then optional seconds.
fn depth_from_rows(rows: &Rows) -> Result<(u64, Option<Duration>), String> {
    let row = match rows.rows.as_slice() {
        [row] => row,
        other => return Err(format!("expected exactly one row, got {}", other.len())),
    };
    let depth = match row.first() {
        Some(SqlValue::Int(n)) if *n >= 0 => *n as u64,
        Some(SqlValue::Float(f)) if *f >= 0.0 && f.fract() == 0.0 => *f as u64,
        Some(other) => {
            return Err(format!(
                "expected a non-negative integer count, got {other:?}"
            ));
        }
        None => return Err("the query returned no columns".to_owned()),
    };
    let age = match row.get(1) {
        None | Some(SqlValue::Null) => None,
        Some(SqlValue::Int(s)) => Some(Duration::from_secs((*s).max(0) as u64)),
        Some(SqlValue::Float(s)) if s.is_finite() => Some(Duration::from_secs_f64(s.max(0.0))),
        Some(other) => return Err(format!("expected an age in seconds, got {other:?}")),
    };
    Ok((depth, age))
}

async fn measure(ds: &Datasource, sql: &str, params: &[SqlValue]) -> Outcome {
    let limits = QueryLimits {
        statement_timeout: ds.config().statement_timeout,
        row_limit: 1,
    };
    let outcome = match ds.query_read_only(sql, params, limits).await {
        Ok(rows) => match depth_from_rows(&rows) {
            Ok((depth, age)) => depth_outcome(depth, age),
            Err(reason) => measurement_failed(reason),
        },
        Err(e) => measurement_failed(ds.scrub(&e.to_string())),
    };
    outcome.detail("datasource", ds.name())
}

/// Depth and oldest age of a PGMQ queue, from `pgmq.metrics`.
#[derive(Debug)]
pub struct PgmqQueueCheck {
    datasource: Arc<Datasource>,
    queue: String,
}

impl PgmqQueueCheck {
    /// A check of `config.queue` on `datasource`.
    pub fn new(datasource: Arc<Datasource>, config: &PgmqQueueCheckConfig) -> Self {
        PgmqQueueCheck {
            datasource,
            queue: config.queue.clone(),
        }
    }
}

#[async_trait]
impl Check for PgmqQueueCheck {
    fn kind(&self) -> CheckKind {
        queue_kind()
    }

    async fn run(&self) -> Outcome {
        let sql = "SELECT queue_length, oldest_msg_age_sec FROM pgmq.metrics($1)";
        measure(&self.datasource, sql, &[SqlValue::Text(self.queue.clone())])
            .await
            .detail("queue", self.queue.as_str())
    }
}

/// Depth from any counting query, on Postgres, MySQL/MariaDB or SQLite.
#[derive(Debug)]
pub struct SqlCountQueueCheck {
    datasource: Arc<Datasource>,
    query: String,
}

impl SqlCountQueueCheck {
    /// A check running `config.query` on `datasource`; rejects a query that is not read-only.
    pub fn new(
        datasource: Arc<Datasource>,
        config: &SqlCountQueueCheckConfig,
    ) -> Result<Self, crate::datasource::QueryError> {
        ensure_read_only_statement(&config.query)?;
        Ok(SqlCountQueueCheck {
            datasource,
            query: config.query.clone(),
        })
    }
}

#[async_trait]
impl Check for SqlCountQueueCheck {
    fn kind(&self) -> CheckKind {
        queue_kind()
    }

    async fn run(&self) -> Outcome {
        measure(&self.datasource, &self.query, &[]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(values: Vec<SqlValue>) -> Rows {
        Rows {
            columns: vec!["n".into(), "age".into()],
            rows: vec![values],
        }
    }

    #[test]
    fn depth_and_age_are_read_from_the_first_row() {
        let r = rows(vec![SqlValue::Int(42), SqlValue::Float(7.5)]);
        assert_eq!(
            depth_from_rows(&r),
            Ok((42, Some(Duration::from_millis(7500))))
        );
        let r = rows(vec![SqlValue::Int(0), SqlValue::Null]);
        assert_eq!(depth_from_rows(&r), Ok((0, None)));
    }

    #[test]
    fn non_counts_are_errors_not_zero() {
        assert!(depth_from_rows(&rows(vec![SqlValue::Text("x".into())])).is_err());
        assert!(depth_from_rows(&rows(vec![SqlValue::Int(-1)])).is_err());
        assert!(depth_from_rows(&Rows::default()).is_err());
    }

    #[test]
    fn failed_measurement_is_unknown_without_pressure() {
        let o = measurement_failed("boom");
        assert_eq!(o.status, vitals::Status::Unknown);
        assert_eq!(o.pressure, None);
        assert!(o.output.contains("boom"));
    }
}
