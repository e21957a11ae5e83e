//! Configuration: the TOML file, its defaults and its validation.
//!
//! Every section and key is optional; unknown keys are rejected. Durations are written like
//! `"500ms"`, `"5s"`, `"2m"`. String values that hold secrets (tokens, DSNs) may reference the
//! environment as `${NAME}` or `${NAME:-default}`. An invalid file yields one [`ConfigError`] naming
//! the file, line, column and key. `vitals.example.toml` at the repository root documents every
//! key with its default.

mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use vitals::BackpressureConfig;
use vitals::EvaluatorConfig;
use vitals_sql::BuiltinCheckConfig;
use vitals_sql::DatasourceConfig;
use vitals_wasm::{ByteSize, PluginCheckConfig, RuntimeConfig};

pub(crate) use vitals_config::CommonSettings;
use vitals_config::document as error;
pub use vitals_config::document::ConfigError;

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[service]`: how the service names itself.
    #[serde(default)]
    pub service: ServiceConfig,
    /// `[http]`: the probe server.
    #[serde(default)]
    pub http: HttpConfig,
    /// `[grpc]`: the optional gRPC health service.
    #[serde(default)]
    pub grpc: GrpcConfig,
    /// `[evaluator]`: scheduling and staleness.
    #[serde(default)]
    pub evaluator: EvaluatorConfig,
    /// `[backpressure]`: tiers, dwell and Retry-After.
    #[serde(default)]
    pub backpressure: BackpressureConfig,
    /// `[datasources.NAME]`: database connections shared by checks and granted plugins.
    #[serde(default)]
    pub datasources: BTreeMap<String, DatasourceConfig>,
    /// `[checks.NAME]`: one table per check; `type` selects the kind.
    #[serde(default)]
    pub checks: BTreeMap<String, CheckConfig>,
    /// `[plugins]`: the WebAssembly runtime shared by all plugin checks.
    #[serde(default)]
    pub plugins: PluginsConfig,
}

/// `[plugins]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// The watched plugin directory: `NAME.wasm` in it is check `NAME` (settings and grants from
    /// `NAME.toml` beside it and from `[checks.NAME]`). Unset: only plugin checks in the config.
    pub dir: Option<PathBuf>,
    /// Quiet time after a file event before plugins are reloaded.
    #[serde(with = "humantime_serde")]
    pub debounce: Duration,
    /// Longest wait for that quiet time: a file rewritten non-stop is still looked at this
    /// long after its first change.
    #[serde(with = "humantime_serde")]
    pub debounce_max: Duration,
    /// A file modified more recently than this that fails to load is taken to be still being
    /// written: it is retried, and rejected only once unchanged this long.
    #[serde(with = "humantime_serde")]
    pub settle: Duration,
    /// Look at every plugin file this often even without file events.
    #[serde(with = "humantime_serde")]
    pub rescan: Duration,
    /// Where compiled plugins are cached (default `<data_dir>/plugin-cache`).
    pub cache_dir: Option<PathBuf>,
    /// Largest memory limit a plugin may be given, e.g. "256MiB".
    pub max_memory: ByteSize,
    /// Plugin instances that may exist at once.
    pub max_instances: u32,
    /// Use wasmtime's pooling allocator.
    pub pooling: bool,
    /// Largest `.wasm` file accepted, e.g. "64MiB".
    pub max_file_size: ByteSize,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        let rt = RuntimeConfig::default();
        let watch = vitals_wasm::WatchConfig::default();
        PluginsConfig {
            dir: None,
            debounce: watch.debounce,
            debounce_max: watch.max_delay,
            settle: vitals_wasm::SupervisorConfig::default().settle,
            rescan: watch.rescan,
            cache_dir: None,
            max_memory: rt.max_memory,
            max_instances: rt.max_instances,
            pooling: rt.pooling,
            max_file_size: rt.max_file_size,
        }
    }
}

impl Config {
    /// The plugin runtime settings this config asks for.
    pub fn runtime_config(&self) -> RuntimeConfig {
        RuntimeConfig {
            cache_dir: Some(
                self.plugins
                    .cache_dir
                    .clone()
                    .unwrap_or_else(|| self.service.data_dir.join("plugin-cache")),
            ),
            max_memory: self.plugins.max_memory,
            max_instances: self.plugins.max_instances,
            pooling: self.plugins.pooling,
            max_file_size: self.plugins.max_file_size,
            ..RuntimeConfig::default()
        }
    }

    /// How plugin files are followed.
    pub fn supervisor_config(&self) -> vitals_wasm::SupervisorConfig {
        vitals_wasm::SupervisorConfig {
            dir: self.plugins.dir.clone(),
            settle: self.plugins.settle,
            prune_cache: true,
        }
    }

    /// When plugin files are looked at.
    pub fn watch_config(&self) -> vitals_wasm::WatchConfig {
        vitals_wasm::WatchConfig {
            debounce: self.plugins.debounce,
            max_delay: self.plugins.debounce_max,
            rescan: self.plugins.rescan,
        }
    }
}

/// `[service]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// The `serviceId` in health+json.
    pub id: String,
    /// Where the daemon keeps its files (compile cache, the embedded SQLite database).
    pub data_dir: PathBuf,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            id: "vitals".to_owned(),
            data_dir: PathBuf::from("data"),
        }
    }
}

/// `[http]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Bearer token for details and admin endpoints (`${ENV}` allowed). Unset: details are open
    /// and admin endpoints are disabled.
    pub token: Option<vitals_config::Secret>,
    /// After SIGTERM/SIGINT, how long to keep answering (readiness 503 "draining") before exit.
    #[serde(with = "humantime_serde")]
    pub drain: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9000)),
            token: None,
            drain: Duration::from_secs(5),
        }
    }
}

