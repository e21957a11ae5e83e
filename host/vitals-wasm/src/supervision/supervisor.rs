//! Keeping the running plugin checks in line with the files: the plugin directory, the plugin
//! checks in the config, and each plugin's manifest.
//!
//! [`PluginSupervisor::reconcile`] is level-triggered: it looks at every plugin file and compares
//! it with what is loaded, so a missed or coalesced file event costs nothing but a later rescan.
//! A changed file is compiled (through the compile cache), checked against the world and
//! described off the hot path, then swapped in through the evaluator's [`Registry`]: runs in
//! flight finish on the old version, the next run uses the new one. A file that fails to load
//! never replaces a good version; its rejection is recorded in the plugin registry (`GET
//! /plugins`, `/metrics`, the status `notes`) and in the log. A file modified less than
//! `settle` ago that fails to load is taken to be still being written and is retried instead.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::PluginError;
use crate::check::plugin_check::PluginCheck;
use crate::check::settings::PluginCheckConfig;
use crate::runtime::engine::PluginRuntime;
use crate::runtime::loader::LoadedPlugin;
use crate::supervision::directory::{self, FileStamp};
use vitals::Registry;
use vitals::{Check, CheckKind, CheckSettings, CheckSpec, Outcome};

/// How the supervisor treats files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisorConfig {
    /// The plugin directory: every `NAME.wasm` in it is check `NAME` (with `NAME.toml` as its
    /// manifest). `None`: only the plugin checks in the config.
    pub dir: Option<PathBuf>,
    /// A file modified less than this long ago that fails to load is assumed to be still being
    /// written: it is retried, and rejected only once it has been unchanged this long.
    pub settle: Duration,
    /// Remove compiled artifacts of files that are gone from the compile cache after each pass.
    pub prune_cache: bool,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig {
            dir: None,
            settle: Duration::from_secs(2),
            prune_cache: true,
        }
    }
}

/// What one plugin check depends on: its files and the operator's table. Equal fingerprints mean
/// nothing to reload.
#[derive(Debug, Clone, PartialEq)]
struct Fingerprint {
    wasm: FileStamp,
    manifest: Option<FileStamp>,
    config: PluginCheckConfig,
}

/// A plugin check the supervisor is responsible for.
#[derive(Debug, Clone)]
struct Wanted {
    file: PathBuf,
    config: PluginCheckConfig,
    /// Declared in the config (a check the operator asked for) or found in the directory.
    declared: bool,
}

/// A file to load, with what was known of it before the load.
struct Load {
    name: String,
    want: Wanted,
    /// `want`'s config with the resolved file.
    config: PluginCheckConfig,
    fingerprint: Fingerprint,
    manifest_bytes: Option<Vec<u8>>,
    /// How much longer the file counts as fresh (still being written).
    fresh_for: Option<Duration>,
}

/// The version a check runs now.
struct Current {
    loaded: LoadedPlugin,
    fingerprint: Fingerprint,
    /// sha256 of the version this one replaced: its compiled artifact stays cached, so rolling
    /// back to it does not recompile.
    previous: Option<String>,
    /// The `NAME.toml` it was loaded with. A ConfigMap update re-projects every file (new
    /// inodes, same bytes): comparing content keeps unchanged plugins from reloading.
    manifest: Option<Vec<u8>>,
}

/// The last attempt that did not produce a running version.
enum Attempt {
    /// Rejected; retried only when the fingerprint changes.
    Rejected(Fingerprint),
    /// Failed while the file was fresh: retried at `retry_at`.
    Deferred(Fingerprint, Instant),
}

