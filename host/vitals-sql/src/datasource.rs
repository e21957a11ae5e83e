//! Datasources: one lazily connected, shared sqlx pool per `[datasources.NAME]`, each guarded by
//! a circuit breaker, with a read-only query API for checks and plugins.
//!
//! Pools connect on first use, so startup never waits on a down server. Every query runs in a
//! read-only transaction (SQLite: a `query_only` connection) under a server-side statement
//! timeout and a client-side one.

mod config;
mod connect;
mod metrics;
mod mysql;
mod postgres;
mod query;
mod sqlite;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlx::mysql::{MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions};

use crate::circuit::{Admission, CircuitBreaker};
use connect::ConnectOptions;
use vitals_config::{Scrubber, redact_url};

pub use config::DatasourceConfig;
pub use connect::check_url;
pub use query::{QueryError, QueryLimits, Rows, SqlValue, ensure_read_only_statement};

/// Slack on top of the server-side statement timeout before the client gives up itself.
const CLIENT_GRACE: Duration = Duration::from_millis(250);

/// Rows returned by [`Datasource::default_limits`].
pub const DEFAULT_ROW_LIMIT: u32 = 1000;

/// Why the datasources could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DatasourceError {
    /// The URL could not be parsed (the message is redacted).
    #[error("datasource '{datasource}': invalid url {url}: {reason}")]
    InvalidUrl {
        /// Datasource name.
        datasource: String,
        /// The redacted URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// Pools need a tokio runtime for their background maintenance.
    #[error("datasources must be created inside a tokio runtime")]
    NoRuntime,
}

/// Which database a datasource talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasourceKind {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
    /// SQLite.
    Sqlite,
}

impl DatasourceKind {
    /// `"postgres"`, `"mysql"` or `"sqlite"`.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasourceKind::Postgres => "postgres",
            DatasourceKind::MySql => "mysql",
            DatasourceKind::Sqlite => "sqlite",
        }
    }
}

enum Pool {
    Postgres(PgPool),
    MySql(MySqlPool, OnceLock<bool>),
    Sqlite(SqlitePool),
}

/// Connection pool counters at one moment. sqlx 0.8 does not expose how many tasks wait for a
/// connection, so saturation is read as "no idle connection and the pool at its maximum".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections.
    pub size: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// Open connections in use.
    pub in_use: u32,
    /// The pool's limit.
    pub max: u32,
}

impl PoolStats {
    /// No idle connection and no room to open one: new work has to wait.
    pub fn saturated(&self) -> bool {
        self.idle == 0 && self.size >= self.max
    }
}

/// One datasource: a shared pool plus its circuit breaker.
pub struct Datasource {
    name: String,
    kind: DatasourceKind,
    redacted_url: String,
    scrubber: Scrubber,
    config: DatasourceConfig,
    pool: Pool,
    breaker: Arc<CircuitBreaker>,
}

impl std::fmt::Debug for Datasource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Datasource")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.redacted_url)
            .finish_non_exhaustive()
    }
}

