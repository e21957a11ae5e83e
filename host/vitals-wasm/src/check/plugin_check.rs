//! A loaded plugin as a [`Check`]: config, manifest, quarantine and outcome mapping.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use async_trait::async_trait;

use crate::PluginError;
use crate::capabilities::context::PluginContext;
use crate::check::settings::{PluginCheckConfig, PluginManifest};
use crate::runtime::bindings::vitals::check::types as wit;
use crate::runtime::engine::PluginRuntime;
use crate::runtime::failure::RunFailure;
use crate::runtime::lift::{BoundedCheckResult, KEY_BYTES};
use crate::runtime::limits::RunLimits;
use crate::runtime::loader::LoadedPlugin;
use crate::runtime::output::{output_violation, truncate_text};
use crate::runtime::quarantine::{Quarantine, QuarantinePolicy};
use crate::runtime::registry::PluginStats;
use crate::runtime::sandbox::{
    Call, FreshRunPhases, Returned, Sandbox, WarmPolicy, profile_fresh_run, run_in,
};
use vitals::{Check, CheckKind, CheckSettings, CheckSpec, Outcome, Status};
use vitals_config::CommonSettings;

/// Slack between a plugin's deadline and the evaluator's hard timeout, so the plugin's own,
/// more precise reason ("deadline 500ms exceeded") is the one reported.
pub const EVALUATOR_GRACE: Duration = Duration::from_millis(250);

/// The plugin version a check currently runs, with its shared run context.
struct Active {
    loaded: LoadedPlugin,
    context: Arc<PluginContext>,
}

/// A plugin as a check: every run in a fresh sandbox, with quarantine after repeated traps.
pub struct PluginCheck {
    name: String,
    runtime: PluginRuntime,
    active: ArcSwap<Active>,
    limits: RunLimits,
    quarantine: Mutex<Quarantine>,
    stats: Arc<PluginStats>,
    measurement: Mutex<&'static str>,
    warm: Option<WarmPolicy>,
    /// The warm instance between runs (only with a warm policy).
    slot: Mutex<Option<Sandbox>>,
    /// Least time between two reports of dropped log lines: the check's interval.
    log_report_every: Duration,
}

/// Why the sandbox ended a run without the plugin's own verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// A trap, a limit hit (deadline, memory, stack, output) or quarantine.
    Misbehaved,
    /// The sandbox could not be set up (a granted directory does not exist).
    Setup,
}

/// One run: its outcome, and whether the sandbox stopped it.
#[derive(Debug)]
pub struct PluginRun {
    /// What the run reported (or the failure the sandbox made of it).
    pub outcome: Outcome,
    /// Whether, and why, the sandbox ended the run.
    pub stop: Option<Stop>,
}

impl std::fmt::Debug for PluginCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginCheck")
            .field("name", &self.name)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The health+json measurement name for an observed unit.
fn measurement_for(unit: &str) -> &'static str {
    match unit {
        "ms" | "s" | "us" | "µs" => "responseTime",
        "%" => "utilization",
        "connections" => "connections",
        _ => "status",
    }
}

impl PluginCheck {
    /// A check called `name` running `loaded` under `limits`.
    pub fn new(
        runtime: &PluginRuntime,
        name: &str,
        loaded: LoadedPlugin,
        limits: RunLimits,
        policy: QuarantinePolicy,
    ) -> Result<Self, PluginError> {
        let max = runtime.config().max_memory;
        if limits.memory > max {
            return Err(PluginError::InvalidGrant {
                plugin: name.to_owned(),
                field: "memory_limit",
                message: format!(
                    "{} is above the runtime's maximum plugins.max_memory = {max}",
                    limits.memory
                ),
            });
        }
        let stats = runtime.registry().stats(name);
        let log_report_every = CheckSettings::default().interval;
        let active = Self::activate(runtime, name, &stats, loaded, log_report_every)?;
        Ok(PluginCheck {
            name: name.to_owned(),
            runtime: runtime.clone(),
            active: ArcSwap::from_pointee(active),
            limits,
            quarantine: Mutex::new(Quarantine::new(policy)),
            stats,
            measurement: Mutex::new("status"),
            warm: None,
            slot: Mutex::new(None),
            log_report_every,
        })
    }

    /// Report dropped log lines at most once per `every` (default: the default check interval,
    /// 10 s); pass the interval the check is registered with.
    pub fn with_log_report_interval(mut self, every: Duration) -> Self {
        self.log_report_every = every;
        self.active.load().context.set_log_report_every(every);
        self
    }

    /// Reuse instances under `policy` instead of a fresh one per run (`None`: always fresh).
    /// Every run keeps its own deadline, memory cap and output cap; an instance is never reused
    /// after a trap, a timeout or any limit hit.
    pub fn with_warm_instances(mut self, policy: Option<WarmPolicy>) -> Self {
        self.warm = policy;
        self
    }

