//! `vitals plugin install`: validate a plugin's manifest, put the component and the manifest into
//! a plugin directory atomically, and, given the daemon's URL, wait until that daemon has loaded
//! this exact file (by sha256) and print its first result or why it was rejected.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::cli::RunExit;
use super::client::{ClientError, DaemonArgs, DaemonClient};
use vitals_wasm::plugin_name;
use vitals_wasm::{PluginCheckConfig, PluginError, PluginManifest};
use vitals_wasm::{PluginRuntime, RuntimeConfig};

/// `vitals plugin install FILE.wasm`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct InstallArgs {
    /// The component file.
    pub file: PathBuf,
    /// The plugin's manifest (`NAME.toml`): validated as the daemon does, installed beside the
    /// component. Without it, a manifest already in the directory stays.
    #[arg(long, value_name = "NAME.toml")]
    pub manifest: Option<PathBuf>,
    /// The check name [default: the manifest's file name, else the component's, `_` read as `-`].
    #[arg(long)]
    pub name: Option<String>,
    /// The daemon's plugin directory (`plugins.dir`).
    #[arg(long, env = "VITALS_PLUGIN_DIR", value_name = "PLUGIN_DIR")]
    pub dir: PathBuf,
    /// With `--daemon`: wait until it has loaded this exact file, then print its first result
    /// (or the reason it was rejected).
    #[command(flatten)]
    pub daemon: DaemonArgs,
    /// How long to wait for the daemon to load the file and run it once.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub wait: Duration,
}

/// Why `vitals plugin install` stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InstallError {
    /// The check name cannot be a plugin file's name.
    #[error("check name {0:?}: use letters, digits, '-', '_' and '.' only (it becomes NAME.wasm)")]
    Name(String),
    /// The manifest and the component name different checks, and `--name` does not choose.
    #[error(
        "the manifest {} names check {from_manifest:?}, the component {} names check \
         {from_wasm:?}: rename one to match the other, or choose with --name {from_manifest}",
        manifest.display(),
        wasm.display()
    )]
    NamesDiffer {
        /// The manifest given.
        manifest: PathBuf,
        /// The component given.
        wasm: PathBuf,
        /// The check name the manifest's file name gives.
        from_manifest: String,
        /// The check name the component's file name gives.
        from_wasm: String,
    },
    /// A file could not be read or written.
    #[error("{file}: {error}")]
    Io {
        /// The file.
        file: PathBuf,
        /// What went wrong (in the message, not a `source()`, so a printed chain says it once).
        error: std::io::Error,
    },
    /// The component file is not WebAssembly at all.
    #[error("{0}: not a WebAssembly file (it does not start with \\0asm)")]
    NotWasm(PathBuf),
    /// The manifest is not valid.
    #[error(transparent)]
    Manifest(#[from] PluginError),
    /// The daemon could not be asked, or answered something unexpected.
    #[error(transparent)]
    Daemon(#[from] ClientError),
    /// The plugin would not load: refused before anything was copied.
    #[error("refused before copying: {0}")]
    Refused(String),
    /// The plugin runtime could not be set up to check the component.
    #[error("cannot check the component: {0}")]
    Runtime(String),
    /// The daemon rejected the file.
    #[error("rejected by the daemon: {0}")]
    Rejected(String),
    /// The daemon did not load and run the file in time.
    #[error(
        "the daemon did not load and run {name} (sha256 {sha256}) within {waited}; last seen: {last}"
    )]
    TimedOut {
        /// The check name.
        name: String,
        /// The installed file's sha256.
        sha256: String,
        /// How long was waited.
        waited: String,
        /// What the daemon said last.
        last: String,
    },
}

/// What was installed, and the daemon's first result when it was waited for.
#[derive(Debug, Clone)]
pub(crate) struct Installed {
    /// The check name.
    pub name: String,
    /// The component's path in the plugin directory.
    pub wasm: PathBuf,
    /// The manifest's path in the plugin directory, when one was installed.
    pub manifest: Option<PathBuf>,
    /// sha256 of the component.
    pub sha256: String,
    /// The first result: its state (pass, warn, fail, unknown) and output. For files the daemon
    /// already ran, its latest result.
    pub first_result: Option<(String, String)>,
    /// The version the daemon already ran from exactly these files, if it did.
    pub already_running: Option<String>,
}

