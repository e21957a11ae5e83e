//! The evaluator: runs every check in the background and publishes the snapshot.
//!
//! One worker task per check reports finished runs to a single publisher loop, which folds
//! them into the check states, aggregates, decides admission, renders the bodies and publishes one
//! new snapshot. The publisher also marks a cycle on a fixed heartbeat, so readers can tell a
//! quiet evaluator from a stopped one. Checks are added, replaced and removed at run time through a
//! [`Registry`] handle.

mod apply;
mod permits;
mod worker;

pub use worker::run_once;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::aggregate::Phase;
use crate::backpressure::BackpressureConfig;
use crate::check::{CheckSpec, Status};
use crate::snapshot::{self, CheckState, RenderContext, Shared, Transition};

pub(crate) use apply::apply_result;
pub(crate) use apply::{admission, overall};

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
    Upsert {
        spec: CheckSpec,
        note: Option<String>,
    },
    Remove {
        name: String,
        note: String,
    },
    Refresh,
    /// Start-up is complete: publish from now on (see [`Registry::startup_complete`]).
    Started,
}

/// Results closer together than this share one snapshot (commands are published at once). Each snapshot costs O(checks) to
/// build; with a thousand checks finishing a thousand runs a second, a snapshot per result was
/// most of the daemon's CPU. Readiness lags a result by at most this much.
pub(crate) const PUBLISH_GAP: Duration = Duration::from_millis(10);

/// How many removed checks keep their history (shown in `/health/status` under `removed`, and
/// continued if a check of the same name comes back).
pub(crate) const RETIRED_CHECKS: usize = 32;

/// Adds, replaces and removes checks while the evaluator runs. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    tx: mpsc::UnboundedSender<Command>,
}

impl Registry {
    /// Add a check, or replace the check of the same name. A run of the old version in flight
    /// finishes; the next run uses the new one.
    pub fn upsert(&self, spec: CheckSpec) {
        let _ = self.tx.send(Command::Upsert { spec, note: None });
    }

    /// Like [`Registry::upsert`], recording `note` (e.g. "loaded version 1.2.0") in the check's
    /// history instead of "registered" or "replaced".
    pub fn upsert_noted(&self, spec: CheckSpec, note: impl Into<String>) {
        // A send error means the evaluator has stopped; there is nothing left to update.
        let _ = self.tx.send(Command::Upsert {
            spec,
            note: Some(note.into()),
        });
    }

    /// Remove a check by name.
    pub fn remove(&self, name: &str) {
        self.remove_noted(name, "removed");
    }

    /// Remove a check by name, recording `note` (e.g. "removed: file deleted") as the last
    /// transition of its history, which stays visible in `/health/status` under `removed`.
    pub fn remove_noted(&self, name: &str, note: impl Into<String>) {
        let _ = self.tx.send(Command::Remove {
            name: name.to_owned(),
            note: note.into(),
        });
    }

    /// Publish a new snapshot now (after something the snapshot renders changed outside the
    /// checks, such as a plugin file being rejected).
    pub fn refresh(&self) {
        let _ = self.tx.send(Command::Refresh);
    }

