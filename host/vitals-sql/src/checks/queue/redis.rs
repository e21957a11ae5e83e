//! Redis queue depth: LLEN, XLEN or ZCARD over one reused multiplexed connection.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::MultiplexedConnection;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::{depth_outcome, measurement_failed, queue_kind};
use crate::checks::{BuildError, CheckType, queue_defaults};
use crate::datasource::Datasource;
use vitals::{Check, CheckKind, CheckSettings, Outcome};
use vitals_config::{Scrubber, Secret, redact_url};

/// Which Redis type holds the queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedisQueueKind {
    /// A list (LLEN).
    List,
    /// A stream (XLEN).
    Stream,
    /// A sorted set (ZCARD), e.g. delayed jobs.
    Zset,
    /// Ask Redis (TYPE) on every run.
    #[default]
    Auto,
}

vitals_config::check_config! {
    /// `[checks.NAME]` with `type = "redis_queue"`.
    pub struct RedisQueueCheckConfig {
        /// `redis://[:password@]host:port/db`; may use `${ENV}`.
        pub url: Secret,
        /// The key holding the queue.
        pub key: String,
        /// `list`, `stream`, `zset` or `auto` (default).
        #[serde(default)]
        pub kind: RedisQueueKind,
        /// Client-side limit for connecting plus the commands (default 1s).
        #[serde(default, with = "humantime_serde::option")]
        pub command_timeout: Option<Duration>,
    }
}

/// Length of a Redis list, stream or sorted set.
pub struct RedisQueueCheck {
    client: redis::Client,
    redacted_url: String,
    scrubber: Scrubber,
    key: String,
    kind: RedisQueueKind,
    command_timeout: Duration,
    /// Created on first use and reused; dropped after an error so the next run reconnects.
    connection: Mutex<Option<MultiplexedConnection>>,
}

impl std::fmt::Debug for RedisQueueCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueueCheck")
            .field("url", &self.redacted_url)
            .field("key", &self.key)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl CheckType for RedisQueueCheckConfig {
    fn defaults(&self) -> CheckSettings {
        queue_defaults()
    }

    fn build(
        &self,
        name: &str,
        _datasource: Option<Arc<Datasource>>,
    ) -> Result<Arc<dyn Check>, BuildError> {
        let check = RedisQueueCheck::new(self).map_err(|reason| BuildError::Invalid {
            check: name.to_owned(),
            reason,
        })?;
        Ok(Arc::new(check))
    }
}

impl RedisQueueCheck {
    /// Validate the URL; no connection is made until the first run.
    pub fn new(config: &RedisQueueCheckConfig) -> Result<Self, String> {
        let url = config.url.expose();
        let scrubber = Scrubber::for_dsn(url);
        let client = redis::Client::open(url).map_err(|e| {
            format!(
                "invalid redis url {}: {}",
                redact_url(url),
                scrubber.scrub(&e.to_string())
            )
        })?;
        Ok(RedisQueueCheck {
            client,
            redacted_url: redact_url(url),
            scrubber,
            key: config.key.clone(),
            kind: config.kind,
            command_timeout: config.command_timeout.unwrap_or(Duration::from_secs(1)),
            connection: Mutex::new(None),
        })
    }

    async fn connection(&self) -> Result<MultiplexedConnection, redis::RedisError> {
        let mut slot = self.connection.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let conn = self.client.get_multiplexed_async_connection().await?;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    async fn measure(&self) -> Result<u64, String> {
        let mut conn = self.connection().await.map_err(|e| e.to_string())?;
        let kind = match self.kind {
            RedisQueueKind::Auto => {
                let t: String = redis::cmd("TYPE")
                    .arg(&self.key)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                match t.as_str() {
                    "list" => RedisQueueKind::List,
                    "stream" => RedisQueueKind::Stream,
                    "zset" => RedisQueueKind::Zset,
                    // Redis deletes empty lists, streams keep their key: a missing key is empty.
                    "none" => return Ok(0),
                    other => {
                        return Err(format!("key '{}' holds a {other}, not a queue", self.key));
                    }
                }
            }
            k => k,
        };
        let command = match kind {
            RedisQueueKind::List => "LLEN",
            RedisQueueKind::Stream => "XLEN",
            RedisQueueKind::Zset | RedisQueueKind::Auto => "ZCARD",
        };
        redis::cmd(command)
            .arg(&self.key)
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())
    }
}

#[async_trait]
impl Check for RedisQueueCheck {
    fn kind(&self) -> CheckKind {
        queue_kind()
    }

    async fn run(&self) -> Outcome {
        let result = tokio::time::timeout(self.command_timeout, self.measure()).await;
        let outcome = match result {
            Ok(Ok(depth)) => depth_outcome(depth, None),
            Ok(Err(e)) => {
                *self.connection.lock().await = None;
                measurement_failed(self.scrubber.scrub(&e))
            }
            Err(_) => {
                *self.connection.lock().await = None;
                measurement_failed(format!(
                    "redis did not answer within {}",
                    humantime::format_duration(self.command_timeout)
                ))
            }
        };
        outcome
            .detail("url", self.redacted_url.as_str())
            .detail("key", self.key.as_str())
    }
}
