//! Rendering a snapshot's response bodies: the small ones with each publish, the big documents
//! once per snapshot on first request, each check's object once per change of the check.
//!
//! Bodies follow the IETF "Health Check Response Format for HTTP APIs" draft
//! (application/health+json): checks keyed `component:measurement`, each an array of objects with
//! `componentId`, `componentType`, `observedValue`, `observedUnit`, `status`, `time`, `output`.
//! The draft knows only pass/warn/fail, so an unknown check is rendered `"status": "fail"` with
//! `"state": "unknown"` beside it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::{Bodies, CheckState, HealthSnapshot, Transition, prometheus};
use crate::aggregate::{Overall, Phase};
use crate::backpressure::Admission;
use crate::check::{Details, Status};
use crate::metrics::MetricsSource;

/// Something with notes for `/health/status` (the draft's `notes`), such as a rejected plugin
/// file or a rejected config reload. Read once per snapshot.
pub trait NotesSource: Send + Sync {
    /// Append this source's notes, one line each.
    fn notes(&self, out: &mut Vec<String>);
}

/// Something that knows checks the snapshot has no result for yet (a plugin file being
/// compiled) or cannot have (a rejected file), so that `GET /health/checks/NAME` says why rather
/// than "no check named".
pub trait PendingSource: Send + Sync {
    /// Why check `name` has no result, in one line ("loading: ...", "rejected: ..."), or `None`
    /// if this source does not know the name.
    fn pending(&self, name: &str) -> Option<String>;

    /// What start-up still waits for, in one line ("compiling 3 plugins: a, b, c"), shown by
    /// readiness while the service has published nothing yet; `None` when this source waits
    /// for nothing.
    fn starting(&self) -> Option<String> {
        None
    }
}

/// Something rendered as a JSON document with each snapshot, when first asked for: an extra
/// document served by a route merged in through `VitalsBuilder::routes` (the daemon's
/// `GET /plugins`), read with [`HealthSnapshot::document`].
pub trait DocumentSource: Send + Sync {
    /// The document as of now.
    fn document(&self) -> serde_json::Value;
}

/// What rendering needs beyond the check states.
#[derive(Clone, Default)]
pub struct RenderContext {
    /// The draft's `serviceId`.
    pub service_id: String,
    /// The draft's `releaseId`.
    pub release_id: String,
    /// Extra metric families (plugin runtime, datasources, ...).
    pub metrics_sources: Vec<Arc<dyn MetricsSource>>,
    /// Sources of the status document's `notes`.
    pub notes_sources: Vec<Arc<dyn NotesSource>>,
    /// Sources that know checks not in the snapshot (asked only for a name it lacks).
    pub pending_sources: Vec<Arc<dyn PendingSource>>,
    /// The extra document, rendered with each snapshot when first asked for.
    pub document: Option<Arc<dyn DocumentSource>>,
}

impl std::fmt::Debug for RenderContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderContext")
            .field("service_id", &self.service_id)
            .field("release_id", &self.release_id)
            .field("metrics_sources", &self.metrics_sources.len())
            .field("notes_sources", &self.notes_sources.len())
            .field("pending_sources", &self.pending_sources.len())
            .field("document", &self.document.is_some())
            .finish()
    }
}

/// The status string the draft allows.
pub(crate) fn draft_status(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Warn => "warn",
        Status::Fail | Status::Unknown => "fail",
    }
}

pub(crate) fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Build a snapshot: the aggregate's small bodies now, the big documents on first request.
pub(crate) fn build(
    seq: u64,
    phase: Phase,
    checks: Vec<Arc<CheckState>>,
    removed: Vec<Arc<CheckState>>,
    overall: Overall,
    admission: Admission,
    ctx: &Arc<RenderContext>,
) -> HealthSnapshot {
    let bodies = Bodies {
        ready: Bytes::from(ready_line(&overall, phase)),
        ready_public: Bytes::from(public_ready_line(&overall, phase)),
        summary: to_bytes(&json!({ "status": draft_status(overall.status) })),
        backpressure: to_bytes(&backpressure_json(&admission)),
        backpressure_public: to_bytes(&public_backpressure_json(&admission)),
    };
    HealthSnapshot {
        seq,
        built_at: SystemTime::now(),
        phase,
        checks,
        removed,
        overall,
        admission,
        bodies,
        docs: Documents {
            ctx: ctx.clone(),
            ..Documents::default()
        },
    }
}

