//! `vitals plugin run` and `vitals plugin inspect`, as library functions the binary mounts.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use vitals::{Outcome, Status};
use vitals_sql::{DatasourceConfig, Datasources};
use vitals_wasm::Description;
use vitals_wasm::PluginError;
use vitals_wasm::QuarantinePolicy;
use vitals_wasm::{ByteSize, RunLimits};
use vitals_wasm::{PluginCheck, PluginRun, Stop};
use vitals_wasm::{PluginCheckConfig, PluginManifest};
use vitals_wasm::{PluginRuntime, RuntimeConfig};

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
    /// The plugin's manifest (`NAME.toml`), read and validated as the daemon does: its grants,
    /// config values, limits and timeout apply, under the options given here.
    #[arg(long, value_name = "NAME.toml")]
    pub manifest: Option<PathBuf>,
    /// Deadline of the run [default: the manifest's `timeout`, else 2s].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,
    /// Memory limit of the run [default: the manifest's `memory_limit`, else 64MiB].
    #[arg(long)]
    pub memory: Option<ByteSize>,
    /// Compile cache directory [default: $XDG_CACHE_HOME/vitals/plugin-cache, else
    /// ~/.cache/vitals/plugin-cache]: a second run of an unchanged component skips its compile.
    #[arg(long, conflicts_with = "no_cache")]
    pub cache_dir: Option<PathBuf>,
    /// Compile in memory: read and write no cache.
    #[arg(long)]
    pub no_cache: bool,
}

impl RunArgs {
    /// Where compiled components are cached, if anywhere: `--cache-dir`, else the user's cache
    /// directory (XDG), unless `--no-cache`.
    pub fn cache(&self) -> Option<PathBuf> {
        if self.no_cache {
            return None;
        }
        if let Some(dir) = &self.cache_dir {
            return Some(dir.clone());
        }
        user_cache_dir()
    }
}

/// The plugin commands' compile cache: `$XDG_CACHE_HOME/vitals/plugin-cache`, else
/// `~/.cache/vitals/plugin-cache`.
pub(crate) fn user_cache_dir() -> Option<PathBuf> {
    let non_empty = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    let base = non_empty("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| non_empty("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("vitals").join("plugin-cache"))
}

/// Wait for `load` (a compile, check and `describe()` of `file`; `cached`: into a compile
/// cache), telling `progress` about a compile that takes more than a second (a JavaScript or
/// Python component's first compile takes 5-25 s, which would otherwise look like a hang).
pub(crate) async fn with_compile_progress<T>(
    file: &std::path::Path,
    cached: bool,
    load: impl std::future::Future<Output = T>,
    progress: &mut impl FnMut(&str),
) -> T {
    let started = std::time::Instant::now();
    tokio::pin!(load);
    let mut ticks =
        tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_AFTER, PROGRESS_EVERY);
    loop {
        tokio::select! {
            loaded = &mut load => return loaded,
            _ = ticks.tick() => progress(&format!(
                "compiling {} ({} s so far{})",
                file.display(),
                started.elapsed().as_secs(),
                if cached { "; cached for the next time" } else { "" },
            )),
        }
    }
}

/// How `vitals plugin run` exits, so a CI script can tell a verdict from a broken plugin. Clap's
/// own usage errors exit 2, so the plugin's meanings start at 10.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunExit {
    /// The check passed.
    Pass,
    /// The check returned `warn`.
    Warn,
    /// The check returned `fail` or `unknown` (its own verdict, or an error it returned).
    Fail,
    /// The sandbox stopped the run: a trap or a limit hit (deadline, memory, stack, output).
    Stopped,
    /// The plugin could not be loaded or set up: a missing file, not a component, the wrong
    /// world, `describe()` trapped, a bad grant, a config key it does not declare or a required
    /// one unset.
    LoadError,
}

impl RunExit {
    /// Every exit, in code order.
    pub const ALL: [RunExit; 5] = [
        RunExit::Pass,
        RunExit::Warn,
        RunExit::Fail,
        RunExit::Stopped,
        RunExit::LoadError,
    ];

    /// The process exit code.
    pub const fn code(self) -> u8 {
        match self {
            RunExit::Pass => 0,
            RunExit::Warn => 10,
            RunExit::Fail => 11,
            RunExit::Stopped => 12,
            RunExit::LoadError => 13,
        }
    }

