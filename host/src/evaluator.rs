//! The evaluator: runs every check in the background and publishes the snapshot.
//!
//! One worker task per check reports finished runs to a single publisher loop, which folds
//! them into the check states, aggregates, decides admission, renders the bodies and publishes one
//! new snapshot. The publisher also marks a cycle on a fixed heartbeat, so readers can tell a
//! quiet evaluator from a stopped one. Checks are added, replaced and removed at run time through a
//! [`Registry`] handle.

mod apply;
mod worker;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::aggregate::Phase;
use crate::backpressure::BackpressureConfig;
use crate::check::CheckSpec;
use crate::snapshot::{self, CheckState, RenderContext, Shared, Transition};

pub use apply::{admission, apply_result, overall, signal};

/// Evaluator settings (`[evaluator]` in config).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluatorConfig {
    /// At most this many checks run at the same time.
    pub max_concurrency: usize,
    /// Random spread of each interval, as a fraction (0.1 = ±10 %).
    pub jitter: f64,
    /// How long after start an unevaluated critical check reads as "starting" rather than failing.
    #[serde(with = "humantime_serde")]
    pub startup_grace: Duration,
    /// How often the evaluator proves it is alive when nothing changes.
    #[serde(with = "humantime_serde")]
    pub heartbeat: Duration,
    /// No cycle for this long: readiness and admission fail closed.
    #[serde(with = "humantime_serde")]
    pub stale_after: Duration,
    /// No cycle for this long: liveness fails too.
    #[serde(with = "humantime_serde")]
    pub dead_after: Duration,
}

impl Default for EvaluatorConfig {
    fn default() -> Self {
        EvaluatorConfig {
            max_concurrency: 16,
            jitter: 0.1,
            startup_grace: Duration::from_secs(30),
            heartbeat: Duration::from_secs(1),
            stale_after: Duration::from_secs(15),
            dead_after: Duration::from_secs(60),
        }
    }
}

enum Command {
    Upsert(CheckSpec),
    Remove(String),
}

/// Adds, replaces and removes checks while the evaluator runs. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    tx: mpsc::UnboundedSender<Command>,
}

impl Registry {
    /// Add a check, or replace the check of the same name. A run of the old version in flight
    /// finishes; the next run uses the new one.
    pub fn upsert(&self, spec: CheckSpec) {
        // A send error means the evaluator has stopped; there is nothing left to update.
        let _ = self.tx.send(Command::Upsert(spec));
    }