    fn activate(
        runtime: &PluginRuntime,
        name: &str,
        stats: &Arc<PluginStats>,
        loaded: LoadedPlugin,
        log_report_every: Duration,
    ) -> Result<Active, PluginError> {
        let grants = loaded.grants().clone();
        let http_rules = grants.http_rules(name)?;
        let d = loaded.description();
        stats.set_identity(
            &d.name,
            &d.version,
            loaded.file().to_owned(),
            loaded.sha256(),
            loaded.loaded_at(),
        );
        let context = Arc::new(PluginContext::new(
            name.to_owned(),
            d.version.clone(),
            grants,
            http_rules,
            runtime.inner.datasources.clone(),
            stats.clone(),
            log_report_every,
        ));
        Ok(Active { loaded, context })
    }

    /// Load a plugin check from its config table (with `NAME.toml` next to the file merged
    /// under it). Returns the spec to register: the description's suggested interval, timeout
    /// and criticality apply under the operator's settings.
    pub async fn from_config(
        runtime: &PluginRuntime,
        name: &str,
        config: &PluginCheckConfig,
    ) -> Result<CheckSpec, PluginError> {
        Self::build(runtime, name, config)
            .await
            .map(|(spec, _)| spec)
    }

    /// Like [`PluginCheck::from_config`], also returning the loaded version.
    pub async fn build(
        runtime: &PluginRuntime,
        name: &str,
        config: &PluginCheckConfig,
    ) -> Result<(CheckSpec, LoadedPlugin), PluginError> {
        let file = config
            .file
            .clone()
            .ok_or_else(|| PluginError::InvalidGrant {
                plugin: name.to_owned(),
                field: "file",
                message: "missing: set file = \"path/to/plugin.wasm\"".to_owned(),
            })?;
        let config = config.with_manifest(PluginManifest::for_wasm(&file)?);
        let loaded = runtime.load(&file, config.grants()).await?;
        let d = loaded.description().defaults.clone();
        let suggested = CommonSettings {
            interval: d.interval,
            timeout: d.timeout,
            critical: d.critical,
            ..CommonSettings::default()
        };
        let mut settings: CheckSettings = config
            .common()
            .apply(&suggested.apply(&CheckSettings::default()));
        let limits = RunLimits {
            deadline: settings.timeout,
            memory: config.memory_limit.unwrap_or(RunLimits::default().memory),
            output: config.output_limit.unwrap_or(RunLimits::default().output),
            ..RunLimits::default()
        };
        settings.timeout += EVALUATOR_GRACE;
        let policy = QuarantinePolicy {
            threshold: config
                .quarantine_after
                .unwrap_or(QuarantinePolicy::default().threshold),
            ..QuarantinePolicy::default()
        };
        let check = PluginCheck::new(runtime, name, loaded.clone(), limits, policy)?
            .with_warm_instances(config.warm_policy())
            .with_log_report_interval(settings.interval);
        let spec = CheckSpec {
            name: name.to_owned(),
            check: Arc::new(check),
            settings,
        };
        Ok((spec, loaded))
    }

    /// Swap in a new version (hot reload); runs in flight finish on the old one.
    pub fn replace(&self, loaded: LoadedPlugin) -> Result<(), PluginError> {
        let active = Self::activate(
            &self.runtime,
            &self.name,
            &self.stats,
            loaded,
            self.log_report_every,
        )?;
        self.active.store(Arc::new(active));
        Ok(())
    }

    /// The plugin version this check runs now.
    pub fn loaded(&self) -> LoadedPlugin {
        self.active.load().loaded.clone()
    }

    /// The limits of each run.
    pub fn limits(&self) -> RunLimits {
        self.limits
    }

    /// This check's statistics.
    pub fn stats(&self) -> &Arc<PluginStats> {
        &self.stats
    }

    fn quarantine_detail(&self, now: Instant) -> serde_json::Value {
        let state = self
            .quarantine
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .state(now);
        self.stats.set_quarantine(state.clone());
        serde_json::to_value(state).unwrap_or_default()
    }

    /// The outcome of a completed run, and whether it hit the output cap (far over it: a text
    /// or detail just over the cap is truncated with a marker and keeps its status).
    fn outcome_of(&self, result: BoundedCheckResult) -> (Outcome, bool) {
        let limit = usize::try_from(self.limits.output.bytes()).unwrap_or(usize::MAX);
        if let Some(violation) = output_violation(&result, limit, self.limits.max_details) {
            // Far over the cap is a limit hit like any other: the run fails and says which, and
            // the start of what it returned is kept for the operator.
            let outcome = Outcome::fail(format!(
                "output limit {} exceeded: {violation}",
                self.limits.output
            ))
            .detail("output_truncated", result.output.truncated(256));
            return (outcome, true);
        }
        let status = match result.status {
            wit::Status::Pass => Status::Pass,
            wit::Status::Warn => Status::Warn,
            wit::Status::Fail => Status::Fail,
            wit::Status::Unknown => Status::Unknown,
        };
        let mut outcome = Outcome::new(status, result.output.truncated(limit));
        if let Some(obs) = result.observed {
            let unit = obs.unit.truncated(32);
            *self
                .measurement
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = measurement_for(&unit);
            outcome = outcome.observed(obs.value, unit);
        }
        for (k, v) in result.details.kept.iter().take(self.limits.max_details) {
            outcome = outcome.detail(k.truncated(KEY_BYTES), v.truncated(limit));
        }
        (outcome, false)
    }

