//! Per-plugin statistics: the `GET /plugins` view and the plugin metrics.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::runtime::failure::RunFailure;
use crate::runtime::quarantine::QuarantineState;

mod metrics;

/// Identity of the plugin behind a check, replaced on reload.
#[derive(Debug, Clone, Default)]
struct Identity {
    plugin: String,
    version: String,
    file: PathBuf,
    sha256: String,
    /// sha256 of the `NAME.toml` it was loaded with, if any.
    manifest_sha256: Option<String>,
    loaded_at: Option<SystemTime>,
}

/// Counters of one plugin check. Updated by its runs, read by views and metrics.
#[derive(Debug)]
pub struct PluginStats {
    identity: Mutex<Identity>,
    runs: AtomicU64,
    traps: AtomicU64,
    timeouts: AtomicU64,
    oom: AtomicU64,
    duration_nanos: AtomicU64,
    memory_peak: AtomicU64,
    quarantined: AtomicBool,
    quarantine: Mutex<QuarantineState>,
    last_error: Mutex<Option<String>>,
    pub(crate) logs_emitted: AtomicU64,
    pub(crate) logs_dropped: AtomicU64,
    rejection: Mutex<Option<Rejection>>,
    loading: Mutex<Option<Loading>>,
    loads: AtomicU64,
    rejections: AtomicU64,
}

/// A plugin file being loaded (read, compiled, described), and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Loading {
    /// The file.
    pub file: PathBuf,
    /// When the load began (RFC 3339).
    pub since: String,
}

/// A plugin file that was not loaded, and why. The previous version, if any, keeps running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// The rejected file.
    pub file: PathBuf,
    /// sha256 of the rejected file, when it could be read.
    pub sha256: Option<String>,
    /// Why, e.g. "not a valid WebAssembly component: ...".
    pub reason: String,
    /// When (RFC 3339).
    pub at: String,
}