    /// Remove a check by name.
    pub fn remove(&self, name: &str) {
        let _ = self.tx.send(Command::Remove(name.to_owned()));
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

struct Entry {
    state: CheckState,
    generation: u64,
    cancel: CancellationToken,
}

/// The background task that runs checks and publishes snapshots. Build it with
/// [`Evaluator::new`], then spawn [`Evaluator::run`].
pub struct Evaluator {
    shared: Arc<Shared>,
    cfg: EvaluatorConfig,
    bp: BackpressureConfig,
    ctx: RenderContext,
    commands: mpsc::UnboundedReceiver<Command>,
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// An empty snapshot for a service that has not evaluated anything yet.
///
/// It reads as "starting" (not ready) until the evaluator publishes its first snapshot: an
/// engine that has not looked at anything yet is not healthy.
pub fn initial_snapshot(ctx: &RenderContext, bp: &BackpressureConfig) -> snapshot::HealthSnapshot {
    let checks = Vec::new();
    let admission = admission(&checks, bp);
    let overall = crate::aggregate::Overall {
        status: crate::check::Status::Unknown,
        culprits: vec!["the evaluator".to_owned()],
    };
    snapshot::build(0, Phase::Starting, checks, overall, admission, ctx)
}

impl Evaluator {
    /// An evaluator publishing into `shared`, and the registry that feeds it checks.
    pub fn new(
        shared: Arc<Shared>,
        cfg: EvaluatorConfig,
        bp: BackpressureConfig,
        ctx: RenderContext,
    ) -> (Evaluator, Registry) {
        let (tx, commands) = mpsc::unbounded_channel();
        (
            Evaluator {
                shared,
                cfg,
                bp,
                ctx,
                commands,
            },
            Registry { tx },
        )
    }

    /// Run until `shutdown` is cancelled. Spawn this on the runtime.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let started = Instant::now();
        let permits = Arc::new(Semaphore::new(self.cfg.max_concurrency.max(1)));
        let (report_tx, mut reports) = mpsc::channel(1024);
        let mut entries: BTreeMap<Arc<str>, Entry> = BTreeMap::new();
        let mut generation = 0u64;
        let mut seq = self.shared.load().seq;
        let mut phase = Phase::Starting;
        let mut heartbeat = tokio::time::interval(self.cfg.heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tracing::info!(checks = 0, "evaluator started");

        loop {
            let mut dirty = false;
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(cmd) = self.commands.recv() => {
                    generation += 1;
                    self.apply_command(cmd, &mut entries, generation, &permits, &report_tx, &shutdown);
                    dirty = true;
                }
                Some(report) = reports.recv() => {
                    self.apply_report(report, &mut entries);
                    // Fold everything already waiting into the same snapshot.
                    while let Ok(more) = reports.try_recv() {
                        self.apply_report(more, &mut entries);
                    }
                    dirty = true;
                }
                _ = heartbeat.tick() => {}
            }
            let now_phase = if started.elapsed() < self.cfg.startup_grace {
                Phase::Starting
            } else {
                Phase::Running
            };
            if now_phase != phase {
                phase = now_phase;
                dirty = true;
            }
            if dirty {
                seq += 1;
                let checks: Vec<CheckState> = entries.values().map(|e| e.state.clone()).collect();
                let overall = overall(&checks, phase);
                let admission = admission(&checks, &self.bp);
                let snap = snapshot::build(seq, phase, checks, overall, admission, &self.ctx);
                self.shared.publish(snap);
            } else {
                self.shared.mark_cycle();
            }
        }
        for e in entries.values() {
            e.cancel.cancel();
        }
        permits.close();
        tracing::info!("evaluator stopped");
    }

    fn apply_command(
        &self,
        cmd: Command,
        entries: &mut BTreeMap<Arc<str>, Entry>,
        generation: u64,
        permits: &Arc<Semaphore>,
        reports: &mpsc::Sender<worker::RunReport>,
        shutdown: &CancellationToken,
    ) {
        match cmd {
            Command::Upsert(spec) => {
                let name: Arc<str> = spec.name.as_str().into();
                let cancel = shutdown.child_token();
                let state = match entries.remove(&name) {
                    Some(old) => {
                        old.cancel.cancel();
                        let mut state = old.state;
                        state.settings = spec.settings.clone();
                        state.kind = spec.check.kind();
                        state.push_transition(Transition {
                            time: SystemTime::now(),
                            from: Some(state.status()),
                            to: state.status(),
                            output: "replaced".to_owned(),
                        });
                        state
                    }
                    None => CheckState::new(
                        &name,
                        spec.check.kind(),
                        spec.settings.clone(),
                        SystemTime::now(),
                    ),
                };
                tokio::spawn(
                    worker::Worker {
                        name: name.clone(),
                        generation,
                        check: spec.check,
                        settings: spec.settings,
                        jitter: self.cfg.jitter,
                        permits: permits.clone(),
                        reports: reports.clone(),
                        cancel: cancel.clone(),
                    }
                    .run(),
                );
                tracing::debug!(check = %name, "check registered");
                entries.insert(
                    name,
                    Entry {
                        state,
                        generation,
                        cancel,
                    },
                );
            }
            Command::Remove(name) => {
                if let Some(old) = entries.remove(name.as_str()) {
                    old.cancel.cancel();
                    tracing::info!(check = %name, "check removed");
                }
            }
        }
    }

    fn apply_report(&self, report: worker::RunReport, entries: &mut BTreeMap<Arc<str>, Entry>) {
        let Some(entry) = entries.get_mut(&report.name) else {
            return; // removed while running
        };
        if report.generation != entry.generation {
            // A run of a replaced version finished after the swap: the new version's own runs
            // speak for the check from now on.
            tracing::debug!(check = %report.name, "result of a replaced version ignored");
            return;
        }
        entry.state.kind = report.kind;
        apply_result(
            &mut entry.state,
            report.result,
            report.timed_out,
            &self.bp,
            Instant::now(),
        );
    }
}
