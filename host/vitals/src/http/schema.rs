//! Schemas of the response bodies, for the OpenAPI document only. The bodies themselves are
//! rendered once per snapshot (`snapshot/render.rs`) from the engine's own types; these types
//! describe that JSON, and the schemathesis run checks every live response against them.

// Never constructed: only their schemas are used.
#![allow(dead_code, clippy::large_enum_variant)]

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// A status as the health+json draft knows it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DraftStatus {
    /// Healthy.
    Pass,
    /// Healthy, with a warning.
    Warn,
    /// Unhealthy.
    Fail,
}

/// A check state as vitals knows it (`unknown`: no result yet, or the evaluation failed).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum State {
    Pass,
    Warn,
    Fail,
    Unknown,
}

/// An error or a refusal: `{"status": "fail", "output": "why"}`, nothing else.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Problem {
    status: DraftStatus,
    output: String,
}

/// `GET /health`: the overall status only (with `output` while the evaluator is stale).
#[derive(Serialize, ToSchema)]
pub(crate) struct Summary {
    status: DraftStatus,
    #[schema(required = false)]
    output: String,
}

/// One change of a check's damped state.
#[derive(Serialize, ToSchema)]
pub(crate) struct Transition {
    /// RFC 3339.
    time: String,
    /// The state before; null when the check was just added.
    from: Option<State>,
    to: State,
    /// The output of the run that caused it.
    output: String,
}

/// One check, as in `/health/checks/{name}` and in the status document's `checks`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Check {
    component_id: String,
    component_type: String,
    status: DraftStatus,
    state: State,
    critical: bool,
    backpressure_source: bool,
    consecutive_failures: u32,
    runs: u64,
    timeouts: u64,
    interval_ms: u64,
    timeout_ms: u64,
    /// The last 50 transitions, oldest first.
    history: Vec<Transition>,
    output: String,
    /// When the latest run finished (RFC 3339); absent before the first run.
    #[schema(required = false)]
    time: String,
    /// The status the latest run reported, before flap control.
    #[schema(required = false)]
    raw_status: State,
    #[schema(required = false)]
    duration_ms: f64,
    #[schema(required = false)]
    observed_value: f64,
    #[schema(required = false)]
    observed_unit: String,
    #[schema(required = false)]
    details: BTreeMap<String, Value>,
    /// Load tier (channels and queues): normal, warning, critical or overflow.
    #[schema(required = false)]
    tier: String,
    #[schema(required = false)]
    last_success: String,
}

/// The admission decision inside the status document.
#[derive(Serialize, ToSchema)]
pub(crate) struct Admission {
    /// `open` or `shedding`.
    state: String,
    /// circuit_breaker, channel_saturation, queue_depth, check or stale.
    #[schema(required = false)]
    source: String,
    #[schema(required = false)]
    check: String,
    #[schema(required = false)]
    reason: String,
    /// Configured Retry-After before jitter, e.g. "5s".
    #[schema(required = false)]
    retry_after: String,
}

/// Engine facts beside the draft's fields.
#[derive(Serialize, ToSchema)]
pub(crate) struct VitalsInfo {
    state: State,
    /// `starting` or `running`.
    phase: String,
    snapshot: u64,
    /// Recently removed checks with their history.
    #[schema(required = false)]
    removed: BTreeMap<String, Value>,
}

/// `GET /health/status`: the full document for token holders; only `status` for anyone else,
/// and `status` + `output` while the evaluator is stale.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Status {
    status: DraftStatus,
    #[schema(required = false)]
    output: String,
    #[schema(required = false)]
    version: String,
    #[schema(required = false)]
    release_id: String,
    #[schema(required = false)]
    service_id: String,
    #[schema(required = false)]
    description: String,
    #[schema(required = false)]
    time: String,
    /// Keyed `name:measurement`, each a one-element array.
    #[schema(required = false)]
    checks: BTreeMap<String, Vec<Check>>,
    #[schema(required = false)]
    backpressure: Admission,
    #[schema(required = false)]
    vitals: VitalsInfo,
    /// Rejected plugin files, config reloads and their outcome.
    #[schema(required = false)]
    notes: Vec<String>,
}

/// `GET /health/backpressure`. Source, check and output only for token holders.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Backpressure {
    status: DraftStatus,
    /// `open` or `shedding`.
    admission: String,
    #[schema(required = false)]
    source: String,
    #[schema(required = false)]
    check: String,
    #[schema(required = false)]
    output: String,
    #[schema(required = false)]
    retry_after_seconds: u64,
}

/// `GET /health/checks/{name}` with 503: the failing check, or why there is no answer.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum CheckOrProblem {
    Check(Check),
    Problem(Problem),
}
