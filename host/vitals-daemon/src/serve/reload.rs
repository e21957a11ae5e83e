//! Applying a config to a running daemon: at start, on SIGHUP and on `POST /admin/reload`.
//!
//! A new config is parsed, validated and every new or changed check and datasource is built
//! before anything changes; any error rejects the whole file and the running config stays. Then
//! checks are added, replaced and removed through the evaluator's registry (runs in flight
//! finish), unchanged datasources keep their pools and breakers, and the plugin supervisor picks
//! up the declared plugin checks. Settings that shape the process itself (listen address, token,
//! evaluator, backpressure, plugin runtime) are reported as needing a restart.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::ServeError;
use crate::config::{self, CheckConfig, Config};
use vitals::NotesSource;
use vitals::{CheckSettings, CheckSpec};
use vitals::{MetricsSource, MetricsWriter};
use vitals::{Vitals, heartbeat_settings};
use vitals_sql::build_check;
use vitals_sql::{Datasources, SharedDatasources};
use vitals_wasm::{PluginCheckConfig, PluginRuntime, PluginSupervisor};

/// What a reload changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReloadSummary {
    /// Checks added.
    pub added: Vec<String>,
    /// Checks whose table (or datasource) changed.
    pub changed: Vec<String>,
    /// Checks removed.
    pub removed: Vec<String>,
    /// Checks left as they were.
    pub unchanged: usize,
    /// Sections that changed but apply only after a restart.
    pub restart_required: Vec<String>,
}

/// The outcome of the latest reload, for notes and metrics.
#[derive(Debug, Default)]
pub(crate) struct ReloadLog {
    last: Mutex<Option<(SystemTime, Result<ReloadSummary, String>)>>,
    applied: std::sync::atomic::AtomicU64,
    rejected: std::sync::atomic::AtomicU64,
}

impl ReloadLog {
    fn record(&self, outcome: &Result<ReloadSummary, String>) {
        use std::sync::atomic::Ordering::Relaxed;
        match outcome {
            Ok(_) => self.applied.fetch_add(1, Relaxed),
            Err(_) => self.rejected.fetch_add(1, Relaxed),
        };
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((SystemTime::now(), outcome.clone()));
    }
}

impl NotesSource for ReloadLog {
    fn notes(&self, out: &mut Vec<String>) {
        let last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        match last.as_ref() {
            Some((at, Err(error))) => out.push(format!(
                "config reload rejected at {}: {error}; the running config stays",
                humantime::format_rfc3339_seconds(*at)
            )),
            // The outcome of the latest reload stays visible (status page, notes) until the next.
            Some((at, Ok(s))) => {
                let mut note = format!(
                    "config reloaded at {}: {} added, {} changed, {} removed, {} unchanged",
                    humantime::format_rfc3339_seconds(*at),
                    s.added.len(),
                    s.changed.len(),
                    s.removed.len(),
                    s.unchanged
                );
                if !s.restart_required.is_empty() {
                    note.push_str(&format!(
                        "; needs a restart: {}",
                        s.restart_required.join(", ")
                    ));
                }
                out.push(note);
            }
            None => {}
        }
    }
}

impl MetricsSource for ReloadLog {
    fn render(&self, out: &mut MetricsWriter) {
        use std::sync::atomic::Ordering::Relaxed;
        let name = "vitals_config_reloads_total";
        out.family(name, "counter", "Config reloads, by result.");
        out.sample(
            name,
            &[("result", "applied")],
            self.applied.load(Relaxed) as f64,
        );
        out.sample(
            name,
            &[("result", "rejected")],
            self.rejected.load(Relaxed) as f64,
        );
    }
}

/// The config the daemon runs and what it built from it.
struct Applied {
    config: Config,
    datasources: Datasources,
}

