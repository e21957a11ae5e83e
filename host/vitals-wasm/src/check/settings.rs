//! The settings of a plugin check: its `[checks.NAME]` table, the manifest next to its file, and
//! the grants they add up to.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::PluginError;
use crate::capabilities::grants::PluginGrants;
use crate::runtime::limits::ByteSize;
use crate::runtime::sandbox::WarmPolicy;

vitals_config::check_config! {
    /// `[checks.NAME]` with `type = "plugin"`: a WebAssembly component check. `timeout` is the
    /// plugin's hard deadline per run.
    pub struct PluginCheckConfig {
        /// The `.wasm` component file.
        #[serde(default)]
        pub file: Option<PathBuf>,
        /// Linear memory cap per run, e.g. "64MiB" (default 64 MiB, at most the runtime's max).
        #[serde(default)]
        pub memory_limit: Option<ByteSize>,
        /// Cap on the output text and each detail value, e.g. "4KiB" (default 4 KiB).
        #[serde(default)]
        pub output_limit: Option<ByteSize>,
        /// Consecutive traps before quarantine (default 3).
        #[serde(default)]
        pub quarantine_after: Option<u32>,
        /// Config values the plugin reads with `config-get`.
        #[serde(default)]
        pub config: BTreeMap<String, String>,
        /// Outgoing HTTP destinations (`scheme://host:port`, `*` wildcards). Set, even to `[]`,
        /// it replaces the manifest's list: the operator can narrow or revoke what a plugin
        /// asks for. Unset (`None`): the manifest's list.
        #[serde(
            default,
            deserialize_with = "crate::capabilities::http::rule::checked_optional_http_rules"
        )]
        pub allow_http: Option<Vec<String>>,
        /// Directories mounted read-only at the same path (set, even empty: replaces the
        /// manifest's).
        #[serde(default)]
        pub read_dirs: Option<Vec<PathBuf>>,
        /// Environment variables passed through (set, even empty: replaces the manifest's).
        #[serde(default)]
        pub env: Option<Vec<String>>,
        /// Datasources the plugin may query read-only (set, even empty: replaces the
        /// manifest's).
        #[serde(default)]
        pub datasources: Option<Vec<String>>,
        /// Statement timeout of the plugin's SQL queries (default 2s).
        #[serde(default, with = "humantime_serde::option")]
        pub sql_statement_timeout: Option<Duration>,
        /// Row limit of the plugin's SQL queries (default 1000).
        #[serde(default)]
        pub sql_row_limit: Option<u32>,
        /// Opt in to warm instances: reuse one instance for up to this many runs (default:
        /// a fresh instance per run). State then carries over between runs.
        #[serde(default)]
        pub warm_runs: Option<u32>,
        /// With `warm_runs`: retire a warm instance after this long (default 10m).
        #[serde(default, with = "humantime_serde::option")]
        pub warm_max_age: Option<Duration>,
    }
}

vitals_config::check_config! {
    /// `NAME.toml` next to `NAME.wasm`: the plugin's own suggested config and grants. The
    /// operator's `[checks.NAME]` table wins key by key (a list it sets, even `[]`, replaces the
    /// manifest's list; `config` maps are merged).
    pub struct PluginManifest {
        /// Linear memory cap per run.
        #[serde(default)]
        pub memory_limit: Option<ByteSize>,
        /// Output cap.
        #[serde(default)]
        pub output_limit: Option<ByteSize>,
        /// Consecutive traps before quarantine.
        #[serde(default)]
        pub quarantine_after: Option<u32>,
        /// Config values.
        #[serde(default)]
        pub config: BTreeMap<String, String>,
        /// Outgoing HTTP destinations.
        #[serde(default, deserialize_with = "crate::capabilities::http::rule::checked_http_rules")]
        pub allow_http: Vec<String>,
        /// Read-only directories.
        #[serde(default)]
        pub read_dirs: Vec<PathBuf>,
        /// Environment variables.
        #[serde(default)]
        pub env: Vec<String>,
        /// Datasources.
        #[serde(default)]
        pub datasources: Vec<String>,
        /// SQL statement timeout.
        #[serde(default, with = "humantime_serde::option")]
        pub sql_statement_timeout: Option<Duration>,
        /// SQL row limit.
        #[serde(default)]
        pub sql_row_limit: Option<u32>,
        /// Warm instance runs.
        #[serde(default)]
        pub warm_runs: Option<u32>,
        /// Warm instance age.
        #[serde(default, with = "humantime_serde::option")]
        pub warm_max_age: Option<Duration>,
    }
}