/// The documents that grow with the number of checks, each rendered at most once per snapshot
/// and only when asked for: with a thousand checks publishing a thousand snapshots a second,
/// rendering them all on every publish would cost O(N²).
#[derive(Debug, Clone, Default)]
pub(super) struct Documents {
    ctx: Arc<RenderContext>,
    status: OnceLock<Bytes>,
    ready_verbose: OnceLock<Bytes>,
    metrics: OnceLock<Bytes>,
    document: OnceLock<Bytes>,
}

impl Documents {
    pub(super) fn status(&self, snap: &HealthSnapshot) -> Bytes {
        self.status
            .get_or_init(|| status_document(snap, &self.ctx))
            .clone()
    }

    pub(super) fn ready_verbose(&self, snap: &HealthSnapshot) -> Bytes {
        self.ready_verbose
            .get_or_init(|| Bytes::from(ready_verbose(snap)))
            .clone()
    }

    pub(super) fn metrics(&self, snap: &HealthSnapshot) -> Bytes {
        self.metrics
            .get_or_init(|| Bytes::from(prometheus::render(snap, &self.ctx.metrics_sources)))
            .clone()
    }

    /// Why `name`, which is not in the snapshot, has no result, if a source knows it.
    pub(super) fn pending(&self, name: &str) -> Option<String> {
        self.ctx
            .pending_sources
            .iter()
            .find_map(|source| source.pending(name))
    }

    /// What start-up waits for, from every source that knows something.
    pub(super) fn starting(&self) -> Option<String> {
        let waits: Vec<String> = self
            .ctx
            .pending_sources
            .iter()
            .filter_map(|source| source.starting())
            .collect();
        (!waits.is_empty()).then(|| waits.join("; "))
    }

    pub(super) fn document(&self) -> Bytes {
        self.document
            .get_or_init(|| match &self.ctx.document {
                Some(source) => to_bytes(&source.document()),
                None => Bytes::from_static(b"null"),
            })
            .clone()
    }
}

/// The draft's document. Each check's object is its cached fragment, copied in as it is.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusDocument<'a> {
    status: &'static str,
    version: &'static str,
    release_id: &'a str,
    service_id: &'a str,
    description: &'static str,
    time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notes: Vec<String>,
    checks: BTreeMap<String, [&'a RawValue; 1]>,
    backpressure: &'a Admission,
    vitals: VitalsSection<'a>,
}

#[derive(Serialize)]
struct VitalsSection<'a> {
    state: &'static str,
    phase: &'static str,
    snapshot: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    removed: BTreeMap<&'a str, Removed<'a>>,
}

#[derive(Serialize)]
struct Removed<'a> {
    history: &'a VecDeque<Transition>,
}

fn status_document(snap: &HealthSnapshot, ctx: &RenderContext) -> Bytes {
    let mut notes = Vec::new();
    for source in &ctx.notes_sources {
        source.notes(&mut notes);
    }
    let doc = StatusDocument {
        status: draft_status(snap.overall.status),
        version: "1",
        release_id: &ctx.release_id,
        service_id: &ctx.service_id,
        description: "health of the service and its dependencies, from the vitals snapshot",
        time: rfc3339(snap.built_at),
        output: overall_output(&snap.overall, snap.phase),
        notes,
        checks: snap
            .checks
            .iter()
            .map(|c| (format!("{}:{}", c.name, c.kind.measurement), [c.json()]))
            .collect(),
        backpressure: &snap.admission,
        vitals: VitalsSection {
            state: snap.overall.status.as_str(),
            phase: match snap.phase {
                Phase::Starting => "starting",
                Phase::Running => "running",
            },
            snapshot: snap.seq,
            removed: snap
                .removed
                .iter()
                .map(|c| {
                    (
                        c.name.as_ref(),
                        Removed {
                            history: &c.history,
                        },
                    )
                })
                .collect(),
        },
    };
    // Serializing plain data into a Vec cannot fail.
    Bytes::from(serde_json::to_vec(&doc).unwrap_or_default())
}