impl Datasource {
    /// Build the datasource; the pool connects lazily. Must run inside a tokio runtime.
    pub fn new(name: &str, config: DatasourceConfig) -> Result<Self, DatasourceError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(DatasourceError::NoRuntime);
        }
        let url = config.url.expose();
        let scrubber = Scrubber::for_dsn(url);
        let (kind, options) =
            connect::connect_options(url, config.statement_timeout).map_err(|reason| {
                DatasourceError::InvalidUrl {
                    datasource: name.to_owned(),
                    url: redact_url(url),
                    reason,
                }
            })?;
        let (max, min) = (config.max_connections.max(1), config.min_connections);
        let acquire = config.acquire_timeout.max(config.connect_timeout);
        let pool = match options {
            ConnectOptions::Postgres(options) => Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(max)
                    .min_connections(min)
                    .acquire_timeout(acquire)
                    .connect_lazy_with(options),
            ),
            ConnectOptions::MySql(options) => {
                let pool = MySqlPoolOptions::new()
                    .max_connections(max)
                    .min_connections(min)
                    .acquire_timeout(acquire)
                    .connect_lazy_with(options);
                Pool::MySql(pool, OnceLock::new())
            }
            ConnectOptions::Sqlite(options) => Pool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(max)
                    .min_connections(min)
                    .acquire_timeout(acquire)
                    .connect_lazy_with(options),
            ),
        };
        Ok(Datasource {
            name: name.to_owned(),
            kind,
            redacted_url: redact_url(url),
            breaker: Arc::new(CircuitBreaker::new(config.circuit.clone())),
            scrubber,
            config,
            pool,
        })
    }

    /// The datasource's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Which database it is.
    pub fn kind(&self) -> DatasourceKind {
        self.kind
    }

    /// The URL with its password masked.
    pub fn redacted_url(&self) -> &str {
        &self.redacted_url
    }

    /// Its settings.
    pub fn config(&self) -> &DatasourceConfig {
        &self.config
    }

    /// The circuit breaker guarding it.
    pub fn breaker(&self) -> &Arc<CircuitBreaker> {
        &self.breaker
    }

    /// Remove this datasource's secrets from `text`.
    pub fn scrub(&self, text: &str) -> String {
        self.scrubber.scrub(text)
    }

    /// The configured statement timeout and [`DEFAULT_ROW_LIMIT`].
    pub fn default_limits(&self) -> QueryLimits {
        QueryLimits {
            statement_timeout: self.config.statement_timeout,
            row_limit: DEFAULT_ROW_LIMIT,
        }
    }

    /// Pool counters now.
    pub fn pool_stats(&self) -> PoolStats {
        let (size, idle) = match &self.pool {
            Pool::Postgres(p) => (p.size(), p.num_idle()),
            Pool::MySql(p, _) => (p.size(), p.num_idle()),
            Pool::Sqlite(p) => (p.size(), p.num_idle()),
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX).min(size);
        PoolStats {
            size,
            idle,
            in_use: size - idle,
            max: self.config.max_connections.max(1),
        }
    }

    /// Run one read-only query. Rejected up front if it is not a query or the breaker is open;
    /// the result feeds the breaker (timeouts and connection failures count against it; a SQL
    /// error the server answered does not).
    pub async fn query_read_only(
        &self,
        sql: &str,
        params: &[SqlValue],
        limits: QueryLimits,
    ) -> Result<Rows, QueryError> {
        self.query_with_policy(sql, params, limits, BreakerPolicy::Record)
            .await
    }

    /// Like [`Datasource::query_read_only`], but the outcome never moves the breaker (an open
    /// breaker still rejects the query). For plugin queries: a plugin's slow or failing statement
    /// must not open the circuit that guards the whole service's database.
    pub async fn query_read_only_unrecorded(
        &self,
        sql: &str,
        params: &[SqlValue],
        limits: QueryLimits,
    ) -> Result<Rows, QueryError> {
        self.query_with_policy(sql, params, limits, BreakerPolicy::Observe)
            .await
    }

    async fn query_with_policy(
        &self,
        sql: &str,
        params: &[SqlValue],
        limits: QueryLimits,
        policy: BreakerPolicy,
    ) -> Result<Rows, QueryError> {
        ensure_read_only_statement(sql)?;
        if let Admission::Reject { retry_in } = self.breaker.allow() {
            return Err(QueryError::CircuitOpen { retry_in });
        }
        let stats = self.pool_stats();
        // sqlx opens connections inside `acquire`: when one must be opened, the connect
        // timeout bounds the wait; otherwise the acquire timeout does.
        let must_connect = stats.idle == 0 && stats.size < stats.max;
        let bound = if must_connect {
            ("connecting", self.config.connect_timeout)
        } else {
            ("waiting for a connection", self.config.acquire_timeout)
        };
        // If the caller gives up first (a check's own timeout), the query still counts against
        // the breaker: a hung server must be able to open it.
        let mut abandoned = AbandonedQuery {
            breaker: (policy == BreakerPolicy::Record).then_some(&self.breaker),
        };
        let result = match &self.pool {
            Pool::Postgres(p) => postgres::run(p, sql, params, limits, bound).await,
            Pool::MySql(p, flavor) => mysql::run(p, flavor, sql, params, limits, bound).await,
            Pool::Sqlite(p) => sqlite::run(p, sql, params, limits, bound).await,
        };
        abandoned.breaker = None;
        let record = policy == BreakerPolicy::Record;
        match result {
            Ok(rows) => {
                if record {
                    self.breaker.record_success();
                }
                Ok(rows)
            }
            Err(e) => {
                if record && e.counts_against_breaker() {
                    self.breaker.record_failure();
                }
                let error = e.into_query_error(|t| self.scrubber.scrub(t));
                tracing::debug!(datasource = %self.name, %error, "read-only query failed");
                Err(error)
            }
        }
    }
}

