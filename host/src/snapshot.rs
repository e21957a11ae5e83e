//! The health snapshot: one immutable value, published atomically, read by every handler.
//!
//! The evaluator is the only writer. Readers load the current `Arc<HealthSnapshot>` without
//! locking ([`arc_swap`]), so they never block the writer and never see a half-built state.
//! Liveness of the writer itself is tracked apart from the snapshot, in one atomic counter that
//! the evaluator bumps every cycle: a snapshot that is never replaced must still be detected
//! as stale.

mod prometheus;
pub(crate) mod render;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use bytes::Bytes;
use serde::Serialize;
use tokio::time::Instant;

use crate::aggregate::{Overall, Phase};
use crate::backpressure::Admission;
use crate::check::{CheckKind, CheckResult, CheckSettings, Status};
use crate::damping::Damped;
use crate::tiers::{Tier, TierState};

pub use render::{NotesSource, RenderContext, build};

/// How many transitions each check keeps.
pub const HISTORY_LEN: usize = 50;

/// A change of a check's damped state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    /// When it happened.
    #[serde(with = "humantime_serde")]
    pub time: SystemTime,
    /// The state before (`None` when the check was just added).
    pub from: Option<Status>,
    /// The state after.
    pub to: Status,
    /// The output of the run that caused it.
    pub output: String,
}

/// Everything known about one check at snapshot time.
#[derive(Debug, Clone)]
pub struct CheckState {
    /// Unique name.
    pub name: Arc<str>,
    /// Labels for output.
    pub kind: CheckKind,
    /// Its settings.
    pub settings: CheckSettings,
    /// The latest raw result, if it has run.
    pub last: Option<CheckResult>,
    /// The flap-damped state.
    pub damped: Damped,
    /// The load tier, for checks that report channel saturation or queue depth.
    pub tier: Option<TierState>,
    /// The tier of the oldest message's age, for queues that report it.
    pub age_tier: Option<TierState>,
    /// When it last passed (or warned).
    pub last_success: Option<SystemTime>,
    /// Runs so far.
    pub runs: u64,
    /// Runs that hit the timeout.
    pub timeouts: u64,
    /// The last [`HISTORY_LEN`] transitions, oldest first.
    pub history: Arc<VecDeque<Transition>>,
    /// For a check added while the service runs: until when readiness does not wait for its
    /// first result (see [`crate::aggregate::Progress::Joining`]).
    pub joining_until: Option<Instant>,
}

impl CheckState {
    /// A check that has not run yet.
    pub fn new(name: &str, kind: CheckKind, settings: CheckSettings, now: SystemTime) -> Self {
        let mut history = VecDeque::with_capacity(4);
        history.push_back(Transition {
            time: now,
            from: None,
            to: Status::Unknown,
            output: "registered".to_owned(),
        });
        CheckState {
            name: name.into(),
            kind,
            settings,
            last: None,
            damped: Damped::INITIAL,
            tier: None,
            age_tier: None,
            last_success: None,
            runs: 0,
            timeouts: 0,
            history: Arc::new(history),
            joining_until: None,
        }
    }

    /// The state shown to the world: the damped state, raised to at least `warn` while the check's
    /// load tier is above normal.
    pub fn status(&self) -> Status {
        match self.load_tier() {
            Some(t) if t > Tier::Normal => self.damped.status.max(Status::Warn),
            _ => self.damped.status,
        }
    }

    /// The load tier shown and acted on: the higher of the depth (or saturation) tier and the
    /// age tier.
    pub fn load_tier(&self) -> Option<Tier> {
        match (self.tier, self.age_tier) {
            (Some(a), Some(b)) => Some(a.tier.max(b.tier)),
            (a, b) => a.or(b).map(|t| t.tier),
        }
    }

    /// Record a transition, keeping at most [`HISTORY_LEN`].
    pub fn push_transition(&mut self, t: Transition) {
        let history = Arc::make_mut(&mut self.history);
        if history.len() == HISTORY_LEN {
            history.pop_front();
        }
        history.push_back(t);
    }
}

/// Pre-rendered response bodies, built once per snapshot.
#[derive(Debug, Clone, Default)]
pub struct Bodies {
    /// `/health/ready` (plain), naming the checks that are not passing.
    pub ready: Bytes,
    /// `/health/ready` for callers without the token: the verdict, no check names.
    pub ready_public: Bytes,
    /// `/health/ready?verbose` with per-check lines.
    pub ready_verbose: Bytes,
    /// `/health` and the unauthenticated `/health/status`: the overall status only.
    pub summary: Bytes,
    /// `/health/status`: the full health+json document.
    pub status: Bytes,
    /// `/health/checks/{name}`.
    pub checks: HashMap<Arc<str>, Bytes>,
    /// `/health/backpressure`, with the source, check and reason.
    pub backpressure: Bytes,
    /// `/health/backpressure` for callers without the token: the decision and Retry-After only.
    pub backpressure_public: Bytes,
    /// `/metrics`, without the per-request age lines.
    pub metrics: Bytes,
    /// `GET /plugins`, when a plugin runtime is in use.
    pub plugins: Option<Bytes>,
}