#[derive(Default)]
struct State {
    current: BTreeMap<String, Current>,
    attempts: BTreeMap<String, Attempt>,
    /// Checks registered as "not loaded" placeholders (declared, no good version yet).
    placeholders: BTreeSet<String>,
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Checks that got a new version (or were added).
    pub loaded: Vec<String>,
    /// Checks whose latest file was rejected.
    pub rejected: Vec<String>,
    /// Checks removed.
    pub removed: Vec<String>,
    /// Checks whose files are the running version's again after a rejected file: nothing
    /// reloaded, the rejection was withdrawn.
    pub restored: Vec<String>,
    /// When a deferred file must be looked at again, if any.
    pub retry_at: Option<Instant>,
}

impl ReconcileReport {
    /// Whether the pass changed anything.
    pub fn changed(&self) -> bool {
        !(self.loaded.is_empty()
            && self.rejected.is_empty()
            && self.removed.is_empty()
            && self.restored.is_empty())
    }
}

/// Keeps plugin checks in line with their files. Cheap to share behind an `Arc`.
pub struct PluginSupervisor {
    runtime: PluginRuntime,
    registry: Registry,
    config: SupervisorConfig,
    declared: std::sync::Mutex<BTreeMap<String, PluginCheckConfig>>,
    state: Mutex<State>,
}

impl std::fmt::Debug for PluginSupervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginSupervisor")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A declared plugin check with no good version yet: it fails with the load error, so a check the
/// operator asked for is never silently missing (unknown is not healthy).
#[derive(Debug)]
struct NotLoaded {
    reason: String,
}

#[async_trait]
impl Check for NotLoaded {
    fn kind(&self) -> CheckKind {
        CheckKind {
            component_type: "component",
            measurement: "status",
        }
    }

    async fn run(&self) -> Outcome {
        Outcome::fail(format!("plugin not loaded: {}", self.reason))
    }
}

impl PluginSupervisor {
    /// A supervisor loading into `runtime` and registering checks with `registry`.
    pub fn new(runtime: PluginRuntime, registry: Registry, config: SupervisorConfig) -> Self {
        PluginSupervisor {
            runtime,
            registry,
            config,
            declared: std::sync::Mutex::default(),
            state: Mutex::default(),
        }
    }

    /// The runtime plugins are loaded into.
    pub fn runtime(&self) -> &PluginRuntime {
        &self.runtime
    }

    /// The settings.
    pub fn config(&self) -> &SupervisorConfig {
        &self.config
    }

    /// Set the plugin checks declared in the config (`[checks.NAME]` with `type = "plugin"`);
    /// takes effect at the next [`reconcile`](Self::reconcile).
    pub fn set_declared(&self, declared: BTreeMap<String, PluginCheckConfig>) {
        *self
            .declared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = declared;
    }