impl Installed {
    /// How `vitals plugin install` exits, with `vitals plugin run`'s codes: pass without a daemon
    /// or when the first result passes, else warn or fail as that result says.
    pub(crate) fn exit(&self) -> RunExit {
        match self.first_result.as_ref().map(|(state, _)| state.as_str()) {
            None | Some("pass") => RunExit::Pass,
            Some("warn") => RunExit::Warn,
            Some(_) => RunExit::Fail,
        }
    }
}

/// The check name from `--name`, the manifest's file name or the component's. Without `--name`,
/// a manifest and a component named differently are refused: installing under either name could
/// be a mistake (a renamed manifest would silently add a second plugin beside the first).
fn check_name(args: &InstallArgs) -> Result<String, InstallError> {
    let stem = |p: &Path| {
        p.file_stem()
            .map(|s| s.to_string_lossy().replace('_', "-"))
            .unwrap_or_default()
    };
    let name = match (&args.name, &args.manifest) {
        (Some(name), _) => name.clone(),
        (None, Some(manifest)) => {
            let (from_manifest, from_wasm) = (stem(manifest), stem(&args.file));
            if from_manifest != from_wasm {
                return Err(InstallError::NamesDiffer {
                    manifest: manifest.clone(),
                    wasm: args.file.clone(),
                    from_manifest,
                    from_wasm,
                });
            }
            from_manifest
        }
        (None, None) => stem(&args.file),
    };
    match plugin_name(&format!("{name}.wasm")) {
        Some(_) => Ok(name),
        None => Err(InstallError::Name(name)),
    }
}

/// Write `bytes` to `dir/final_name` through a hidden temporary file, so that the daemon's
/// watcher never reads half a file.
fn write_atomically(dir: &Path, final_name: &str, bytes: &[u8]) -> Result<PathBuf, InstallError> {
    let tmp = dir.join(format!(".{final_name}.{}.tmp", std::process::id()));
    let target = dir.join(final_name);
    let io = |file: &Path| {
        let file = file.to_owned();
        move |error| InstallError::Io { file, error }
    };
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &target).map_err(io(&target))?;
    Ok(target)
}

/// Validate and copy; then, given a daemon, wait for it (reporting progress through
/// `progress`).
pub(crate) async fn install(
    args: &InstallArgs,
    mut progress: impl FnMut(&str),
) -> Result<Installed, InstallError> {
    let name = check_name(args)?;
    let read = |file: &Path| {
        std::fs::read(file).map_err(|error| InstallError::Io {
            file: file.to_owned(),
            error,
        })
    };
    let wasm = read(&args.file)?;
    if !wasm.starts_with(b"\0asm") {
        return Err(InstallError::NotWasm(args.file.clone()));
    }
    let sha256 = sha256_hex(&wasm);
    let parsed = args
        .manifest
        .as_deref()
        .map(PluginManifest::read)
        .transpose()?;
    let manifest = args.manifest.as_deref().map(read).transpose()?;
    if !args.dir.is_dir() {
        return Err(InstallError::Io {
            file: args.dir.clone(),
            error: std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
        });
    }
    let manifest_target = args.dir.join(format!("{name}.toml"));
    let in_place = match (&parsed, manifest_target.is_file()) {
        (None, true) => Some(PluginManifest::read(&manifest_target)?),
        _ => None,
    };
    check_locally(&args.file, &name, parsed.or(in_place), &mut progress).await?;
    // The manifest the daemon will read: the one brought, else the one already in place.
    let manifest_sha256 = match &manifest {
        Some(bytes) => Some(sha256_hex(bytes)),
        None => std::fs::read(&manifest_target).ok().map(|b| sha256_hex(&b)),
    };
    let daemon = args.daemon.client();
    // Asked before the copy, so that only a load (or rejection) after it counts, and so that
    // files equal to what already runs are answered at once: the daemon loads nothing for them.
    let before = match &daemon {
        Some(d) => Some(d.before(&name, &sha256, manifest_sha256.as_deref()).await?),
        None => None,
    };
    // The manifest first: the component's arrival is what makes the daemon load both.
    let manifest = manifest
        .map(|bytes| write_atomically(&args.dir, &format!("{name}.toml"), &bytes))
        .transpose()?;
    let wasm_path = write_atomically(&args.dir, &format!("{name}.wasm"), &wasm)?;
    let mut installed = Installed {
        name,
        wasm: wasm_path,
        manifest,
        sha256,
        first_result: None,
        already_running: None,
    };
    if let (Some(daemon), Some(before)) = (daemon, before) {
        let result = match &before.running_version {
            Some(_) => wait_for_restored(&daemon, &installed, args.wait, &mut progress).await?,
            None => {
                wait_for_first_result(&daemon, &installed, &before, args.wait, &mut progress)
                    .await?
            }
        };
        installed.first_result = Some(result);
        installed.already_running = before.running_version;
    }
    Ok(installed)
}