    /// What the code means, in one line (for `--help` and the README).
    pub const fn meaning(self) -> &'static str {
        match self {
            RunExit::Pass => "pass",
            RunExit::Warn => "warn",
            RunExit::Fail => "fail or unknown",
            RunExit::Stopped => "trap or limit hit (deadline, memory, stack, output)",
            RunExit::LoadError => {
                "load error (missing file, not a component, wrong world, describe() trapped, bad \
                 grant, a config key not declared or a required one unset)"
            }
        }
    }

    /// The exit of a run that loaded: the sandbox's stop, else the plugin's status.
    pub(crate) fn of(run: &PluginRun) -> Self {
        match (run.stop, run.outcome.status) {
            (Some(Stop::Setup), _) => RunExit::LoadError,
            (Some(Stop::Misbehaved), _) => RunExit::Stopped,
            (None, Status::Pass) => RunExit::Pass,
            (None, Status::Warn) => RunExit::Warn,
            (None, Status::Fail | Status::Unknown) => RunExit::Fail,
        }
    }

    /// The exit-code list shown after `vitals plugin run --help`.
    pub fn help() -> String {
        let mut text = String::from("Exit codes:\n");
        for exit in Self::ALL {
            text.push_str(&format!("  {:>2}  {}\n", exit.code(), exit.meaning()));
        }
        text.push_str("   2  usage error (from the argument parser)");
        text
    }
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
    /// How the component was loaded: compiled, or from the cache (with the time it took).
    pub load: String,
    /// The plugin's description.
    pub description: Description,
    /// What the run produced (after limits and output caps).
    pub outcome: Outcome,
    /// Wall time of the run.
    pub wall: Duration,
    /// Peak linear memory, in bytes.
    pub peak_memory: u64,
    /// How the command exits.
    pub exit: RunExit,
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.description;
        writeln!(f, "plugin:  {} {} — {}", d.name, d.version, d.summary)?;
        writeln!(f, "load:    {}", self.load)?;
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
        writeln!(f, "contract: vitals:check@{}", d.contract)?;
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
        match &d.config {
            None => writeln!(
                f,
                "config:  not declared (contract 0.1.0: any key is accepted)"
            )?,
            Some(keys) if keys.is_empty() => {
                writeln!(f, "config:  none (the plugin reads no keys)")?
            }
            Some(keys) => {
                writeln!(f, "config:")?;
                for key in keys {
                    let given = match (&key.default, key.required) {
                        (_, true) => "required".to_owned(),
                        (Some(default), false) => format!("default {default:?}"),
                        (None, false) => "optional".to_owned(),
                    };
                    writeln!(f, "  {} ({given}): {}", key.name, key.help)?;
                }
            }
        }
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

/// Run the plugin in `args` once, in a fresh runtime with the compile cache of [`RunArgs::cache`].
pub async fn run_once(args: &RunArgs) -> Result<RunSummary, PluginError> {
    run_once_with_progress(args, |_| {}).await
}

/// A load (compile) still going after this long is reported, then every [`PROGRESS_EVERY`].
const PROGRESS_AFTER: Duration = Duration::from_secs(1);
const PROGRESS_EVERY: Duration = Duration::from_secs(3);

/// [`run_once`], telling `progress` about a compile that takes more than a second.
pub(crate) async fn run_once_with_progress(
    args: &RunArgs,
    mut progress: impl FnMut(&str),
) -> Result<RunSummary, PluginError> {
    let cache = args.cache();
    let runtime = PluginRuntime::new(RuntimeConfig {
        cache_dir: cache.clone(),
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
    // The command line is the operator's `[checks.NAME]` table: it wins over the manifest key
    // by key, exactly as in the daemon.
    let given = PluginCheckConfig {
        config,
        // A flag not given leaves the manifest's list; the command line cannot revoke one.
        allow_http: Some(args.allow_http.clone()).filter(|l| !l.is_empty()),
        read_dirs: Some(args.read_dir.clone()).filter(|l| !l.is_empty()),
        env: Some(args.env.clone()).filter(|l| !l.is_empty()),
        datasources: Some(sources.keys().cloned().collect::<Vec<_>>()).filter(|l| !l.is_empty()),
        timeout: args.timeout,
        memory_limit: args.memory,
        ..PluginCheckConfig::default()
    };
    let manifest = args
        .manifest
        .as_deref()
        .map(PluginManifest::read)
        .transpose()?;
    let merged = given.with_manifest(manifest);
    let grants = merged.grants();
    let started = std::time::Instant::now();
    let loaded = with_compile_progress(
        &args.file,
        cache.is_some(),
        runtime.load(&args.file, grants),
        &mut progress,
    )
    .await?;
    let took = started.elapsed().as_secs_f64() * 1000.0;
    let load = match (&cache, runtime.cache().hits()) {
        (Some(dir), 0) => format!("compiled in {took:.0} ms, cached in {}", dir.display()),
        (Some(dir), _) => format!("{took:.1} ms from the compile cache in {}", dir.display()),
        (None, _) => format!("compiled in {took:.0} ms (no cache)"),
    };
    let defaults = RunLimits::default();
    let limits = RunLimits {
        deadline: merged.timeout.unwrap_or(defaults.deadline),
        memory: merged.memory_limit.unwrap_or(defaults.memory),
        output: merged.output_limit.unwrap_or(defaults.output),
        ..defaults
    };
    let name = loaded.description().name.clone();
    let check = PluginCheck::new(
        &runtime,
        &name,
        loaded.clone(),
        limits,
        QuarantinePolicy::default(),
    )?;
    let run = check.run_plugin().await;
    let exit = RunExit::of(&run);
    let outcome = run.outcome;
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
        load,
        description: loaded.description().clone(),
        outcome,
        wall,
        peak_memory,
        exit,
    })
}

/// Load the plugin in `args` and list its description, imports and exports.
pub async fn inspect(args: &InspectArgs) -> Result<Inspection, PluginError> {
    let runtime = PluginRuntime::new(RuntimeConfig::default())?;
    let loaded = runtime.inspect(&args.file).await?;
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
