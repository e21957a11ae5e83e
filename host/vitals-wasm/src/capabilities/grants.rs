//! The grants table: every capability an operator can give a plugin, as one `[checks.NAME]`
//! table (serde cannot flatten with `deny_unknown_fields`). Everything is denied unless listed
//! here. Each capability's module reads its own fields: `http` the `allow_http` rules, `sql`
//! the datasources and their limits, `wasi` the directories and environment variables.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::capabilities::http::rule::checked_http_rules;

/// What one plugin may reach beyond its own memory. Deny by default: an empty value grants
/// nothing.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginGrants {
    /// Config values the plugin reads with `config-get` (`${ENV}` is expanded by the config
    /// loader before it gets here).
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Outgoing HTTP destinations, `scheme://host:port` with `*` wildcards for the port and the
    /// leftmost host labels, e.g. `"https://*.example.com"`, `"http://127.0.0.1:*"`.
    #[serde(default, deserialize_with = "checked_http_rules")]
    pub allow_http: Vec<String>,
    /// Host directories mounted read-only at the same path in the guest.
    #[serde(default)]
    pub read_dirs: Vec<PathBuf>,
    /// Names of environment variables passed through (with the host's values).
    #[serde(default)]
    pub env: Vec<String>,
    /// Datasources the plugin may query (read-only) through the `sql` interface.
    #[serde(default)]
    pub datasources: Vec<String>,
    /// Statement timeout for the plugin's SQL queries (default 2s).
    #[serde(default, with = "humantime_serde::option")]
    pub sql_statement_timeout: Option<Duration>,
    /// Most rows one of the plugin's queries may return (default 1000).
    #[serde(default)]
    pub sql_row_limit: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_that_is_not_a_url_is_refused_when_read() {
        let err = toml::from_str::<PluginGrants>("allow_http = [\"not a url\"]")
            .err()
            .map(|e| e.message().to_owned())
            .unwrap_or_default();
        assert!(err.contains("\"not a url\": missing scheme"), "{err}");
    }

    #[test]
    fn grants_reject_unknown_keys() {
        let err = toml::from_str::<PluginGrants>("allow_tcp = true").err();
        assert!(err.is_some());
        let g: PluginGrants =
            toml::from_str("env = [\"HOME\"]\nsql_row_limit = 5").unwrap_or_default();
        assert_eq!(g.row_limit(), 5);
    }
}