/// Applies configs to a running daemon.
pub(crate) struct Reloader {
    file: Option<PathBuf>,
    vitals: Vitals,
    runtime: PluginRuntime,
    supervisor: Arc<PluginSupervisor>,
    log: Arc<ReloadLog>,
    shared_datasources: Arc<SharedDatasources>,
    applied: tokio::sync::Mutex<Applied>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

/// Settings a check type gets unless its table says otherwise.
fn base_settings(check: &CheckConfig) -> CheckSettings {
    match check {
        CheckConfig::Heartbeat(_) => heartbeat_settings(),
        CheckConfig::Plugin(_) => CheckSettings::default(),
        CheckConfig::Builtin(builtin) => builtin.defaults(),
    }
}

/// A check's settings: its table over the defaults of its type. A check on a datasource gets a
/// default timeout longer than the datasource's own connect and statement limits, so that its
/// own, more precise reason ("statement timed out after 2s") is the one reported.
pub(crate) fn check_settings(check: &CheckConfig, cfg: &Config) -> CheckSettings {
    let mut base = base_settings(check);
    if let Some(ds) = check
        .builtin()
        .and_then(|b| b.datasource().and_then(|d| cfg.datasources.get(d)).cloned())
    {
        let own = ds
            .connect_timeout
            .max(ds.acquire_timeout)
            .max(ds.statement_timeout);
        base.timeout = base.timeout.max(own + Duration::from_secs(1));
    }
    check.common().apply(&base)
}

/// The plugin checks a config declares.
fn declared_plugins(cfg: &Config) -> BTreeMap<String, PluginCheckConfig> {
    cfg.checks
        .iter()
        .filter_map(|(name, c)| match c {
            CheckConfig::Plugin(p) => Some((name.clone(), p.clone())),
            _ => None,
        })
        .collect()
}

/// Sections of `new` that differ from `old` and only apply after a restart.
fn restart_required(old: &Config, new: &Config) -> Vec<String> {
    let mut sections = Vec::new();
    if old.service != new.service {
        sections.push("[service]".to_owned());
    }
    if old.http != new.http {
        sections.push("[http]".to_owned());
    }
    if old.grpc != new.grpc {
        sections.push("[grpc]".to_owned());
    }
    if old.evaluator != new.evaluator {
        sections.push("[evaluator]".to_owned());
    }
    if old.backpressure != new.backpressure {
        sections.push("[backpressure]".to_owned());
    }
    if old.plugins != new.plugins {
        sections.push("[plugins]".to_owned());
    }
    sections
}

impl Reloader {
    /// A reloader for a daemon started with `config` (nothing applied yet: call
    /// [`Reloader::apply`] with the same config to register its checks).
    pub(crate) fn new(
        file: Option<PathBuf>,
        config: &Config,
        vitals: Vitals,
        runtime: PluginRuntime,
        supervisor: Arc<PluginSupervisor>,
        log: Arc<ReloadLog>,
        shared_datasources: Arc<SharedDatasources>,
    ) -> Self {
        // The baseline: everything but checks and datasources, so the first apply adds them
        // all and reports no restart-only change.
        let baseline = Config {
            checks: BTreeMap::new(),
            datasources: BTreeMap::new(),
            ..config.clone()
        };
        Reloader {
            file,
            vitals,
            runtime,
            supervisor,
            log,
            shared_datasources,
            applied: tokio::sync::Mutex::new(Applied {
                config: baseline,
                datasources: Datasources::default(),
            }),
        }
    }