/// `[grpc]`: the gRPC health checking protocol v1 (`grpc.health.v1.Health`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    /// Address to serve it on. Unset: no gRPC listener.
    pub listen: Option<SocketAddr>,
}

vitals_config::check_config! {
    /// `type = "heartbeat"`: a worker that must `POST /health/heartbeat/NAME` within `ttl`.
    pub struct HeartbeatCheckConfig {
        /// Longest allowed silence, e.g. "30s".
        #[serde(with = "humantime_serde")]
        pub ttl: Duration,
    }
}

/// One `[checks.NAME]` table, by its `type`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CheckConfig {
    /// A worker heartbeat.
    Heartbeat(HeartbeatCheckConfig),
    /// A WebAssembly component check.
    Plugin(PluginCheckConfig),
    /// A built-in infrastructure check (database, queues): every other `type`.
    #[serde(untagged)]
    Builtin(BuiltinCheckConfig),
}

impl CheckConfig {
    /// The common settings written in the table.
    pub fn common(&self) -> CommonSettings {
        match self {
            CheckConfig::Heartbeat(c) => c.common(),
            CheckConfig::Plugin(c) => c.common(),
            CheckConfig::Builtin(c) => c.common(),
        }
    }

    /// The built-in infrastructure check this table describes, if it is one.
    pub fn builtin(&self) -> Option<&BuiltinCheckConfig> {
        match self {
            CheckConfig::Heartbeat(_) | CheckConfig::Plugin(_) => None,
            CheckConfig::Builtin(c) => Some(c),
        }
    }
}

/// Read and validate a config file.
pub(crate) fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Io {
        file: path.to_owned(),
        error,
    })?;
    parse(&text, path)
}

/// Parse and validate config text; `file` is only used in messages. Plugin check files must
/// exist (relative paths are from the working directory).
/// A file that parses but breaks rules is refused with every broken rule at once
/// ([`ConfigError::Several`]); a syntax or type error stops at that error.
pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
    parse_checked(text, file, true)
}

/// [`parse`], except that a plugin check's `file` need not exist: for the embedded default,
/// whose shipped plugins are left out when they have not been built.
pub(crate) fn parse_allowing_missing_plugin_files(
    text: &str,
    file: &Path,
) -> Result<Config, ConfigError> {
    parse_checked(text, file, false)
}

fn parse_checked(text: &str, file: &Path, plugin_files: bool) -> Result<Config, ConfigError> {
    let de =
        toml::de::Deserializer::parse(text).map_err(|e| error::from_toml(e, "", text, file))?;
    let mut cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        // `[checks.NAME]` is an internally tagged enum: serde buffers the table and the error
        // loses its key and position. Deserializing that one table by its type finds them.
        if let Some(name) = key.strip_prefix("checks.")
            && let Some(precise) = check_table_error(text, file, name)
        {
            return precise;
        }
        error::from_toml(e.into_inner(), &key, text, file)
    })?;
    interpolate_plugin_values(&mut cfg, text, file)?;
    let mut errors = Vec::new();
    validate::values(&cfg, text, file, &mut errors);
    if plugin_files {
        validate::plugin_files(&cfg, text, file, &mut errors);
    }
    ConfigError::all(errors)?;
    Ok(cfg)
}

/// The precise error inside `[checks.NAME]`, found by deserializing the table as its `type`.
fn check_table_error(text: &str, file: &Path, name: &str) -> Option<ConfigError> {
    fn precise<T: serde::de::DeserializeOwned>(
        table: toml::Table,
    ) -> Option<(String, toml::de::Error)> {
        serde_path_to_error::deserialize::<_, T>(table)
            .err()
            .map(|e| (e.path().to_string(), e.into_inner()))
    }
    let mut table = text.parse::<toml::Table>().ok()?;
    let checks = table.remove("checks")?;
    let mut check = checks.as_table()?.get(name)?.as_table()?.clone();
    let types = || {
        ["heartbeat", "plugin"]
            .iter()
            .chain(BuiltinCheckConfig::NAMES)
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(kind) = check.remove("type") else {
        let message = format!("missing `type`: one of {}", types());
        return Some(error::invalid(
            text,
            file,
            &format!("checks.{name}"),
            message,
        ));
    };
    let (key, error) = match kind.as_str()? {
        "heartbeat" => precise::<HeartbeatCheckConfig>(check),
        "plugin" => precise::<PluginCheckConfig>(check),
        builtin if BuiltinCheckConfig::NAMES.contains(&builtin) => {
            BuiltinCheckConfig::table_error(builtin, check)
                .map(|e| (e.path().to_string(), e.into_inner()))
        }
        unknown => {
            let message = format!("unknown check type \"{unknown}\": one of {}", types());
            return Some(error::invalid(
                text,
                file,
                &format!("checks.{name}.type"),
                message,
            ));
        }
    }?;
    let key = match key.as_str() {
        "" | "." => format!("checks.{name}"),
        inner => format!("checks.{name}.{inner}"),
    };
    Some(error::invalid(
        text,
        file,
        &key,
        error.message().trim().to_owned(),
    ))
}

/// Plugin config values may reference the environment (`${NAME}`), like secrets do.
fn interpolate_plugin_values(cfg: &mut Config, text: &str, file: &Path) -> Result<(), ConfigError> {
    for (name, check) in &mut cfg.checks {
        if let CheckConfig::Plugin(p) = check {
            for (key, value) in &mut p.config {
                *value = vitals_config::interpolate(value).map_err(|e| {
                    error::invalid(
                        text,
                        file,
                        &format!("checks.{name}.config.{key}"),
                        e.to_string(),
                    )
                })?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