impl Default for PluginCheckConfig {
    /// Nothing set: no file, no grants, every setting from the manifest, the plugin's
    /// suggestions or the defaults.
    fn default() -> Self {
        PluginCheckConfig {
            file: None,
            memory_limit: None,
            output_limit: None,
            quarantine_after: None,
            config: BTreeMap::new(),
            allow_http: None,
            read_dirs: None,
            env: None,
            datasources: None,
            sql_statement_timeout: None,
            sql_row_limit: None,
            warm_runs: None,
            warm_max_age: None,
            interval: None,
            timeout: None,
            critical: None,
            failures_before_fail: None,
            successes_before_pass: None,
            backpressure_source: None,
        }
    }
}

impl PluginManifest {
    /// Read `NAME.toml` next to `wasm`, if it exists.
    pub fn for_wasm(wasm: &Path) -> Result<Option<Self>, PluginError> {
        Self::read_if_present(&wasm.with_extension("toml"))
    }

    /// Read and validate the manifest at `path` with the daemon's rules (errors name the file,
    /// line, column and key).
    pub fn read(path: &Path) -> Result<Self, PluginError> {
        Self::read_if_present(path)?.ok_or_else(|| PluginError::Manifest {
            file: path.to_owned(),
            message: "no such file".to_owned(),
        })
    }

    fn read_if_present(path: &Path) -> Result<Option<Self>, PluginError> {
        let failed = |message: String| PluginError::Manifest {
            file: path.to_owned(),
            message,
        };
        let bytes = match manifest_bytes(path) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(None),
            Err(e) => return Err(failed(e.to_string())),
        };
        let text = String::from_utf8(bytes).map_err(|_| failed("not UTF-8 text".to_owned()))?;
        vitals_config::document::parse(&text, path)
            .map(Some)
            .map_err(PluginError::InvalidManifest)
    }
}

/// A manifest is a few lines of TOML: a bigger file is refused after reading this much, so a
/// huge or endless file next to a plugin costs the host no more.
pub(crate) const MAX_MANIFEST_BYTES: u64 = 64 * 1024;

/// The bytes of the manifest at `path`, `None` if there is none; an error for a file over
/// [`MAX_MANIFEST_BYTES`].
pub(crate) fn manifest_bytes(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    file.take(MAX_MANIFEST_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than the {} KiB a manifest may be",
            MAX_MANIFEST_BYTES / 1024
        )));
    }
    Ok(Some(bytes))
}

impl PluginCheckConfig {
    /// Merge a manifest under this config (this config wins).
    pub fn with_manifest(&self, manifest: Option<PluginManifest>) -> PluginCheckConfig {
        let mut c = self.clone();
        let Some(m) = manifest else { return c };
        c.memory_limit = c.memory_limit.or(m.memory_limit);
        c.output_limit = c.output_limit.or(m.output_limit);
        c.quarantine_after = c.quarantine_after.or(m.quarantine_after);
        let mut config = m.config;
        config.extend(std::mem::take(&mut c.config));
        c.config = config;
        // A list the operator set, even empty, wins: that is how a grant is taken back.
        c.allow_http = c.allow_http.or(Some(m.allow_http));
        c.read_dirs = c.read_dirs.or(Some(m.read_dirs));
        c.env = c.env.or(Some(m.env));
        c.datasources = c.datasources.or(Some(m.datasources));
        c.sql_statement_timeout = c.sql_statement_timeout.or(m.sql_statement_timeout);
        c.sql_row_limit = c.sql_row_limit.or(m.sql_row_limit);
        c.warm_runs = c.warm_runs.or(m.warm_runs);
        c.warm_max_age = c.warm_max_age.or(m.warm_max_age);
        c.interval = c.interval.or(m.interval);
        c.timeout = c.timeout.or(m.timeout);
        c.critical = c.critical.or(m.critical);
        c.failures_before_fail = c.failures_before_fail.or(m.failures_before_fail);
        c.successes_before_pass = c.successes_before_pass.or(m.successes_before_pass);
        c.backpressure_source = c.backpressure_source.or(m.backpressure_source);
        c
    }