    /// One fresh run of `check`, timed phase by phase, without touching this check's state
    /// (for the `plugin_run` benchmark).
    #[doc(hidden)]
    pub async fn profile_fresh_run(&self) -> Result<FreshRunPhases, RunFailure> {
        let active = self.active.load_full();
        profile_fresh_run(
            &self.runtime.inner.engine,
            &active.loaded.inner.pre,
            &active.context,
            &self.limits,
        )
        .await
    }

    /// Run once, telling a verdict of the plugin from a run the sandbox stopped.
    pub async fn run_plugin(&self) -> PluginRun {
        let active = self.active.load_full();
        let now = Instant::now();
        let blocked = {
            let q = self
                .quarantine
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            q.blocked(now).map(|left| q.message(left))
        };
        if let Some(message) = blocked {
            return PluginRun {
                outcome: Outcome::fail(message).detail("quarantine", self.quarantine_detail(now)),
                stop: Some(Stop::Misbehaved),
            };
        }
        let inner = &self.runtime.inner;
        let dropped_before = self.stats.logs_dropped();
        // A warm instance past its age is dropped here rather than reused.
        let warm = self.warm.and_then(|policy| {
            let taken = self
                .slot
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            taken.filter(|sandbox| sandbox.reusable(&policy))
        });
        let reused = warm.is_some();
        let (report, sandbox) = run_in(
            warm,
            &inner.engine,
            &active.loaded.inner.pre,
            &active.context,
            &self.limits,
            Call::Check,
        )
        .await;
        let failure = report.result.as_ref().err();
        self.stats
            .record_run(report.wall, report.peak_memory, failure);
        {
            let mut q = self
                .quarantine
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match failure {
                Some(f) if f.is_trap() => q.record_trap(Instant::now()),
                Some(_) => {}
                None => q.record_completion(),
            }
        }
        let limit = usize::try_from(self.limits.output.bytes()).unwrap_or(usize::MAX);
        let stop = match failure {
            Some(RunFailure::Setup(_)) => Some(Stop::Setup),
            Some(_) => Some(Stop::Misbehaved),
            None => None,
        };
        let mut limit_hit = false;
        let outcome = match report.result {
            Ok(Returned::Checked(Ok(result))) => {
                let (outcome, hit) = self.outcome_of(result);
                limit_hit = hit;
                if hit {
                    self.stats.record_error(&outcome.output);
                }
                outcome
            }
            Ok(Returned::Checked(Err(message))) => {
                // The guest's own error (a JavaScript exception arrives this way): the last
                // error in `/plugins` like a trap, though the check reads `unknown`, not failed.
                let message = message.truncated(limit);
                self.stats
                    .record_error(format!("check returned an error: {message}"));
                Outcome::unknown(message)
            }
            Ok(Returned::Described(_)) => {
                Outcome::unknown("plugin returned a description to check()")
            }
            Err(failure) => Outcome::fail(truncate_text(&failure.to_string(), limit)),
        };
        let stop = stop.or(limit_hit.then_some(Stop::Misbehaved));
        let dropped = self.stats.logs_dropped().saturating_sub(dropped_before);
        // Dropped log lines leave the instance's state alone: they do not retire it.
        if let (Some(policy), Some(sandbox)) = (self.warm, sandbox)
            && !limit_hit
            && sandbox.reusable(&policy)
        {
            *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(sandbox);
        }
        let outcome = if report.denied.is_empty() {
            outcome
        } else {
            outcome.detail("denied", report.denied.join("; "))
        };
        let d = active.loaded.description();
        // Health is about the dependency, not about how chatty the check is: lines past the
        // log rate limit are dropped and counted here, and the status stands.
        let outcome = outcome
            .detail("logs_dropped", dropped)
            .detail("plugin", d.name.clone())
            .detail("plugin_version", d.version.clone())
            .detail("memory_peak_bytes", report.peak_memory)
            .detail("run_ms", vitals::millis(report.wall))
            .detail("instance", if reused { "warm" } else { "fresh" })
            .detail("quarantine", self.quarantine_detail(Instant::now()));
        PluginRun { outcome, stop }
    }
}

#[async_trait]
impl Check for PluginCheck {
    fn kind(&self) -> CheckKind {
        CheckKind {
            component_type: "component",
            measurement: *self
                .measurement
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        }
    }

    async fn run(&self) -> Outcome {
        self.run_plugin().await.outcome
    }
}
