//! The `[datasources.NAME]` table.

use std::time::Duration;

use serde::Deserialize;

use crate::circuit::CircuitConfig;
use vitals_config::Secret;

/// One `[datasources.NAME]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasourceConfig {
    /// `postgres://`, `mysql://` (also MariaDB), `sqlite://path` or a plain SQLite file path.
    /// May use `${ENV}`.
    pub url: Secret,
    /// Pool size limit.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Connections kept open (opened in the background, never at startup).
    #[serde(default)]
    pub min_connections: u32,
    /// Limit for opening a new connection.
    #[serde(default = "two_seconds", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Default limit for one statement.
    #[serde(default = "two_seconds", with = "humantime_serde")]
    pub statement_timeout: Duration,
    /// Limit for waiting on a pooled connection.
    #[serde(default = "two_seconds", with = "humantime_serde")]
    pub acquire_timeout: Duration,
    /// Circuit breaker settings.
    #[serde(default)]
    pub circuit: CircuitConfig,
}

fn default_max_connections() -> u32 {
    5
}

fn two_seconds() -> Duration {
    Duration::from_secs(2)
}

impl DatasourceConfig {
    /// A config with defaults for everything but the URL.
    pub fn new(url: impl Into<String>) -> Self {
        DatasourceConfig {
            url: Secret::new(url),
            max_connections: default_max_connections(),
            min_connections: 0,
            connect_timeout: two_seconds(),
            statement_timeout: two_seconds(),
            acquire_timeout: two_seconds(),
            circuit: CircuitConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_everything_but_the_url_and_typos_are_rejected() {
        let cfg: DatasourceConfig =
            toml::from_str("url = \"sqlite://x.db\"\n[circuit]\nopen_for = \"5s\"")
                .expect("parses");
        let mut expected = DatasourceConfig::new("sqlite://x.db");
        expected.circuit.open_for = Duration::from_secs(5);
        assert_eq!(cfg, expected);
        assert_eq!(cfg.max_connections, 5);
        assert_eq!(cfg.statement_timeout, Duration::from_secs(2));
        let err = toml::from_str::<DatasourceConfig>("url = \"x\"\nmax_conections = 3")
            .expect_err("typo");
        assert!(err.to_string().contains("max_conections"), "{err}");
    }
}