fn to_bytes(v: &Value) -> Bytes {
    // Serializing a `Value` cannot fail: it has no non-string map keys.
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

fn overall_output(o: &Overall, phase: Phase) -> Option<String> {
    match o.status {
        Status::Pass => None,
        Status::Unknown if phase == Phase::Starting => Some(format!(
            "starting: waiting for the first result of {}",
            o.culprits.join(", ")
        )),
        _ => Some(format!("not passing: {}", o.culprits.join(", "))),
    }
}

/// The plain readiness body for an overall state.
pub(crate) fn ready_line(o: &Overall, phase: Phase) -> String {
    match o.status {
        Status::Pass => "ok\n".to_owned(),
        Status::Warn => format!("ok (degraded: {})\n", o.culprits.join(", ")),
        _ => format!("{}\n", overall_output(o, phase).unwrap_or_default()),
    }
}

/// The readiness body for callers who may not see details: the verdict without check names.
pub(crate) fn public_ready_line(o: &Overall, phase: Phase) -> String {
    match o.status {
        Status::Pass => "ok\n".to_owned(),
        Status::Warn => "ok (degraded)\n".to_owned(),
        Status::Unknown if phase == Phase::Starting => "starting\n".to_owned(),
        _ => format!(
            "not ready: {} critical check(s) not passing\n",
            o.culprits.len()
        ),
    }
}

fn ready_verbose(snap: &HealthSnapshot) -> String {
    let mut out = String::new();
    for c in &snap.checks {
        let s = c.status();
        let mark = if s.is_serving() { '+' } else { '-' };
        let output = c
            .last
            .as_ref()
            .map(|r| r.outcome.output.as_str())
            .unwrap_or("no result yet");
        let crit = if c.settings.critical {
            ""
        } else {
            " (non-critical)"
        };
        out.push_str(&format!(
            "[{mark}]{} {s}{crit}: {}\n",
            c.name,
            one_line(output)
        ));
    }
    out.push_str(&ready_line(&snap.overall, snap.phase));
    out
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// One check's object in the draft's format.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CheckDocument<'a> {
    component_id: &'a str,
    component_type: &'static str,
    status: &'static str,
    state: &'static str,
    critical: bool,
    backpressure_source: bool,
    consecutive_failures: u32,
    runs: u64,
    timeouts: u64,
    interval_ms: u64,
    timeout_ms: u64,
    history: &'a VecDeque<Transition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<String>,
    output: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw_status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    observed_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    observed_unit: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a Details>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tier: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_success: Option<String>,
}

/// Render one check's object (cached in its state by [`CheckState::json`]).
pub(super) fn check_fragment(c: &CheckState) -> Box<RawValue> {
    let status = c.status();
    let last = c.last.as_ref();
    let observed = last.and_then(|r| r.outcome.observed.as_ref());
    let doc = CheckDocument {
        component_id: &c.name,
        component_type: c.kind.component_type,
        status: draft_status(status),
        state: status.as_str(),
        critical: c.settings.critical,
        backpressure_source: c.settings.backpressure_source,
        consecutive_failures: c.damped.consecutive_failures,
        runs: c.runs,
        timeouts: c.timeouts,
        interval_ms: c.settings.interval.as_millis() as u64,
        timeout_ms: c.settings.timeout.as_millis() as u64,
        history: &c.history,
        time: last.map(|r| rfc3339(r.time)),
        output: last.map_or("no result yet", |r| r.outcome.output.as_str()),
        raw_status: last.map(|r| r.outcome.status.as_str()),
        duration_ms: last.map(|r| crate::check::millis(r.duration)),
        observed_value: observed.map(|o| o.value),
        observed_unit: observed.map(|o| o.unit.as_str()),
        details: last.map(|r| &r.outcome.details).filter(|d| !d.is_empty()),
        tier: c.load_tier().map(|t| t.as_str()),
        last_success: c.last_success.map(rfc3339),
    };
    // Plain data with string keys: serializing cannot fail.
    serde_json::value::to_raw_value(&doc).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

fn public_backpressure_json(a: &Admission) -> Value {
    match a {
        Admission::Open => json!({ "status": "pass", "admission": "open" }),
        Admission::Shedding(s) => json!({
            "status": "fail",
            "admission": "shedding",
            "retryAfterSeconds": s.retry_after.as_secs(),
        }),
    }
}

fn backpressure_json(a: &Admission) -> Value {
    match a {
        Admission::Open => json!({ "status": "pass", "admission": "open" }),
        Admission::Shedding(s) => json!({
            "status": "fail",
            "admission": "shedding",
            "source": s.source.as_str(),
            "check": s.check,
            "output": s.reason,
            "retryAfterSeconds": s.retry_after.as_secs(),
        }),
    }
}
