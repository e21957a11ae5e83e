//! The health snapshot: one immutable value, published atomically, read by every handler.
//!
//! The evaluator is the only writer. Readers load the current `Arc<HealthSnapshot>` without
//! locking ([`arc_swap`]), so they never block the writer and never see a half-built state.
//! Liveness of the writer itself is tracked apart from the snapshot, in one atomic counter that
//! the evaluator bumps every cycle: a snapshot that is never replaced must still be detected
//! as stale.

mod prometheus;
pub(crate) mod render;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::time::Instant;

use crate::aggregate::{Overall, Phase};
use crate::backpressure::Admission;
use crate::check::{CheckKind, CheckResult, CheckSettings, Status};
use crate::damping::Damped;
use crate::tiers::{Tier, TierState};

pub use render::{DocumentSource, NotesSource, PendingSource};
pub(crate) use render::{RenderContext, build};

use render::Documents;

/// How many transitions each check keeps.
pub(crate) const HISTORY_LEN: usize = 50;

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
    /// This state's JSON fragment, rendered the first time a document needs it. Snapshots share
    /// unchanged states, so a check is rendered once per change, not once per publish.
    fragment: Fragment,
}

/// A rendered fragment that a clone does not inherit: a cloned state is about to be changed.
#[derive(Debug, Default)]
struct Fragment(OnceLock<Box<RawValue>>);

impl Clone for Fragment {
    fn clone(&self) -> Self {
        Fragment::default()
    }
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
            fragment: Fragment::default(),
        }
    }

    /// This check's health+json object, as served by `/health/checks/{name}` and inside
    /// `/health/status`. Rendered once; changing the state through [`CheckState::changed`]
    /// renders it again.
    pub fn json(&self) -> &RawValue {
        self.fragment.0.get_or_init(|| render::check_fragment(self))
    }

    /// Forget the rendered fragment. Call after changing a field in place.
    pub fn changed(&mut self) {
        self.fragment.0.take();
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
        self.changed();
        let history = Arc::make_mut(&mut self.history);
        if history.len() == HISTORY_LEN {
            history.pop_front();
        }
        history.push_back(t);
    }
}

/// Response bodies rendered with every publish: small, and served on every probe.
///
/// The documents that grow with the number of checks (`/health/status`, `/metrics`, the extra document,
/// verbose readiness) are not here: [`HealthSnapshot`] renders each at most once per snapshot,
/// when it is first asked for.
#[derive(Debug, Clone, Default)]
pub struct Bodies {
    /// `/health/ready` (plain), naming the checks that are not passing.
    pub ready: Bytes,
    /// `/health/ready` for callers without the token: the verdict, no check names.
    pub ready_public: Bytes,
    /// `/health` and the unauthenticated `/health/status`: the overall status only.
    pub summary: Bytes,
    /// `/health/backpressure`, with the source, check and reason.
    pub backpressure: Bytes,
    /// `/health/backpressure` for callers without the token: the decision and Retry-After only.
    pub backpressure_public: Bytes,
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
    /// Every check, sorted by name. Unchanged states are shared with the previous snapshot.
    pub checks: Vec<Arc<CheckState>>,
    /// Recently removed checks with their history, oldest removal first.
    pub removed: Vec<Arc<CheckState>>,
    /// The aggregate.
    pub overall: Overall,
    /// The admission decision.
    pub admission: Admission,
    /// Pre-rendered bodies.
    pub bodies: Bodies,
    /// The big documents, rendered on first request.
    docs: Documents,
}

impl HealthSnapshot {
    /// The state of one check by name.
    pub fn check(&self, name: &str) -> Option<&CheckState> {
        self.checks
            .binary_search_by(|c| c.name.as_ref().cmp(name))
            .ok()
            .map(|i| self.checks[i].as_ref())
    }

    /// `/health/status` for token holders: the full health+json document.
    pub fn status_body(&self) -> Bytes {
        self.docs.status(self)
    }

    /// For the initial snapshot, published before any evaluation (a service still starting):
    /// what start-up waits for, if a pending source says ("compiling 3 plugins: ...").
    pub fn starting(&self) -> Option<String> {
        (self.seq == 0).then(|| self.docs.starting()).flatten()
    }

    /// `/health/ready?verbose`: a line per check, then the verdict.
    pub fn ready_verbose_body(&self) -> Bytes {
        self.docs.ready_verbose(self)
    }

    /// `/metrics`, without the per-request age lines.
    pub fn metrics_body(&self) -> Bytes {
        self.docs.metrics(self)
    }

    /// Why check `name`, which this snapshot does not hold, has no result ("loading: ...",
    /// "rejected: ..."), if a pending source knows the name.
    pub fn pending(&self, name: &str) -> Option<String> {
        self.docs.pending(name)
    }

    /// The [`DocumentSource`]'s document as of this snapshot (`null` without one), rendered
    /// when first asked for.
    pub fn document(&self) -> Bytes {
        self.docs.document()
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::aggregate::Overall;
    use crate::check::{CheckResult, Outcome};

    fn snapshot(seq: u64, checks: Vec<Arc<CheckState>>) -> HealthSnapshot {
        let overall = Overall {
            status: Status::Pass,
            culprits: Vec::new(),
        };
        build(
            seq,
            Phase::Running,
            checks,
            Vec::new(),
            overall,
            Admission::Open,
            &Arc::new(RenderContext::default()),
        )
    }

    #[test]
    fn documents_render_once_per_snapshot_and_a_check_once_per_change() {
        let state = Arc::new(CheckState::new(
            "db",
            CheckKind::default(),
            CheckSettings::default(),
            SystemTime::now(),
        ));
        let first = snapshot(1, vec![state.clone()]);
        let a = first.status_body();
        let b = first.status_body();
        assert_eq!(
            a.as_ptr(),
            b.as_ptr(),
            "the status document was rendered twice"
        );
        assert_eq!(first.metrics_body().as_ptr(), first.metrics_body().as_ptr());

        // The next snapshot shares the unchanged state and its rendered object.
        let fragment = std::ptr::from_ref(state.json());
        let second = snapshot(2, vec![state.clone()]);
        assert_eq!(std::ptr::from_ref(second.checks[0].json()), fragment);
        let doc: serde_json::Value = serde_json::from_slice(&second.status_body()).unwrap();
        assert_eq!(doc["checks"]["db:status"][0]["output"], "no result yet");
        assert_eq!(doc["vitals"]["snapshot"], 2);

        // A changed state renders again, and only its own copy.
        let mut changed = state.clone();
        let s = Arc::make_mut(&mut changed);
        s.changed();
        s.runs = 1;
        s.last = Some(CheckResult {
            outcome: Outcome::pass("up"),
            time: SystemTime::now(),
            duration: Duration::from_millis(2),
        });
        let third = snapshot(3, vec![changed]);
        let doc: serde_json::Value = serde_json::from_slice(&third.status_body()).unwrap();
        let db = &doc["checks"]["db:status"][0];
        assert_eq!(
            (db["output"].as_str(), db["runs"].as_u64()),
            (Some("up"), Some(1))
        );
        assert_eq!(
            std::ptr::from_ref(state.json()),
            fragment,
            "the old copy kept its own"
        );
    }
}