    /// The warm-instance policy this config asks for, if any.
    pub fn warm_policy(&self) -> Option<WarmPolicy> {
        let max_runs = self.warm_runs.filter(|n| *n > 1)?;
        Some(WarmPolicy {
            max_runs,
            max_age: self.warm_max_age.unwrap_or(Duration::from_secs(600)),
        })
    }

    /// The capabilities this config grants.
    pub fn grants(&self) -> PluginGrants {
        PluginGrants {
            config: self.config.clone(),
            allow_http: self.allow_http.clone().unwrap_or_default(),
            read_dirs: self.read_dirs.clone().unwrap_or_default(),
            env: self.env.clone().unwrap_or_default(),
            datasources: self.datasources.clone().unwrap_or_default(),
            sql_statement_timeout: self.sql_statement_timeout,
            sql_row_limit: self.sql_row_limit,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn manifest_asking_for_everything() -> PluginManifest {
        vitals_config::document::parse(
            "allow_http = [\"https://api.example.com:443\"]\nread_dirs = [\"/etc\"]\n\
             env = [\"HOME\"]\ndatasources = [\"main\"]\n",
            Path::new("p.toml"),
        )
        .unwrap()
    }

    #[test]
    fn an_operator_list_set_to_empty_revokes_what_the_manifest_asks_for() {
        let table: PluginCheckConfig = vitals_config::document::parse(
            "allow_http = []\nread_dirs = []\nenv = []\ndatasources = []\n",
            Path::new("vitals.toml"),
        )
        .unwrap();
        let grants = table
            .with_manifest(Some(manifest_asking_for_everything()))
            .grants();
        assert!(grants.allow_http.is_empty(), "{grants:?}");
        assert!(grants.read_dirs.is_empty(), "{grants:?}");
        assert!(grants.env.is_empty(), "{grants:?}");
        assert!(grants.datasources.is_empty(), "{grants:?}");
    }

    #[test]
    fn an_operator_list_replaces_the_manifest_s_and_an_unset_one_keeps_it() {
        let table: PluginCheckConfig =
            vitals_config::document::parse("env = [\"LANG\"]\n", Path::new("vitals.toml")).unwrap();
        let grants = table
            .with_manifest(Some(manifest_asking_for_everything()))
            .grants();
        assert_eq!(grants.env, ["LANG"]);
        assert_eq!(grants.allow_http, ["https://api.example.com:443"]);
        assert_eq!(grants.read_dirs, [PathBuf::from("/etc")]);
        assert_eq!(grants.datasources, ["main"]);
    }

    #[test]
    fn manifest_with_an_allow_http_rule_that_is_not_a_url_is_refused_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("p.toml");
        std::fs::write(
            &manifest,
            "interval = \"5s\"\nallow_http = [\"not a url\"]\n",
        )
        .unwrap();
        let err = PluginManifest::for_wasm(&dir.path().join("p.wasm"))
            .unwrap_err()
            .to_string();
        let expected = format!(
            "plugin manifest {}:2:14: allow_http: \"not a url\": missing scheme",
            manifest.display()
        );
        assert!(err.starts_with(&expected), "{err}");
    }
}