    /// For an evaluator built with [`crate::VitalsBuilder::hold_until_started`]: the checks
    /// start-up registers are all registered. Until this is called the service reads as
    /// "starting", so readiness never passes on a half-registered set of checks; the startup
    /// grace counts from here.
    pub fn startup_complete(&self) {
        let _ = self.tx.send(Command::Started);
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

struct Entry {
    /// Shared with the published snapshots until it changes (copy on write).
    state: Arc<CheckState>,
    generation: u64,
    cancel: CancellationToken,
}

impl Entry {
    /// The state, to change: copied first if a snapshot still shares it, and its rendered
    /// fragment forgotten.
    fn state_mut(&mut self) -> &mut CheckState {
        let state = Arc::make_mut(&mut self.state);
        state.changed();
        state
    }
}

/// What the running evaluator keeps between commands.
struct Live {
    entries: BTreeMap<Arc<str>, Entry>,
    /// Removed checks, oldest first, with their history.
    retired: VecDeque<Arc<CheckState>>,
    generation: u64,
    phase: Phase,
    /// Publishing waits for [`Command::Started`].
    held: bool,
    /// When the startup grace began: at [`Evaluator::run`], or at the release of a hold.
    started: Instant,
    /// The origin of the grid the workers start their runs on (see [`worker::RUN_GRID`]).
    grid: Instant,
    permits: Arc<permits::RunPermits>,
    reports: mpsc::Sender<worker::RunReport>,
    shutdown: CancellationToken,
}

/// The background task that runs checks and publishes snapshots. Build it with
/// [`Evaluator::new`], then spawn [`Evaluator::run`].
pub struct Evaluator {
    shared: Arc<Shared>,
    cfg: EvaluatorConfig,
    bp: BackpressureConfig,
    ctx: Arc<RenderContext>,
    commands: mpsc::UnboundedReceiver<Command>,
    held: bool,
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
pub(crate) fn initial_snapshot(
    ctx: &Arc<RenderContext>,
    bp: &BackpressureConfig,
) -> snapshot::HealthSnapshot {
    let checks: Vec<Arc<CheckState>> = Vec::new();
    let admission = admission(&checks, bp);
    let overall = crate::aggregate::Overall {
        status: crate::check::Status::Unknown,
        culprits: vec!["the evaluator".to_owned()],
    };
    snapshot::build(
        0,
        Phase::Starting,
        checks,
        Vec::new(),
        overall,
        admission,
        ctx,
    )
}

impl Evaluator {
    /// An evaluator publishing into `shared`, and the registry that feeds it checks.
    pub fn new(
        shared: Arc<Shared>,
        cfg: EvaluatorConfig,
        bp: BackpressureConfig,
        ctx: Arc<RenderContext>,
    ) -> (Evaluator, Registry) {
        let (tx, commands) = mpsc::unbounded_channel();
        (
            Evaluator {
                shared,
                cfg,
                bp,
                ctx,
                commands,
                held: false,
            },
            Registry { tx },
        )
    }

    /// Publish nothing until [`Registry::startup_complete`]: checks run, but the initial
    /// ("starting") snapshot stays until start-up has registered every check.
    pub(crate) fn hold_until_started(&mut self) {
        self.held = true;
    }

    /// Run until `shutdown` is cancelled. Spawn this on the runtime.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let (report_tx, mut reports) = mpsc::channel(1024);
        let mut live = Live {
            entries: BTreeMap::new(),
            retired: VecDeque::new(),
            generation: 0,
            phase: Phase::Starting,
            held: self.held,
            started: Instant::now(),
            grid: Instant::now(),
            permits: permits::RunPermits::new(self.cfg.max_concurrency),
            reports: report_tx,
            shutdown: shutdown.clone(),
        };
        let mut seq = self.shared.load().seq;
        let mut heartbeat = tokio::time::interval(self.cfg.heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tracing::info!(checks = 0, "evaluator started");

        // Something changed that the published snapshot does not show yet.
        let mut pending = false;
        // A command (a check added or removed, a refresh) changed it: rare, and awaited by
        // whoever sent it, so it goes out at once; only results are coalesced.
        let mut urgent = false;
        // The earliest time the next snapshot may be published.
        let mut next_publish = Instant::now();
        loop {
            // While held, nothing is published: no reason to wake for it.
            let publish_due = pending && !live.held;
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(cmd) = self.commands.recv() => {
                    self.apply_command(cmd, &mut live);
                    // A reconcile sends one command per plugin: fold all that are waiting into
                    // one snapshot.
                    while let Ok(more) = self.commands.try_recv() {
                        self.apply_command(more, &mut live);
                    }
                    pending = true;
                    urgent = true;
                }
                Some(report) = reports.recv() => {
                    self.apply_report(report, &mut live.entries);
                    // Fold everything already waiting into the same snapshot.
                    while let Ok(more) = reports.try_recv() {
                        self.apply_report(more, &mut live.entries);
                    }
                    pending = true;
                }
                _ = tokio::time::sleep_until(next_publish), if publish_due => {}
                _ = heartbeat.tick() => {}
            }
            let now = Instant::now();
            if pending && !urgent && !live.held && now < next_publish {
                // Published less than PUBLISH_GAP ago: this change goes out with the next one.
                continue;
            }
            let now_phase =
                if live.held || now.duration_since(live.started) < self.cfg.startup_grace {
                    Phase::Starting
                } else {
                    Phase::Running
                };
            if now_phase != live.phase {
                live.phase = now_phase;
                pending = true;
            }
            // A joining check that is overdue now counts: publish the change.
            for e in live.entries.values_mut() {
                if e.state.joining_until.is_some_and(|until| now >= until) {
                    e.state_mut().joining_until = None;
                    pending = true;
                }
            }
            if pending && !live.held {
                pending = false;
                urgent = false;
                next_publish = now + PUBLISH_GAP;
                seq += 1;
                let checks: Vec<Arc<CheckState>> =
                    live.entries.values().map(|e| e.state.clone()).collect();
                let overall = overall(&checks, live.phase, now);
                let admission = admission(&checks, &self.bp);
                let removed: Vec<Arc<CheckState>> = live.retired.iter().cloned().collect();
                let snap = snapshot::build(
                    seq, live.phase, checks, removed, overall, admission, &self.ctx,
                );
                self.shared.publish(snap);
            } else {
                self.shared.mark_cycle();
            }
        }
        for e in live.entries.values() {
            e.cancel.cancel();
        }
        live.permits.close();
        tracing::info!("evaluator stopped");
    }

    fn apply_command(&self, cmd: Command, live: &mut Live) {
        match cmd {
            Command::Upsert { spec, note } => {
                live.generation += 1;
                let generation = live.generation;
                let name: Arc<str> = spec.name.as_str().into();
                let cancel = live.shutdown.child_token();
                let revived = live
                    .retired
                    .iter()
                    .position(|s| s.name == name)
                    .and_then(|i| live.retired.remove(i));
                let state = match (live.entries.remove(&name), revived) {
                    (Some(mut old), _) => {
                        old.cancel.cancel();
                        let state = old.state_mut();
                        state.settings = spec.settings.clone();
                        state.kind = spec.check.kind();
                        state.push_transition(Transition {
                            time: SystemTime::now(),
                            from: Some(state.status()),
                            to: state.status(),
                            output: note.unwrap_or_else(|| "replaced".to_owned()),
                        });
                        old.state
                    }
                    (None, revived) => {
                        let mut state = CheckState::new(
                            &name,
                            spec.check.kind(),
                            spec.settings.clone(),
                            SystemTime::now(),
                        );
                        if let Some(note) = note {
                            for t in Arc::make_mut(&mut state.history) {
                                t.output.clone_from(&note);
                            }
                        }
                        if let Some(old) = revived {
                            // Back under the same name: its history continues.
                            let mut history = (*old.history).clone();
                            history.extend(state.history.iter().cloned());
                            while history.len() > snapshot::HISTORY_LEN {
                                history.pop_front();
                            }
                            state.history = Arc::new(history);
                        }
                        if live.phase == Phase::Running {
                            state.joining_until = Some(Instant::now() + spec.settings.timeout);
                        }
                        Arc::new(state)
                    }
                };
                tokio::spawn(
                    worker::Worker {
                        name: name.clone(),
                        generation,
                        check: spec.check,
                        settings: spec.settings,
                        jitter: self.cfg.jitter,
                        permits: live.permits.clone(),
                        reports: live.reports.clone(),
                        cancel: cancel.clone(),
                        grid: live.grid,
                    }
                    .run(),
                );
                tracing::debug!(check = %name, "check registered");
                live.entries.insert(
                    name,
                    Entry {
                        state,
                        generation,
                        cancel,
                    },
                );
            }
            Command::Remove { name, note } => {
                if let Some(mut old) = live.entries.remove(name.as_str()) {
                    old.cancel.cancel();
                    let state = old.state_mut();
                    state.push_transition(Transition {
                        time: SystemTime::now(),
                        from: Some(state.status()),
                        to: Status::Unknown,
                        output: note,
                    });
                    if live.retired.len() == RETIRED_CHECKS {
                        live.retired.pop_front();
                    }
                    live.retired.push_back(old.state);
                    tracing::info!(check = %name, "check removed");
                }
            }
            Command::Refresh => {}
            Command::Started => {
                if live.held {
                    live.held = false;
                    live.started = Instant::now();
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
        let state = entry.state_mut();
        state.kind = report.kind;
        apply_result(
            state,
            report.result,
            report.timed_out,
            &self.bp,
            Instant::now(),
        );
    }
}
