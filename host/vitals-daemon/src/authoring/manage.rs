//! `vitals plugin list` and `vitals plugin remove`: what a plugin directory (or the daemon
//! watching it) holds, and taking a plugin out again.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::client::{ClientError, DaemonArgs, DaemonClient};
use vitals_wasm::plugin_name;

/// `vitals plugin list`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ListArgs {
    /// The plugin directory (`plugins.dir`) to list, when no daemon is asked.
    #[arg(
        long,
        env = "VITALS_PLUGIN_DIR",
        value_name = "PLUGIN_DIR",
        required_unless_present = "daemon"
    )]
    pub dir: Option<PathBuf>,
    /// With `--daemon`: what it runs instead, with versions, states and last results.
    #[command(flatten)]
    pub daemon: DaemonArgs,
    /// One JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `vitals plugin remove NAME`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RemoveArgs {
    /// The check name (`NAME.wasm` and `NAME.toml` in the plugin directory).
    pub name: String,
    /// The daemon's plugin directory (`plugins.dir`).
    #[arg(long, env = "VITALS_PLUGIN_DIR", value_name = "PLUGIN_DIR")]
    pub dir: PathBuf,
    /// With `--daemon`: wait until it no longer runs the check.
    #[command(flatten)]
    pub daemon: DaemonArgs,
    /// How long to wait for the daemon to drop the check.
    #[arg(long, default_value = "1m", value_parser = humantime::parse_duration)]
    pub wait: Duration,
}

/// Why `list` or `remove` stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ManageError {
    /// A file or directory could not be read or removed.
    #[error("{file}: {error}")]
    Io {
        /// The file.
        file: PathBuf,
        /// What went wrong.
        error: std::io::Error,
    },
    /// No such plugin in the directory.
    #[error("no plugin {name:?} in {dir}{hint}")]
    NotInstalled {
        /// The name asked for.
        name: String,
        /// The plugin directory.
        dir: PathBuf,
        /// The closest installed name, or what is installed.
        hint: String,
    },
    /// The daemon could not be asked.
    #[error(transparent)]
    Daemon(#[from] ClientError),
    /// The config declares the check: without its file it stays, failing.
    #[error(
        "removed {name}.wasm, but the daemon's config declares check {name:?} ([checks.{name}]): \
         it stays, failing with \"{reason}\", until it is removed from the config"
    )]
    Declared {
        /// The check name.
        name: String,
        /// What the daemon says of it now.
        reason: String,
    },
    /// The daemon kept the check past `--wait`.
    #[error("the daemon still runs {name:?} after {waited}")]
    TimedOut {
        /// The check name.
        name: String,
        /// How long was waited.
        waited: String,
    },
}

/// One row of `vitals plugin list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Listed {
    /// The check name.
    pub name: String,
    /// The plugin's version, when a daemon was asked.
    pub version: Option<String>,
    /// running, quarantined, loading, not_loaded (a daemon's word), or installed (a directory's).
    pub state: String,
    /// The last result (`pass: ...`), when a daemon was asked and it has one.
    pub last_result: Option<String>,
    /// Why the latest file was rejected, if it was.
    pub rejected: Option<String>,
    /// The component file.
    pub file: PathBuf,
    /// Its manifest, if there is one.
    pub manifest: Option<PathBuf>,
    /// sha256 of the component.
    pub sha256: String,
}

/// The plugins in `dir`, by name, read from the files alone.
fn from_dir(dir: &Path) -> Result<Vec<Listed>, ManageError> {
    let io = |file: &Path| {
        let file = file.to_owned();
        move |error| ManageError::Io { file, error }
    };
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str().and_then(plugin_name) else {
            continue;
        };
        let file = entry.path();
        let bytes = std::fs::read(&file).map_err(io(&file))?;
        let manifest = file.with_extension("toml");
        rows.push(Listed {
            name: name.to_owned(),
            version: None,
            state: "installed".to_owned(),
            last_result: None,
            rejected: None,
            manifest: manifest.is_file().then_some(manifest),
            sha256: hex::encode(Sha256::digest(&bytes)),
            file,
        });
    }
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rows)
}

