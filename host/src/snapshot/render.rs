//! Rendering a snapshot's response bodies, once per publish.
//!
//! Bodies follow the IETF "Health Check Response Format for HTTP APIs" draft
//! (application/health+json): checks keyed `component:measurement`, each an array of objects with
//! `componentId`, `componentType`, `observedValue`, `observedUnit`, `status`, `time`, `output`.
//! The draft knows only pass/warn/fail, so an unknown check is rendered `"status": "fail"` with
//! `"state": "unknown"` beside it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::{Bodies, CheckState, HealthSnapshot, prometheus};
use crate::aggregate::{Overall, Phase};
use crate::backpressure::Admission;
use crate::check::Status;
use crate::metrics::MetricsSource;
use crate::plugin::PluginRegistry;

/// Something with notes for `/health/status` (the draft's `notes`), such as a rejected plugin
/// file or a rejected config reload. Read once per snapshot.
pub trait NotesSource: Send + Sync {
    /// Append this source's notes, one line each.
    fn notes(&self, out: &mut Vec<String>);
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
    /// The plugin registry whose view `GET /plugins` serves, rendered with each snapshot.
    pub plugins: Option<Arc<PluginRegistry>>,
}

impl std::fmt::Debug for RenderContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderContext")
            .field("service_id", &self.service_id)
            .field("release_id", &self.release_id)
            .field("metrics_sources", &self.metrics_sources.len())
            .field("notes_sources", &self.notes_sources.len())
            .field("plugins", &self.plugins.is_some())
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

/// Build a snapshot with all of its bodies rendered.
pub fn build(
    seq: u64,
    phase: Phase,
    checks: Vec<CheckState>,
    removed: Vec<CheckState>,
    overall: Overall,
    admission: Admission,
    ctx: &RenderContext,
) -> HealthSnapshot {
    let built_at = SystemTime::now();
    let mut snap = HealthSnapshot {
        seq,
        built_at,
        phase,
        checks,
        removed,
        overall,
        admission,
        bodies: Bodies::default(),
    };
    snap.bodies = render_bodies(&snap, ctx);
    snap
}

fn render_bodies(snap: &HealthSnapshot, ctx: &RenderContext) -> Bodies {
    let mut per_check = HashMap::with_capacity(snap.checks.len());
    let mut checks_json = Map::new();
    for c in &snap.checks {
        let entry = check_json(c);
        per_check.insert(c.name.clone(), to_bytes(&entry));
        let key = format!("{}:{}", c.name, c.kind.measurement);
        checks_json.insert(key, Value::Array(vec![entry]));
    }
    let mut status = json!({
        "status": draft_status(snap.overall.status),
        "version": "1",
        "releaseId": ctx.release_id,
        "serviceId": ctx.service_id,
        "description": "health of the service and its dependencies, from the vitals snapshot",
        "time": rfc3339(snap.built_at),
        "checks": checks_json,
        "backpressure": snap.admission,
        "vitals": {
            "state": snap.overall.status.as_str(),
            "phase": match snap.phase { Phase::Starting => "starting", Phase::Running => "running" },
            "snapshot": snap.seq,
        },
    });
    if let Some(output) = overall_output(&snap.overall, snap.phase) {
        status["output"] = Value::String(output);
    }
    let mut notes = Vec::new();
    for source in &ctx.notes_sources {
        source.notes(&mut notes);
    }
    if !notes.is_empty() {
        status["notes"] = json!(notes);
    }
    if !snap.removed.is_empty() {
        let removed: Map<String, Value> = snap
            .removed
            .iter()
            .map(|c| (c.name.to_string(), json!({ "history": c.history.as_ref() })))
            .collect();
        status["vitals"]["removed"] = Value::Object(removed);
    }
    Bodies {
        ready: Bytes::from(ready_line(&snap.overall, snap.phase)),
        ready_public: Bytes::from(public_ready_line(&snap.overall, snap.phase)),
        ready_verbose: Bytes::from(ready_verbose(snap)),
        summary: to_bytes(&json!({ "status": draft_status(snap.overall.status) })),
        status: to_bytes(&status),
        checks: per_check,
        backpressure: to_bytes(&backpressure_json(&snap.admission)),
        backpressure_public: to_bytes(&public_backpressure_json(&snap.admission)),
        metrics: Bytes::from(prometheus::render(snap, &ctx.metrics_sources)),
        plugins: ctx.plugins.as_ref().map(|p| to_bytes(&p.to_json())),
    }
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

fn check_json(c: &CheckState) -> Value {
    let status = c.status();
    let mut v = json!({
        "componentId": c.name.as_ref(),
        "componentType": c.kind.component_type,
        "status": draft_status(status),
        "state": status.as_str(),
        "critical": c.settings.critical,
        "backpressureSource": c.settings.backpressure_source,
        "consecutiveFailures": c.damped.consecutive_failures,
        "runs": c.runs,
        "timeouts": c.timeouts,
        "intervalMs": c.settings.interval.as_millis() as u64,
        "timeoutMs": c.settings.timeout.as_millis() as u64,
        "history": c.history.as_ref(),
    });
    if let Some(r) = &c.last {
        v["time"] = Value::String(rfc3339(r.time));
        v["output"] = Value::String(r.outcome.output.clone());
        v["rawStatus"] = Value::String(r.outcome.status.as_str().to_owned());
        v["durationMs"] = json!(r.duration.as_secs_f64() * 1000.0);
        if let Some(o) = &r.outcome.observed {
            v["observedValue"] = json!(o.value);
            v["observedUnit"] = Value::String(o.unit.clone());
        }
        if !r.outcome.details.is_empty() {
            v["details"] = json!(r.outcome.details);
        }
    } else {
        v["output"] = Value::String("no result yet".to_owned());
    }
    if let Some(t) = c.load_tier() {
        v["tier"] = Value::String(t.as_str().to_owned());
    }
    if let Some(t) = c.last_success {
        v["lastSuccess"] = Value::String(rfc3339(t));
    }
    v
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