    /// Read the config file again and apply it; the outcome is logged and kept for the status
    /// notes and metrics.
    pub(crate) async fn reload_file(&self) -> Result<ReloadSummary, String> {
        let Some(file) = &self.file else {
            // Nothing is wrong: there is nothing to re-read. Not an error, and not a note.
            let why = "no config file to reload: the daemon runs on its embedded default";
            tracing::info!("{why}");
            return Err(why.to_owned());
        };
        let outcome = match config::load(file) {
            Ok(cfg) => self.apply(cfg).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match &outcome {
            Ok(s) => tracing::info!(
                added = ?s.added, changed = ?s.changed, removed = ?s.removed,
                restart_required = ?s.restart_required, "config reloaded"
            ),
            Err(e) => tracing::error!("config reload rejected, the running config stays: {e}"),
        }
        self.log.record(&outcome);
        self.vitals.registry().refresh();
        outcome
    }

    /// Apply `new`: build everything it adds or changes, then swap. Nothing changes on error.
    pub(crate) async fn apply(&self, new: Config) -> Result<ReloadSummary, ServeError> {
        let mut applied = self.applied.lock().await;
        let old = &applied.config;
        let datasources = applied
            .datasources
            .rebuild(&new.datasources)
            .map_err(|e| ServeError::Datasource(e.to_string()))?;
        let datasource_changed = |check: &CheckConfig| {
            check
                .builtin()
                .and_then(|b| b.datasource().map(str::to_owned))
                .is_some_and(|ds| old.datasources.get(&ds) != new.datasources.get(&ds))
        };
        let mut summary = ReloadSummary {
            restart_required: restart_required(old, &new),
            ..ReloadSummary::default()
        };
        // Build first: a check that cannot be built rejects the whole config. Heartbeats are
        // registered only once everything is built, since registering one is visible at once
        // (a new worker name, a changed TTL).
        let mut specs = Vec::new();
        let mut heartbeats = Vec::new();
        // Every check that cannot be built, so one answer names them all.
        let mut unbuilt = Vec::new();
        for (name, check) in &new.checks {
            let before = old.checks.get(name);
            if let CheckConfig::Plugin(_) = check {
                match before {
                    None => summary.added.push(name.clone()),
                    Some(b) if b != check => summary.changed.push(name.clone()),
                    Some(_) => summary.unchanged += 1,
                }
                continue;
            }
            if before == Some(check) && !datasource_changed(check) {
                summary.unchanged += 1;
                continue;
            }
            let failed = |message: String| ServeError::Check {
                check: name.clone(),
                message,
            };
            let settings = check_settings(check, &new);
            let spec = match check {
                CheckConfig::Heartbeat(hb) => {
                    match before {
                        None => summary.added.push(name.clone()),
                        Some(_) => summary.changed.push(name.clone()),
                    }
                    heartbeats.push((name.clone(), hb.ttl, settings));
                    continue;
                }
                other => {
                    let Some(builtin) = other.builtin() else {
                        unbuilt.push(failed("unsupported check type".to_owned()));
                        continue;
                    };
                    let check = match build_check(name, builtin, &datasources) {
                        Ok(check) => check,
                        Err(e) => {
                            unbuilt.push(failed(e.to_string()));
                            continue;
                        }
                    };
                    CheckSpec {
                        name: name.clone(),
                        check,
                        settings,
                    }
                }
            };
            match before {
                None => summary.added.push(name.clone()),
                Some(_) => summary.changed.push(name.clone()),
            }
            specs.push(spec);
        }
        match unbuilt.len() {
            0 => {}
            1 => return Err(unbuilt.remove(0)),
            _ => return Err(ServeError::Checks(unbuilt)),
        }
        // Everything is built: apply. Removals first, so a check that changes kind under the
        // same name is replaced in order.
        for (name, ttl, settings) in heartbeats {
            let (_, beat) = self.vitals.heartbeats().register(&name, ttl);
            specs.push(CheckSpec::new(&name, beat).with_settings(settings));
        }
        let registry = self.vitals.registry();
        for (name, check) in &old.checks {
            if matches!(check, CheckConfig::Heartbeat(_))
                && !matches!(new.checks.get(name), Some(CheckConfig::Heartbeat(_)))
            {
                self.vitals.heartbeats().unregister(name);
            }
            let kept_kind = new.checks.get(name).is_some_and(|n| {
                matches!(n, CheckConfig::Plugin(_)) == matches!(check, CheckConfig::Plugin(_))
            });
            if kept_kind {
                continue;
            }
            if !new.checks.contains_key(name) {
                summary.removed.push(name.clone());
            }
            if !matches!(check, CheckConfig::Plugin(_)) {
                registry.remove_noted(name, "removed from the config");
            }
        }
        let first = old.checks.is_empty();
        for spec in specs {
            if first {
                registry.upsert(spec);
            } else {
                let note = if summary.added.contains(&spec.name) {
                    "added by a config reload"
                } else {
                    "changed by a config reload"
                };
                registry.upsert_noted(spec, note);
            }
        }
        self.runtime.set_datasources(datasources.clone());
        self.shared_datasources.store(datasources.clone());
        self.supervisor.set_declared(declared_plugins(&new));
        applied.config = new;
        applied.datasources = datasources;
        drop(applied);
        // Declared plugins are loaded now; rejected files are reported, not fatal.
        self.supervisor.reconcile().await;
        Ok(summary)
    }
}