impl Default for PluginStats {
    fn default() -> Self {
        PluginStats {
            identity: Mutex::default(),
            runs: AtomicU64::new(0),
            traps: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            oom: AtomicU64::new(0),
            duration_nanos: AtomicU64::new(0),
            memory_peak: AtomicU64::new(0),
            quarantined: AtomicBool::new(false),
            quarantine: Mutex::new(QuarantineState::Active {
                consecutive_traps: 0,
            }),
            last_error: Mutex::new(None),
            logs_emitted: AtomicU64::new(0),
            logs_dropped: AtomicU64::new(0),
            rejection: Mutex::new(None),
            loading: Mutex::new(None),
            loads: AtomicU64::new(0),
            rejections: AtomicU64::new(0),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl PluginStats {
    /// Record which plugin file now backs this check.
    pub(crate) fn set_identity(
        &self,
        plugin: &str,
        version: &str,
        file: PathBuf,
        sha256: &str,
        loaded_at: SystemTime,
    ) {
        *lock(&self.identity) = Identity {
            plugin: plugin.to_owned(),
            version: version.to_owned(),
            file,
            sha256: sha256.to_owned(),
            manifest_sha256: None,
            loaded_at: Some(loaded_at),
        };
    }

    /// Record the manifest the running version was loaded with (its bytes' sha256), so that an
    /// installer can tell whether the files it brings are what already runs.
    pub(crate) fn set_manifest(&self, manifest: Option<&[u8]>) {
        lock(&self.identity).manifest_sha256 = manifest.map(crate::runtime::cache::sha256_hex);
    }

    /// Record one finished run (trapped or not).
    pub(crate) fn record_run(
        &self,
        wall: Duration,
        peak_memory: u64,
        failure: Option<&RunFailure>,
    ) {
        self.runs.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(wall.as_nanos()).unwrap_or(u64::MAX);
        self.duration_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.memory_peak.fetch_max(peak_memory, Ordering::Relaxed);
        if let Some(failure) = failure {
            if failure.is_trap() {
                self.traps.fetch_add(1, Ordering::Relaxed);
            }
            match failure {
                RunFailure::Deadline(_) => self.timeouts.fetch_add(1, Ordering::Relaxed),
                RunFailure::Memory(_) => self.oom.fetch_add(1, Ordering::Relaxed),
                _ => 0,
            };
            *lock(&self.last_error) = Some(failure.to_string());
        }
    }

    /// Record an error shown as `last_error`: a rejected reload (the previous version keeps
    /// running), an error the guest returned, or a result over the output cap.
    pub fn record_error(&self, message: impl Into<String>) {
        *lock(&self.last_error) = Some(message.into());
    }

    /// Loading `file` has begun (until it is loaded or rejected). A retry of the same file
    /// (one that was still being written) keeps the first time.
    pub(crate) fn record_loading(&self, file: PathBuf) {
        let mut loading = lock(&self.loading);
        if loading.as_ref().is_none_or(|l| l.file != file) {
            let since = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
            *loading = Some(Loading { file, since });
        }
    }

    /// A version was loaded: count it and clear any earlier rejection.
    pub(crate) fn record_load(&self) {
        self.loads.fetch_add(1, Ordering::Relaxed);
        *lock(&self.rejection) = None;
        *lock(&self.loading) = None;
    }

    /// A file was rejected; the previous version (if any) keeps running.
    pub(crate) fn record_rejection(&self, file: PathBuf, sha256: Option<String>, reason: String) {
        self.rejections.fetch_add(1, Ordering::Relaxed);
        *lock(&self.loading) = None;
        *lock(&self.rejection) = Some(Rejection {
            file,
            sha256,
            reason,
            at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        });
    }

    /// The files of the running version are back (a rejected file was replaced by the one that
    /// runs): the rejection no longer describes anything. Whether there was one to withdraw.
    pub(crate) fn withdraw_rejection(&self) -> bool {
        *lock(&self.loading) = None;
        lock(&self.rejection).take().is_some()
    }

    /// The latest rejected file, until a good one is loaded or the running version's files are
    /// back.
    pub fn rejection(&self) -> Option<Rejection> {
        lock(&self.rejection).clone()
    }

    /// Whether any version of this plugin is loaded.
    pub fn is_loaded(&self) -> bool {
        lock(&self.identity).loaded_at.is_some()
    }

    pub(crate) fn set_quarantine(&self, state: QuarantineState) {
        self.quarantined.store(
            matches!(state, QuarantineState::Quarantined { .. }),
            Ordering::Relaxed,
        );
        *lock(&self.quarantine) = state;
    }

    /// Completed and trapped runs so far.
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// Log lines dropped by the rate limit so far.
    pub fn logs_dropped(&self) -> u64 {
        self.logs_dropped.load(Ordering::Relaxed)
    }

    /// Log lines written so far.
    pub fn logs_emitted(&self) -> u64 {
        self.logs_emitted.load(Ordering::Relaxed)
    }
}

/// Whether a plugin check runs, and what it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginState {
    /// A version is loaded and runs.
    Running,
    /// A version is loaded but skipped after repeated traps.
    Quarantined,
    /// The first version's file is being loaded (see `loading`).
    Loading,
    /// No version could be loaded yet (see `rejected`).
    NotLoaded,
}

/// One plugin check as shown by `GET /plugins`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginView {
    /// The check name.
    pub name: String,
    /// Running, quarantined or not loaded.
    pub state: PluginState,
    /// The plugin's own name (from `describe()`).
    pub plugin: String,
    /// The plugin's own version.
    pub version: String,
    /// The `.wasm` file.
    pub file: PathBuf,
    /// sha256 of the file.
    pub sha256: String,
    /// sha256 of the manifest (`NAME.toml`) it was loaded with; `None` without one.
    pub manifest_sha256: Option<String>,
    /// When it was loaded (RFC 3339, milliseconds).
    pub loaded_at: Option<String>,
    /// Quarantine state.
    pub quarantine: QuarantineState,
    /// The last trap or load error.
    pub last_error: Option<String>,
    /// The latest file that was rejected, until a good one replaces it or the running
    /// version's files are back.
    pub rejected: Option<Rejection>,
    /// The file being loaded now (a first version or a new one), and since when.
    pub loading: Option<Loading>,
    /// Versions loaded so far (the first load and every reload).
    pub loads: u64,
    /// Files rejected so far.
    pub rejections: u64,
    /// Runs so far.
    pub runs: u64,
    /// Runs that trapped (any reason).
    pub traps: u64,
    /// Runs past their deadline.
    pub timeouts: u64,
    /// Runs past their memory limit.
    pub oom: u64,
    /// Highest memory of any run, in bytes.
    pub memory_peak_bytes: u64,
    /// Log lines dropped by the rate limit.
    pub logs_dropped: u64,
}

/// All plugin checks' statistics, by check name.
#[derive(Debug, Default)]
pub struct PluginRegistry {
    by_name: Mutex<BTreeMap<String, Arc<PluginStats>>>,
}

impl PluginRegistry {
    /// The statistics of check `name`, created on first use.
    pub fn stats(&self, name: &str) -> Arc<PluginStats> {
        lock(&self.by_name)
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    /// Forget check `name` (when it is removed from config).
    pub fn remove(&self, name: &str) {
        lock(&self.by_name).remove(name);
    }

    /// Every plugin check, by name.
    pub fn views(&self) -> Vec<PluginView> {
        let all: Vec<(String, Arc<PluginStats>)> = lock(&self.by_name)
            .iter()
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect();
        all.into_iter()
            .map(|(name, s)| {
                let id = lock(&s.identity).clone();
                let quarantine = lock(&s.quarantine).clone();
                let loading = lock(&s.loading).clone();
                let state = match (&id.loaded_at, &quarantine) {
                    (None, _) if loading.is_some() => PluginState::Loading,
                    (None, _) => PluginState::NotLoaded,
                    (Some(_), QuarantineState::Quarantined { .. }) => PluginState::Quarantined,
                    (Some(_), QuarantineState::Active { .. }) => PluginState::Running,
                };
                PluginView {
                    name,
                    state,
                    plugin: id.plugin,
                    version: id.version,
                    file: id.file,
                    sha256: id.sha256,
                    manifest_sha256: id.manifest_sha256,
                    loaded_at: id
                        .loaded_at
                        .map(|t| humantime::format_rfc3339_millis(t).to_string()),
                    quarantine,
                    last_error: lock(&s.last_error).clone(),
                    rejected: s.rejection(),
                    loading,
                    loads: s.loads.load(Ordering::Relaxed),
                    rejections: s.rejections.load(Ordering::Relaxed),
                    runs: s.runs(),
                    traps: s.traps.load(Ordering::Relaxed),
                    timeouts: s.timeouts.load(Ordering::Relaxed),
                    oom: s.oom.load(Ordering::Relaxed),
                    memory_peak_bytes: s.memory_peak.load(Ordering::Relaxed),
                    logs_dropped: s.logs_dropped(),
                }
            })
            .collect()
    }

    /// The views as a JSON array (the `GET /plugins` body).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.views()).unwrap_or(serde_json::Value::Null)
    }
}

impl vitals::DocumentSource for PluginRegistry {
    fn document(&self) -> serde_json::Value {
        self.to_json()
    }
}

impl vitals::PendingSource for PluginRegistry {
    fn pending(&self, name: &str) -> Option<String> {
        let stats = lock(&self.by_name).get(name)?.clone();
        if let Some(l) = lock(&stats.loading).as_ref() {
            return Some(format!(
                "loading: {} since {} (compiling and describing it; large components take seconds)",
                l.file.display(),
                l.since
            ));
        }
        if stats.is_loaded() {
            // Loaded an instant ago; its check is being registered.
            return Some("loading: loaded, its first snapshot is being published".to_owned());
        }
        let r = stats.rejection()?;
        Some(format!(
            "rejected: {} ({} at {}; see /plugins)",
            r.reason,
            r.file.display(),
            r.at
        ))
    }

    fn starting(&self) -> Option<String> {
        const NAMED: usize = 5;
        let by_name = lock(&self.by_name);
        let loading: Vec<&str> = by_name
            .iter()
            .filter(|(_, s)| lock(&s.loading).is_some())
            .map(|(name, _)| name.as_str())
            .collect();
        let n = loading.len();
        let plural = if n == 1 { "" } else { "s" };
        let more = if n > NAMED { ", ..." } else { "" };
        let named = loading[..n.min(NAMED)].join(", ");
        (n > 0).then(|| format!("compiling {n} plugin{plural}: {named}{more}"))
    }
}

impl vitals::NotesSource for PluginRegistry {
    fn notes(&self, out: &mut Vec<String>) {
        for view in self.views() {
            let Some(r) = &view.rejected else { continue };
            let running = match view.state {
                PluginState::NotLoaded | PluginState::Loading => "no version is loaded".to_owned(),
                _ => format!("version {} keeps running", view.version),
            };
            out.push(format!(
                "plugin '{}': {} rejected at {}: {}; {running}",
                view.name,
                r.file.display(),
                r.at,
                r.reason
            ));
        }
    }
}
