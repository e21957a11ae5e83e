//! The database check: round-trip latency of a small read-only query on a datasource.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{BuildError, CheckType, needed};
use crate::circuit::CircuitState;
use crate::datasource::{Datasource, QueryError, QueryLimits};
use vitals::{Check, CheckKind, Outcome, Pressure};

vitals_config::check_config! {
    /// `[checks.NAME]` with `type = "database"`.
    pub struct DatabaseCheckConfig {
        /// The datasource to query.
        pub datasource: String,
        /// The query to run (default `SELECT 1`).
        #[serde(default)]
        pub query: Option<String>,
        /// Latency above this turns the check `warn`.
        #[serde(default, with = "humantime_serde::option")]
        pub warn_latency: Option<Duration>,
    }
}

impl CheckType for DatabaseCheckConfig {
    fn datasource(&self) -> Option<&str> {
        Some(&self.datasource)
    }

    fn build(
        &self,
        name: &str,
        datasource: Option<Arc<Datasource>>,
    ) -> Result<Arc<dyn Check>, BuildError> {
        Ok(Arc::new(DatabaseCheck::new(
            needed(name, datasource)?,
            self,
        )))
    }
}

/// Runs a read-only query through the datasource's pool and circuit breaker.
#[derive(Debug)]
pub struct DatabaseCheck {
    datasource: Arc<Datasource>,
    query: String,
    warn_latency: Option<Duration>,
}

impl DatabaseCheck {
    /// A check on `datasource`.
    pub fn new(datasource: Arc<Datasource>, config: &DatabaseCheckConfig) -> Self {
        DatabaseCheck {
            datasource,
            query: config
                .query
                .clone()
                .unwrap_or_else(|| "SELECT 1".to_owned()),
            warn_latency: config.warn_latency,
        }
    }

    fn with_details(&self, outcome: Outcome) -> Outcome {
        let ds = &self.datasource;
        let stats = ds.pool_stats();
        let outcome = outcome
            .detail("datasource", ds.name())
            .detail("url", ds.redacted_url())
            .detail("pool_size", stats.size)
            .detail("pool_idle", stats.idle)
            .detail("pool_in_use", stats.in_use)
            .detail("pool_max", stats.max)
            .detail("circuit", ds.breaker().state().name())
            .detail("circuit_transitions", circuit_transitions(ds));
        // Open or probing: the dependency is not trusted yet, so tell the backpressure engine.
        if ds.breaker().state() == CircuitState::Closed {
            outcome
        } else {
            outcome.pressure(Pressure::CircuitOpen)
        }
    }
}

/// The breaker's latest transitions (newest last), for the detailed status.
fn circuit_transitions(ds: &Datasource) -> serde_json::Value {
    const SHOWN: usize = 10;
    let all = ds.breaker().transitions();
    let recent = &all[all.len().saturating_sub(SHOWN)..];
    recent
        .iter()
        .map(|t| {
            serde_json::json!({
                "from": t.from,
                "to": t.to,
                "time": humantime::format_rfc3339_millis(t.at_wall).to_string(),
                "reason": ds.scrub(&t.reason),
            })
        })
        .collect()
}

/// Whole seconds, rounded up, for "next probe in Xs".
fn secs_ceil(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[async_trait]
impl Check for DatabaseCheck {
    fn kind(&self) -> CheckKind {
        CheckKind {
            component_type: "datastore",
            measurement: "responseTime",
        }
    }

    async fn run(&self) -> Outcome {
        let ds = &self.datasource;
        // Sampled before our own query takes a connection.
        let before = ds.pool_stats();
        let limits = QueryLimits {
            statement_timeout: ds.config().statement_timeout,
            row_limit: 100,
        };
        let started = Instant::now();
        let result = ds.query_read_only(&self.query, &[], limits).await;
        let elapsed = started.elapsed();
        let latency_ms = vitals::millis(elapsed);
        let outcome = match result {
            Err(QueryError::CircuitOpen { retry_in }) => Outcome::fail(format!(
                "circuit open ({} consecutive failures); next probe in {}s",
                ds.breaker().consecutive_failures(),
                secs_ceil(retry_in)
            ))
            .detail("next_probe_in_secs", secs_ceil(retry_in)),
            Err(e) => Outcome::fail(ds.scrub(&e.to_string())).observed(latency_ms, "ms"),
            Ok(_) if before.saturated() => Outcome::warn(format!(
                "pool saturated: all {} connections were in use (query took {latency_ms:.1} ms)",
                before.max
            ))
            .observed(latency_ms, "ms"),
            Ok(_) => match self.warn_latency {
                Some(limit) if elapsed > limit => Outcome::warn(format!(
                    "slow: {latency_ms:.1} ms, over {}",
                    humantime::format_duration(limit)
                ))
                .observed(latency_ms, "ms"),
                _ => Outcome::pass(format!("responded in {latency_ms:.1} ms"))
                    .observed(latency_ms, "ms"),
            },
        };
        self.with_details(outcome)
    }
}