/// The plugin checks a daemon runs, with their last results.
async fn from_daemon(daemon: &DaemonClient) -> Result<Vec<Listed>, ManageError> {
    let mut rows = Vec::new();
    for entry in daemon.plugins().await? {
        let name = entry["name"].as_str().unwrap_or_default().to_owned();
        let last_result = daemon.check(&name).await?.and_then(|doc| {
            let state = doc["state"].as_str()?;
            Some(format!(
                "{state}: {}",
                doc["output"].as_str().unwrap_or_default()
            ))
        });
        let file = PathBuf::from(entry["file"].as_str().unwrap_or_default());
        let manifest = file.with_extension("toml");
        rows.push(Listed {
            version: entry["version"]
                .as_str()
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
            state: entry["state"].as_str().unwrap_or("?").to_owned(),
            last_result,
            rejected: entry["rejected"]["reason"].as_str().map(str::to_owned),
            manifest: entry["manifest_sha256"].is_string().then_some(manifest),
            sha256: entry["sha256"].as_str().unwrap_or_default().to_owned(),
            file,
            name,
        });
    }
    Ok(rows)
}

/// `vitals plugin list`: the rows, from the daemon when one is given, else from the directory.
pub(crate) async fn list(args: &ListArgs) -> Result<Vec<Listed>, ManageError> {
    match (args.daemon.client(), &args.dir) {
        (Some(daemon), _) => from_daemon(&daemon).await,
        (None, Some(dir)) => from_dir(dir),
        // clap requires one of the two.
        (None, None) => Ok(Vec::new()),
    }
}

/// The rows as a table, or as JSON with `json`.
pub(crate) fn render(rows: &[Listed], json: bool) -> String {
    if json {
        return serde_json::to_string_pretty(rows).unwrap_or_default();
    }
    if rows.is_empty() {
        return "no plugins".to_owned();
    }
    let dash = || "-".to_owned();
    let table: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.version.clone().unwrap_or_else(dash),
                r.state.clone(),
                match (&r.rejected, &r.last_result) {
                    (Some(reason), _) => format!("rejected: {reason}"),
                    (None, Some(result)) => result.clone(),
                    (None, None) => dash(),
                },
                r.sha256.chars().take(12).collect(),
                r.file.display().to_string(),
            ]
        })
        .collect();
    let head = ["NAME", "VERSION", "STATE", "LAST RESULT", "SHA256", "FILE"].map(str::to_owned);
    let mut widths = head.clone().map(|h| h.chars().count());
    for row in &table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    std::iter::once(&head)
        .chain(&table)
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            cells.join("  ").trim_end().to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `vitals plugin remove NAME`: the component goes first, in one step (the daemon then drops the
/// check: it never runs the component under a half-removed manifest), then its manifest; with a
/// daemon, waits until the check is gone. Returns the files removed.
pub(crate) async fn remove(args: &RemoveArgs) -> Result<Vec<PathBuf>, ManageError> {
    let wasm = args.dir.join(format!("{}.wasm", args.name));
    let installed = plugin_name(&format!("{}.wasm", args.name)).is_some() && wasm.is_file();
    if !installed {
        return Err(not_installed(&args.name, &args.dir));
    }
    let io = |file: &Path| {
        let file = file.to_owned();
        move |error| ManageError::Io { file, error }
    };
    std::fs::remove_file(&wasm).map_err(io(&wasm))?;
    let mut removed = vec![wasm];
    let manifest = args.dir.join(format!("{}.toml", args.name));
    match std::fs::remove_file(&manifest) {
        Ok(()) => removed.push(manifest),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&manifest)(e)),
    }
    if let Some(daemon) = args.daemon.client() {
        wait_until_gone(&daemon, args).await?;
    }
    Ok(removed)
}

async fn wait_until_gone(daemon: &DaemonClient, args: &RemoveArgs) -> Result<(), ManageError> {
    let started = Instant::now();
    loop {
        let Some(entry) = daemon.entry(&args.name).await? else {
            return Ok(());
        };
        // A check the config declares stays, failing, when its file is gone.
        if entry["state"] == "not_loaded"
            && let Some(reason) = entry["rejected"]["reason"].as_str()
            && reason.ends_with("does not exist")
        {
            return Err(ManageError::Declared {
                name: args.name.clone(),
                reason: reason.to_owned(),
            });
        }
        if started.elapsed() >= args.wait {
            return Err(ManageError::TimedOut {
                name: args.name.clone(),
                waited: humantime::format_duration(args.wait).to_string(),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// "No such plugin", with the closest installed name or the list of installed ones.
fn not_installed(name: &str, dir: &Path) -> ManageError {
    let names: Vec<String> = from_dir(dir)
        .map(|rows| rows.into_iter().map(|r| r.name).collect())
        .unwrap_or_default();
    let hint = match vitals_config::closest(name, names.iter().map(String::as_str)) {
        Some(close) => format!("; did you mean {close:?}?"),
        None if names.is_empty() => " (it holds no plugins)".to_owned(),
        None => format!(" (installed: {})", names.join(", ")),
    };
    ManageError::NotInstalled {
        name: name.to_owned(),
        dir: dir.to_owned(),
        hint,
    }
}