/// The current datasources behind one handle, replaced as a whole on a config reload; renders
/// their pool and breaker metrics.
#[derive(Debug, Default)]
pub struct SharedDatasources(arc_swap::ArcSwap<Datasources>);

impl SharedDatasources {
    /// A handle holding `datasources`.
    pub fn new(datasources: Datasources) -> Self {
        SharedDatasources(arc_swap::ArcSwap::from_pointee(datasources))
    }

    /// Replace the datasources.
    pub fn store(&self, datasources: Datasources) {
        self.0.store(Arc::new(datasources));
    }

    /// The current datasources.
    pub fn load(&self) -> Arc<Datasources> {
        self.0.load_full()
    }
}

impl vitals::MetricsSource for SharedDatasources {
    fn render(&self, out: &mut vitals::MetricsWriter) {
        self.0.load().render(out);
    }
}

/// Whether a query's outcome feeds the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BreakerPolicy {
    Record,
    Observe,
}

/// Records a failure on the breaker when a query future is dropped before it finished.
struct AbandonedQuery<'a> {
    breaker: Option<&'a Arc<CircuitBreaker>>,
}

impl Drop for AbandonedQuery<'_> {
    fn drop(&mut self) {
        if let Some(breaker) = self.breaker {
            breaker.record_failure();
        }
    }
}

/// All configured datasources, by name.
#[derive(Debug, Clone, Default)]
pub struct Datasources {
    by_name: BTreeMap<String, Arc<Datasource>>,
}

impl Datasources {
    /// Build every datasource (pools connect lazily). Must run inside a tokio runtime.
    pub fn new(configs: &BTreeMap<String, DatasourceConfig>) -> Result<Self, DatasourceError> {
        let by_name = configs
            .iter()
            .map(|(name, cfg)| Ok((name.clone(), Arc::new(Datasource::new(name, cfg.clone())?))))
            .collect::<Result<_, DatasourceError>>()?;
        Ok(Datasources { by_name })
    }

    /// The datasources `configs` describe, reusing those of `self` whose settings did not change
    /// (their pools, connections and breakers carry over). Must run inside a tokio runtime.
    pub fn rebuild(
        &self,
        configs: &BTreeMap<String, DatasourceConfig>,
    ) -> Result<Self, DatasourceError> {
        let by_name = configs
            .iter()
            .map(|(name, cfg)| {
                let kept = self.by_name.get(name).filter(|d| d.config() == cfg);
                let ds = match kept {
                    Some(d) => d.clone(),
                    None => Arc::new(Datasource::new(name, cfg.clone())?),
                };
                Ok((name.clone(), ds))
            })
            .collect::<Result<_, DatasourceError>>()?;
        Ok(Datasources { by_name })
    }

    /// The datasource called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Datasource>> {
        self.by_name.get(name).cloned()
    }

    /// Every datasource, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Arc<Datasource>)> {
        self.by_name.iter().map(|(n, d)| (n.as_str(), d))
    }

    /// Whether none is configured.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_misspelt_scheme_is_rejected_with_the_password_masked() {
        let config = DatasourceConfig::new("postgress://app:hunter2@db:5432/orders");
        let err = Datasource::new("orders", config)
            .map(|_| ())
            .expect_err("unknown scheme")
            .to_string();
        assert!(err.contains("unknown scheme 'postgress'"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let plain = DatasourceConfig::new("data/local.db");
        assert_eq!(
            Datasource::new("local", plain).map(|d| d.kind()).ok(),
            Some(DatasourceKind::Sqlite)
        );
    }
}
