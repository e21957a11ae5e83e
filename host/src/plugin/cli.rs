//! `vitals plugin run` and `vitals plugin inspect`, as library functions the binary mounts.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::PluginError;
use super::check::PluginCheck;
use super::engine::{PluginRuntime, RuntimeConfig};
use super::grants::PluginGrants;
use super::limits::{ByteSize, RunLimits};
use super::loader::Description;
use super::quarantine::QuarantinePolicy;
use crate::check::{Check, Outcome};
use crate::datasource::{DatasourceConfig, Datasources};

/// `vitals plugin run FILE.wasm`: run a plugin once and print what it returned.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The component file.
    pub file: PathBuf,
    /// A config value for the plugin (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// Grant outgoing HTTP to `scheme://host:port` (wildcards allowed; repeatable).
    #[arg(long = "allow-http", value_name = "ORIGIN")]
    pub allow_http: Vec<String>,
    /// Mount a directory read-only at the same path (repeatable).
    #[arg(long = "read-dir", value_name = "DIR")]
    pub read_dir: Vec<PathBuf>,
    /// Pass an environment variable through (repeatable).
    #[arg(long = "env", value_name = "NAME")]
    pub env: Vec<String>,
    /// Grant a datasource, e.g. `main=sqlite://data.db` (repeatable).
    #[arg(long = "datasource", value_name = "NAME=URL")]
    pub datasource: Vec<String>,
    /// Deadline of the run.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Memory limit of the run.
    #[arg(long, default_value = "64MiB")]
    pub memory: ByteSize,
    /// Compile cache directory (default: compile in memory).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
}

/// `vitals plugin inspect FILE.wasm`: what a plugin is and what it imports and exports.
#[derive(Debug, Clone, clap::Args)]
pub struct InspectArgs {
    /// The component file.
    pub file: PathBuf,
}

/// What `plugin run` prints.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The plugin's description.
    pub description: Description,
    /// What the run produced (after limits and output caps).
    pub outcome: Outcome,
    /// Wall time of the run.
    pub wall: Duration,
    /// Peak linear memory, in bytes.
    pub peak_memory: u64,
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.description;
        writeln!(f, "plugin:  {} {} — {}", d.name, d.version, d.summary)?;
        writeln!(f, "status:  {}", self.outcome.status)?;
        writeln!(f, "output:  {}", self.outcome.output)?;
        if let Some(obs) = &self.outcome.observed {
            writeln!(f, "observed: {} {}", obs.value, obs.unit)?;
        }
        for (k, v) in &self.outcome.details {
            writeln!(f, "  {k}: {v}")?;
        }
        writeln!(f, "wall time: {:.3} ms", self.wall.as_secs_f64() * 1000.0)?;
        write!(f, "peak memory: {}", ByteSize(self.peak_memory))
    }
}

/// What `plugin inspect` prints.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The file.
    pub file: PathBuf,
    /// sha256 of the file.
    pub sha256: String,
    /// The plugin's description.
    pub description: Description,
    /// Names of imported interfaces and functions.
    pub imports: Vec<String>,
    /// Names of exported interfaces and functions.
    pub exports: Vec<String>,
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.description;
        writeln!(f, "file:    {}", self.file.display())?;
        writeln!(f, "sha256:  {}", self.sha256)?;
        writeln!(f, "plugin:  {} {}", d.name, d.version)?;
        writeln!(f, "summary: {}", d.summary)?;
        let dur = |x: Option<Duration>| {
            x.map_or("-".to_owned(), |d| {
                humantime::format_duration(d).to_string()
            })
        };
        writeln!(
            f,
            "defaults: interval {} timeout {} critical {}",
            dur(d.defaults.interval),
            dur(d.defaults.timeout),
            d.defaults
                .critical
                .map_or("-".to_owned(), |c| c.to_string())
        )?;
        writeln!(f, "imports:")?;
        for i in &self.imports {
            writeln!(f, "  {i}")?;
        }
        writeln!(f, "exports:")?;
        for e in &self.exports {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

fn split_pair<'a>(raw: &'a str, what: &'static str) -> Result<(&'a str, &'a str), PluginError> {
    raw.split_once('=')
        .ok_or_else(|| PluginError::InvalidGrant {
            plugin: "command line".to_owned(),
            field: what,
            message: format!("{raw:?}: expected NAME=VALUE"),
        })
}

/// Run the plugin in `args` once (a fresh runtime without a disk cache unless `--cache-dir`).
pub async fn run_once(args: &RunArgs) -> Result<RunSummary, PluginError> {
    let runtime = PluginRuntime::new(RuntimeConfig {
        cache_dir: args.cache_dir.clone(),
        ..RuntimeConfig::default()
    })?;
    let mut config = BTreeMap::new();
    for raw in &args.config {
        let (k, v) = split_pair(raw, "config")?;
        config.insert(k.to_owned(), v.to_owned());
    }
    let mut sources = BTreeMap::new();
    for raw in &args.datasource {
        let (name, url) = split_pair(raw, "datasource")?;
        sources.insert(name.to_owned(), DatasourceConfig::new(url));
    }
    let datasources =
        Datasources::new(&sources).map_err(|e| PluginError::Runtime(e.to_string()))?;
    runtime.set_datasources(datasources);
    let grants = PluginGrants {
        config,
        allow_http: args.allow_http.clone(),
        read_dirs: args.read_dir.clone(),
        env: args.env.clone(),
        datasources: sources.keys().cloned().collect(),
        ..PluginGrants::default()
    };
    let loaded = runtime.load(&args.file, grants).await?;
    let limits = RunLimits {
        deadline: args.timeout,
        memory: args.memory,
        ..RunLimits::default()
    };
    let name = loaded.description().name.clone();
    let check = PluginCheck::new(
        &runtime,
        &name,
        loaded.clone(),
        limits,
        QuarantinePolicy::default(),
    )?;
    let outcome = check.run().await;
    let peak_memory = outcome
        .details
        .get("memory_peak_bytes")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    let wall = outcome
        .details
        .get("run_ms")
        .and_then(serde_json::Value::as_f64)
        .map_or(Duration::ZERO, |ms| Duration::from_secs_f64(ms / 1000.0));
    Ok(RunSummary {
        description: loaded.description().clone(),
        outcome,
        wall,
        peak_memory,
    })
}

/// Load the plugin in `args` and list its description, imports and exports.
pub async fn inspect(args: &InspectArgs) -> Result<Inspection, PluginError> {
    let runtime = PluginRuntime::new(RuntimeConfig::default())?;
    let loaded = runtime.load(&args.file, PluginGrants::default()).await?;
    let ty = loaded.component().component_type();
    let engine = runtime.engine();
    Ok(Inspection {
        file: args.file.clone(),
        sha256: loaded.sha256().to_owned(),
        description: loaded.description().clone(),
        imports: ty
            .imports(engine)
            .map(|(name, _)| name.to_owned())
            .collect(),
        exports: ty
            .exports(engine)
            .map(|(name, _)| name.to_owned())
            .collect(),
    })
}