/// Everything the daemon would refuse that can be known here, before anything is copied: the
/// component's world, `describe()`, the manifest's grants and its config against the keys the
/// plugin declares. Compiles into the plugin commands' cache (`vitals plugin run` shares it).
async fn check_locally(
    file: &Path,
    name: &str,
    manifest: Option<PluginManifest>,
    progress: &mut impl FnMut(&str),
) -> Result<(), InstallError> {
    let refused = |e: &dyn std::fmt::Display| InstallError::Refused(e.to_string());
    let cache_dir = super::cli::user_cache_dir();
    let cached = cache_dir.is_some();
    let runtime = PluginRuntime::new(RuntimeConfig {
        cache_dir,
        ..RuntimeConfig::default()
    })
    .map_err(|e| InstallError::Runtime(e.to_string()))?;
    let config = PluginCheckConfig::default().with_manifest(manifest);
    let grants = config.grants();
    grants.http_rules(name).map_err(|e| refused(&e))?;
    let load = runtime.inspect(file);
    let loaded = super::cli::with_compile_progress(file, cached, load, progress)
        .await
        .map_err(|e| refused(&e))?;
    // A required key the manifest leaves unset may come from the daemon's own `[checks.NAME]`
    // table, which is not known here: only keys the plugin does not read are refused.
    let mut given = grants.config.clone();
    for key in loaded.description().config.iter().flatten() {
        if key.required {
            given.entry(key.name.clone()).or_default();
        }
    }
    loaded
        .description()
        .resolve_config(&given)
        .map_err(|e| refused(&format!("{}: {e}", file.display())))?;
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What the daemon reported of the plugin before the copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Before {
    /// Loads so far (zero for a plugin it does not list).
    loads: u64,
    /// Rejections so far.
    rejections: u64,
    /// The version running, when it runs exactly the files being installed (same component,
    /// same manifest).
    running_version: Option<String>,
}

/// Progress at most this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);
/// How often the daemon is asked.
const POLL: Duration = Duration::from_millis(200);

/// One wait on the daemon, bounded by `--wait`, telling `progress` how it goes at most every
/// [`PROGRESS_EVERY`].
struct Waiting<'a, F> {
    name: &'a str,
    started: Instant,
    wait: Duration,
    last_progress: Option<Instant>,
    progress: &'a mut F,
}

impl<'a, F: FnMut(&str)> Waiting<'a, F> {
    fn new(name: &'a str, wait: Duration, progress: &'a mut F) -> Self {
        Waiting {
            name,
            started: Instant::now(),
            wait,
            last_progress: None,
            progress,
        }
    }

    /// Whether there is time left.
    fn going(&self) -> bool {
        self.started.elapsed() < self.wait
    }