/// The immutable health state at one point in time.
#[derive(Debug, Clone)]
pub struct HealthSnapshot {
    /// Increases with every publish.
    pub seq: u64,
    /// Wall-clock build time.
    pub built_at: SystemTime,
    /// Startup grace or running.
    pub phase: Phase,
    /// Every check, sorted by name.
    pub checks: Vec<CheckState>,
    /// Recently removed checks with their history, oldest removal first.
    pub removed: Vec<CheckState>,
    /// The aggregate.
    pub overall: Overall,
    /// The admission decision.
    pub admission: Admission,
    /// Pre-rendered bodies.
    pub bodies: Bodies,
}

impl HealthSnapshot {
    /// The state of one check by name.
    pub fn check(&self, name: &str) -> Option<&CheckState> {
        self.checks
            .binary_search_by(|c| c.name.as_ref().cmp(name))
            .ok()
            .map(|i| &self.checks[i])
    }
}

/// Lifecycle of the serving process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Serving normally.
    Serving,
    /// Shutdown requested: readiness reports "draining" while the server keeps answering.
    Draining,
}

/// How old the evaluator's last cycle is, as seen by a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Within the stale threshold.
    Fresh,
    /// Past the stale threshold: readiness and admission fail closed.
    Stale,
    /// Past the (longer) liveness threshold: liveness fails too.
    Dead,
}

/// The state shared between the evaluator (writer) and handlers (readers).
#[derive(Debug)]
pub struct Shared {
    snapshot: ArcSwap<HealthSnapshot>,
    base: Instant,
    last_cycle_ms: AtomicU64,
    draining: AtomicBool,
    stale_after: Duration,
    dead_after: Duration,
    /// Bumped on every publish and on draining, so followers (gRPC `Watch`) wake only when
    /// something changed instead of polling.
    changes: tokio::sync::watch::Sender<u64>,
}

impl Shared {
    /// Shared state holding `initial`, with the given stale and liveness thresholds.
    pub fn new(initial: HealthSnapshot, stale_after: Duration, dead_after: Duration) -> Self {
        Shared {
            snapshot: ArcSwap::from_pointee(initial),
            base: Instant::now(),
            last_cycle_ms: AtomicU64::new(0),
            draining: AtomicBool::new(false),
            stale_after,
            dead_after,
            changes: tokio::sync::watch::Sender::new(0),
        }
    }

    /// The current snapshot. Lock-free.
    pub fn load(&self) -> arc_swap::Guard<Arc<HealthSnapshot>> {
        self.snapshot.load()
    }

    /// The current snapshot as an owned `Arc`.
    pub fn load_full(&self) -> Arc<HealthSnapshot> {
        self.snapshot.load_full()
    }

    /// Replace the snapshot (evaluator only) and mark a cycle.
    pub fn publish(&self, snapshot: HealthSnapshot) {
        self.snapshot.store(Arc::new(snapshot));
        self.mark_cycle();
        self.signal_change();
    }

    /// A receiver that wakes after every publish and when draining starts (not on cycles that
    /// change nothing). Freshness is time-based and has no event: followers that care about
    /// staleness must time it themselves from [`Shared::cycle_age`].
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn signal_change(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Record that the evaluator completed a cycle, even if nothing changed.
    pub fn mark_cycle(&self) {
        let ms = Instant::now()
            .saturating_duration_since(self.base)
            .as_millis() as u64;
        self.last_cycle_ms.store(ms, Ordering::Release);
    }

    /// Time since the evaluator's last cycle.
    pub fn cycle_age(&self) -> Duration {
        let now = Instant::now().saturating_duration_since(self.base);
        let last = Duration::from_millis(self.last_cycle_ms.load(Ordering::Acquire));
        now.saturating_sub(last)
    }

    /// Whether the evaluator is keeping up.
    pub fn freshness(&self) -> Freshness {
        let age = self.cycle_age();
        if age > self.dead_after {
            Freshness::Dead
        } else if age > self.stale_after {
            Freshness::Stale
        } else {
            Freshness::Fresh
        }
    }

    /// Start draining: readiness turns 503 at once.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
        self.signal_change();
    }

    /// Serving or draining.
    pub fn lifecycle(&self) -> Lifecycle {
        if self.draining.load(Ordering::Acquire) {
            Lifecycle::Draining
        } else {
            Lifecycle::Serving
        }
    }

    /// The stale threshold.
    pub fn stale_after(&self) -> Duration {
        self.stale_after
    }
}