    /// The directories whose changes matter: the plugin directory and the directories of the
    /// declared plugin files.
    pub fn watched_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = BTreeSet::new();
        if let Some(dir) = &self.config.dir {
            dirs.insert(dir.clone());
        }
        for wanted in self.wanted().values() {
            if let Some(parent) = wanted.file.parent() {
                let parent = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
                dirs.insert(parent.to_path_buf());
            }
        }
        dirs.into_iter().collect()
    }

    fn wanted(&self) -> BTreeMap<String, Wanted> {
        let declared = self
            .declared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut wanted = BTreeMap::new();
        if let Some(dir) = &self.config.dir {
            for (name, file) in directory::scan(dir) {
                let config = PluginCheckConfig::default();
                wanted.insert(
                    name,
                    Wanted {
                        file,
                        config,
                        declared: false,
                    },
                );
            }
        }
        for (name, config) in declared {
            let file = match (&config.file, &self.config.dir) {
                (Some(file), _) => file.clone(),
                (None, Some(dir)) => dir.join(format!("{name}.wasm")),
                // Config validation requires a file when there is no plugin directory.
                (None, None) => continue,
            };
            wanted.insert(
                name,
                Wanted {
                    file,
                    config,
                    declared: true,
                },
            );
        }
        wanted
    }

    /// Bring the running plugin checks in line with the files, once. Files that need loading
    /// load side by side, as many at a time as there are cores (compiles on the blocking pool),
    /// never on the evaluator or the probes; each goes live as soon as it has loaded.
    pub async fn reconcile(&self) -> ReconcileReport {
        let mut state = self.state.lock().await;
        let mut report = ReconcileReport::default();
        let wanted = self.wanted();
        let mut loads = Vec::new();
        for (name, want) in &wanted {
            if let Some(load) = self.plan(&mut state, name, want, &mut report).await {
                loads.push(load);
            }
        }
        let width = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let mut built = futures_util::stream::iter(loads.into_iter().map(|load| async move {
            let built = PluginCheck::build(&self.runtime, &load.name, &load.config).await;
            (load, built)
        }))
        .buffered(width);
        while let Some((load, built)) = built.next().await {
            self.commit(&mut state, load, built, &mut report).await;
        }
        drop(built);
        let gone: Vec<String> = state
            .current
            .keys()
            .chain(state.attempts.keys())
            .chain(state.placeholders.iter())
            .filter(|name| !wanted.contains_key(*name))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for name in gone {
            let file = state
                .current
                .get(&name)
                .map(|c| c.loaded.file().display().to_string());
            state.attempts.remove(&name);
            let registered =
                state.current.remove(&name).is_some() | state.placeholders.remove(&name);
            if registered {
                let note = match file {
                    Some(file) => format!("removed: {file} is gone"),
                    None => "removed from the config".to_owned(),
                };
                self.registry.remove_noted(&name, note);
                tracing::info!(check = %name, "plugin check removed");
            }
            self.runtime.registry().remove(&name);
            report.removed.push(name);
        }
        if !report.rejected.is_empty() || !report.removed.is_empty() || !report.restored.is_empty()
        {
            // Rejections, withdrawn rejections and removals change what the snapshot renders
            // (notes, /plugins, metrics).
            self.registry.refresh();
        }
        if self.config.prune_cache && report.changed() {
            self.prune_cache(&state);
        }
        report.retry_at = state
            .attempts
            .values()
            .filter_map(|a| match a {
                Attempt::Deferred(_, at) => Some(*at),
                Attempt::Rejected(_) => None,
            })
            .min();
        report
    }

    /// What to do about one wanted check: `Some` when its file needs loading. Settles
    /// everything that needs no load (missing, unchanged, same bytes) on the spot.
    async fn plan(
        &self,
        state: &mut State,
        name: &str,
        want: &Wanted,
        report: &mut ReconcileReport,
    ) -> Option<Load> {
        // One version's files: through a ConfigMap's `..data` symlink, both from its target.
        let file = directory::resolve(&want.file);
        let Some(wasm) = FileStamp::of(&file) else {
            self.missing(state, name, want, report);
            return None;
        };
        let fingerprint = Fingerprint {
            wasm,
            manifest: FileStamp::of(&file.with_extension("toml")),
            config: want.config.clone(),
        };
        if state
            .current
            .get(name)
            .is_some_and(|c| c.fingerprint == fingerprint)
        {
            // The running version's own files. Only after a failed attempt (a bad manifest
            // deleted again, say) is there anything to withdraw; this is every pass's common
            // case, so it stays a map lookup.
            if state.attempts.contains_key(name) {
                self.restored(state, name, want, report);
            }
            return None;
        }
        match state.attempts.get(name) {
            Some(Attempt::Rejected(fp)) if *fp == fingerprint => return None,
            Some(Attempt::Deferred(fp, at)) if *fp == fingerprint && Instant::now() < *at => {
                return None;
            }
            _ => {}
        }
        let manifest_bytes = crate::check::settings::manifest_bytes(&file.with_extension("toml"))
            .ok()
            .flatten();
        let same_settings = state.current.get(name).is_some_and(|c| {
            (c.fingerprint.manifest == fingerprint.manifest || c.manifest == manifest_bytes)
                && c.fingerprint.config == fingerprint.config
        });
        if same_settings
            && let Some(sha256) = self.runtime.file_sha256(&file).await
            && let Some(current) = state.current.get_mut(name)
            && current.loaded.sha256() == sha256
        {
            // Touched or copied over with the same bytes: nothing to reload.
            current.fingerprint = fingerprint;
            self.restored(state, name, want, report);
            return None;
        }
        // Judged before loading: a slow compile must not make a fresh file look settled.
        let fresh_for = self.config.settle.checked_sub(fingerprint.wasm.age());
        self.runtime
            .registry()
            .stats(name)
            .record_loading(file.clone());
        let mut config = want.config.clone();
        config.file = Some(file);
        Some(Load {
            name: name.to_owned(),
            want: want.clone(),
            config,
            fingerprint,
            manifest_bytes,
            fresh_for,
        })
    }

    /// The files of check `name` are the running version's. If a rejected file had replaced
    /// them, its rejection goes (notes, `/plugins`, metrics): otherwise it would outlive its
    /// cause until a restart.
    fn restored(&self, state: &mut State, name: &str, want: &Wanted, report: &mut ReconcileReport) {
        state.attempts.remove(name);
        if self.runtime.registry().stats(name).withdraw_rejection() {
            let version = state
                .current
                .get(name)
                .map(|c| c.loaded.description().version.clone())
                .unwrap_or_default();
            tracing::info!(
                check = %name,
                "{} is the running version {version} again; its rejection is withdrawn",
                want.file.display(),
            );
            report.restored.push(name.to_owned());
        }
    }

    /// Put the outcome of one load into effect.
    async fn commit(
        &self,
        state: &mut State,
        load: Load,
        built: Result<(CheckSpec, LoadedPlugin), PluginError>,
        report: &mut ReconcileReport,
    ) {
        let Load {
            name,
            want,
            fingerprint,
            manifest_bytes,
            fresh_for,
            ..
        } = load;
        let (name, want) = (name.as_str(), &want);
        // A file that changed while it was being loaded is looked at again right away. What
        // loaded is still a complete, valid version (it compiled and described itself), so it
        // goes live meanwhile: a file rewritten non-stop still gets its newer versions in. A load
        // that failed while the file changed is no reason to reject anything (a ConfigMap swap
        // can delete the version being read).
        let unchanged = FileStamp::of(&want.file).as_ref() == Some(&fingerprint.wasm);
        match built {
            Err(_) if !unchanged => {
                tracing::debug!(check = %name, "plugin file changed while loading; retrying");
                state.attempts.insert(
                    name.to_owned(),
                    Attempt::Deferred(fingerprint, Instant::now()),
                );
            }
            Ok((spec, loaded)) => {
                let note = match state.current.get(name) {
                    Some(old) if old.loaded.sha256() == loaded.sha256() => {
                        format!("settings reloaded from {}", want.file.display())
                    }
                    Some(old) => format!(
                        "reloaded: {} {} -> {} (sha256 {})",
                        loaded.description().name,
                        old.loaded.description().version,
                        loaded.description().version,
                        short(loaded.sha256())
                    ),
                    None => format!(
                        "loaded {} {} from {} (sha256 {})",
                        loaded.description().name,
                        loaded.description().version,
                        want.file.display(),
                        short(loaded.sha256())
                    ),
                };
                tracing::info!(check = %name, "{note}");
                let stats = self.runtime.registry().stats(name);
                stats.record_load();
                stats.set_manifest(manifest_bytes.as_deref());
                self.registry.upsert_noted(spec, note);
                state.attempts.remove(name);
                state.placeholders.remove(name);
                let previous = state
                    .current
                    .get(name)
                    .map(|c| c.loaded.sha256().to_owned())
                    .filter(|sha| sha != loaded.sha256());
                let retry = fingerprint.clone();
                state.current.insert(
                    name.to_owned(),
                    Current {
                        loaded,
                        fingerprint,
                        previous,
                        manifest: manifest_bytes,
                    },
                );
                report.loaded.push(name.to_owned());
                if !unchanged {
                    tracing::debug!(check = %name, "plugin file changed while loading; looking again");
                    // Due now: the watcher passes again at once.
                    state
                        .attempts
                        .insert(name.to_owned(), Attempt::Deferred(retry, Instant::now()));
                }
            }
            Err(error) => {
                if let Some(left) = fresh_for.filter(|d| !d.is_zero()) {
                    tracing::debug!(check = %name, %error, "fresh plugin file failed to load; waiting for it to settle");
                    let retry_at = Instant::now() + left;
                    state
                        .attempts
                        .insert(name.to_owned(), Attempt::Deferred(fingerprint, retry_at));
                    return;
                }
                let sha256 = self.runtime.file_sha256(&want.file).await;
                self.reject(state, name, want, sha256, error.to_string(), report);
                state
                    .attempts
                    .insert(name.to_owned(), Attempt::Rejected(fingerprint));
            }
        }
    }

    /// A declared plugin whose file does not exist (a directory file cannot be missing: it was
    /// just found). The last good version, if any, keeps running.
    fn missing(&self, state: &mut State, name: &str, want: &Wanted, report: &mut ReconcileReport) {
        let fingerprint = Fingerprint {
            wasm: FileStamp::missing(),
            manifest: None,
            config: want.config.clone(),
        };
        if matches!(state.attempts.get(name), Some(Attempt::Rejected(fp)) if *fp == fingerprint) {
            return;
        }
        let reason = format!("{} does not exist", want.file.display());
        self.reject(state, name, want, None, reason, report);
        state
            .attempts
            .insert(name.to_owned(), Attempt::Rejected(fingerprint));
    }

    fn reject(
        &self,
        state: &mut State,
        name: &str,
        want: &Wanted,
        sha256: Option<String>,
        reason: String,
        report: &mut ReconcileReport,
    ) {
        // One line in the log and in /plugins, whatever the compiler printed.
        let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
        let keeps = state
            .current
            .get(name)
            .map(|c| format!("; version {} keeps running", c.loaded.description().version))
            .unwrap_or_default();
        tracing::warn!(check = %name, file = %want.file.display(), "plugin file rejected: {reason}{keeps}");
        self.runtime.registry().stats(name).record_rejection(
            want.file.clone(),
            sha256,
            reason.clone(),
        );
        if want.declared && !state.current.contains_key(name) {
            // The operator asked for this check: it exists, and fails, until a file loads.
            let settings = want.config.common().apply(&CheckSettings::default());
            let spec = CheckSpec::new(name, NotLoaded { reason }).with_settings(settings);
            self.registry
                .upsert_noted(spec, "plugin not loaded".to_owned());
            state.placeholders.insert(name.to_owned());
        }
        report.rejected.push(name.to_owned());
    }

    fn prune_cache(&self, state: &State) {
        // What runs now and what it replaced (for a quick rollback); everything else goes.
        let keep: Vec<String> = state
            .current
            .values()
            .flat_map(|c| std::iter::once(c.loaded.sha256().to_owned()).chain(c.previous.clone()))
            .collect();
        match self.runtime.cache().prune(&keep) {
            Ok(0) => {}
            Ok(n) => tracing::debug!(removed = n, "plugin cache pruned"),
            Err(e) => tracing::warn!("plugin cache: pruning failed: {e}"),
        }
    }

    /// The versions running now, by check name.
    pub async fn loaded(&self) -> BTreeMap<String, LoadedPlugin> {
        let state = self.state.lock().await;
        state
            .current
            .iter()
            .map(|(n, c)| (n.clone(), c.loaded.clone()))
            .collect()
    }
}

/// The first 12 hex digits of a sha256, for messages.
fn short(sha256: &str) -> &str {
    &sha256[..sha256.len().min(12)]
}