    /// Report `last` if due, then pause before asking again.
    async fn pause(&mut self, last: &str) {
        if self
            .last_progress
            .is_none_or(|t| t.elapsed() >= PROGRESS_EVERY)
        {
            let secs = self.started.elapsed().as_secs();
            (self.progress)(&format!("{}: {last} ({secs} s)", self.name));
            self.last_progress = Some(Instant::now());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Poll the daemon until it has loaded `installed` and run it once.
async fn wait_for_first_result(
    daemon: &DaemonClient,
    installed: &Installed,
    before: &Before,
    wait: Duration,
    progress: &mut impl FnMut(&str),
) -> Result<(String, String), InstallError> {
    let mut waiting = Waiting::new(&installed.name, wait, progress);
    let mut last = "nothing yet".to_owned();
    let mut loaded_at: Option<SystemTime> = None;
    while waiting.going() {
        match loaded_at {
            None => match daemon.plugin_state(installed, before).await? {
                Seen::Loaded(at) => loaded_at = Some(at),
                Seen::Rejected(reason) => return Err(InstallError::Rejected(reason)),
                Seen::Waiting(what) => last = what,
            },
            Some(at) => match daemon.check_result(&installed.name, Some(at)).await? {
                Some(result) => return Ok(result),
                None => last = "loaded; waiting for its first run".to_owned(),
            },
        }
        waiting.pause(&last).await;
    }
    Err(timed_out(installed, wait, last))
}

/// The daemon already runs these files: wait only until it has seen them again (a rejection of
/// the file they replace is withdrawn), then take its latest result.
async fn wait_for_restored(
    daemon: &DaemonClient,
    installed: &Installed,
    wait: Duration,
    progress: &mut impl FnMut(&str),
) -> Result<(String, String), InstallError> {
    let mut waiting = Waiting::new(&installed.name, wait, progress);
    let last = "already running; waiting for the daemon to withdraw the rejection of the file \
                these replace";
    while waiting.going() {
        let rejected = daemon
            .entry(&installed.name)
            .await?
            .is_some_and(|entry| !entry["rejected"].is_null());
        if !rejected && let Some(result) = daemon.check_result(&installed.name, None).await? {
            return Ok(result);
        }
        waiting.pause(last).await;
    }
    Err(timed_out(installed, wait, last.to_owned()))
}

fn timed_out(installed: &Installed, wait: Duration, last: String) -> InstallError {
    InstallError::TimedOut {
        name: installed.name.clone(),
        sha256: installed.sha256.clone(),
        waited: humantime::format_duration(wait).to_string(),
        last,
    }
}

/// What the daemon's `/plugins` says of the installed file.
enum Seen {
    Loaded(SystemTime),
    Rejected(String),
    Waiting(String),
}

/// What the installer asks the daemon.
impl DaemonClient {
    async fn before(
        &self,
        name: &str,
        sha256: &str,
        manifest_sha256: Option<&str>,
    ) -> Result<Before, InstallError> {
        let Some(entry) = self.entry(name).await? else {
            return Ok(Before::default());
        };
        let runs_these = entry["loaded_at"].is_string()
            && entry["sha256"] == sha256
            && entry["manifest_sha256"].as_str() == manifest_sha256;
        Ok(Before {
            loads: entry["loads"].as_u64().unwrap_or(0),
            rejections: entry["rejections"].as_u64().unwrap_or(0),
            running_version: runs_these
                .then(|| entry["version"].as_str().unwrap_or("?").to_owned()),
        })
    }

    async fn plugin_state(
        &self,
        installed: &Installed,
        before: &Before,
    ) -> Result<Seen, InstallError> {
        let Some(entry) = self.entry(&installed.name).await? else {
            return Ok(Seen::Waiting(
                "waiting for the daemon to notice the file (its watcher lets writes settle first)"
                    .to_owned(),
            ));
        };
        let ours = |v: &Value| v["sha256"] == installed.sha256.as_str();
        let count = |key: &str| entry[key].as_u64().unwrap_or(0);
        if ours(&entry)
            && count("loads") > before.loads
            && let Some(at) = entry["loaded_at"].as_str()
        {
            let at = humantime::parse_rfc3339_weak(at)
                .map_err(|e| InstallError::from(self.error(format!("loaded_at {at:?}: {e}"))))?;
            return Ok(Seen::Loaded(at));
        }
        let rejected = &entry["rejected"];
        if ours(rejected) && count("rejections") > before.rejections {
            let reason = rejected["reason"].as_str().unwrap_or("no reason given");
            return Ok(Seen::Rejected(reason.to_owned()));
        }
        let since = entry["loading"]["since"]
            .as_str()
            .and_then(|t| humantime::parse_rfc3339_weak(t).ok());
        Ok(Seen::Waiting(match since {
            Some(since) => {
                let secs = SystemTime::now()
                    .duration_since(since)
                    .unwrap_or_default()
                    .as_secs();
                format!("the daemon is compiling and describing it ({secs} s so far)")
            }
            None => "waiting for the daemon to notice the file".to_owned(),
        }))
    }

    /// The check's state and output once it has a result (from at or after `loaded_at`, if
    /// given).
    async fn check_result(
        &self,
        name: &str,
        loaded_at: Option<SystemTime>,
    ) -> Result<Option<(String, String)>, InstallError> {
        let Some(doc) = self.check(name).await? else {
            return Ok(None);
        };
        // Both times are the daemon's, in milliseconds: a run of the replaced version that ended
        // before the load is not taken for the new one's.
        let fresh = doc["time"]
            .as_str()
            .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
            .is_some_and(|t| loaded_at.is_none_or(|at| t >= at));
        let state = doc["state"].as_str();
        Ok(match (fresh, state) {
            (true, Some(state)) => {
                let output = doc["output"].as_str().unwrap_or_default().to_owned();
                Some((state.to_owned(), output))
            }
            _ => None,
        })
    }
}
