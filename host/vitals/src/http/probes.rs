//! Kubernetes-style probes and the admission endpoint. These never require auth.

use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};

use super::{HEALTH_JSON, HttpState, TEXT, auth, respond, schema, status_code};
use crate::backpressure::{Admission, retry_after_secs};
use crate::evaluator::overall;
use crate::snapshot::render::{public_ready_line, ready_line};
use crate::snapshot::{Freshness, Lifecycle};

fn age_secs(state: &HttpState) -> f64 {
    (state.shared.cycle_age().as_secs_f64() * 10.0).round() / 10.0
}

/// `GET /health/live`: the process and its evaluator loop are alive. No dependency is consulted.
#[utoipa::path(get, path = "/health/live", tag = "probes",
    responses(
        (status = 200, description = "The evaluator cycles (`ok`)", content_type = "text/plain", body = String),
        (status = 503, description = "No evaluator cycle for `evaluator.dead_after`", content_type = "text/plain", body = String),
    ))]
pub(super) async fn live(State(state): State<HttpState>) -> Response {
    match state.shared.freshness() {
        Freshness::Dead => {
            let body = format!("evaluator stalled: no cycle for {}s\n", age_secs(&state));
            respond(StatusCode::SERVICE_UNAVAILABLE, TEXT, Bytes::from(body))
        }
        Freshness::Fresh | Freshness::Stale => {
            respond(StatusCode::OK, TEXT, Bytes::from_static(b"ok\n"))
        }
    }
}

/// Why the snapshot cannot be trusted right now, if it cannot.
fn unavailable(state: &HttpState) -> Option<String> {
    if state.shared.lifecycle() == Lifecycle::Draining {
        return Some("draining: shutting down\n".to_owned());
    }
    match state.shared.freshness() {
        Freshness::Fresh => None,
        Freshness::Stale | Freshness::Dead => Some(format!(
            "stale: the evaluator has not completed a cycle for {}s\n",
            age_secs(state)
        )),
    }
}

struct ReadyQuery {
    verbose: bool,
    exclude: Vec<String>,
}

fn parse_ready_query(uri: &Uri) -> ReadyQuery {
    let mut q = ReadyQuery {
        verbose: false,
        exclude: Vec::new(),
    };
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "verbose" => q.verbose = !matches!(v.as_ref(), "false" | "0"),
            "exclude" => q.exclude.push(v.into_owned()),
            _ => {}
        }
    }
    q
}

/// `GET /health/ready[?verbose][&exclude=NAME...]`: started, not draining, critical checks pass.
#[utoipa::path(get, path = "/health/ready", tag = "probes",
    params(
        ("verbose" = Option<String>, Query, description = "List every check (`[+]db pass: ...`), for token holders. \
            Present without a value (`?verbose`) it is on; `false` or `0` turn it off."),
        ("exclude" = Option<Vec<String>>, Query, style = Form, explode,
            description = "Leave this check out of the verdict (repeatable: `?exclude=a&exclude=b`)"),
    ),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Started, not draining, critical checks pass or warn (`ok`, `ok (degraded: x)`)",
            content_type = "text/plain", body = String),
        (status = 503, description = "Not ready, with the reason: `starting: ...`, `draining`, `stale: ...`, `not passing: db`",
            content_type = "text/plain", body = String),
    ))]
pub(super) async fn ready(
    State(state): State<HttpState>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(reason) = unavailable(&state) {
        return respond(StatusCode::SERVICE_UNAVAILABLE, TEXT, Bytes::from(reason));
    }
    let q = parse_ready_query(&uri);
    let snap = state.shared.load();
    let trusted = auth::may_see_details(state.token.as_deref(), &headers);
    let details = q.verbose && trusted;
    if q.exclude.is_empty() {
        let body = if let Some(waits) = snap.starting().filter(|_| trusted) {
            Bytes::from(format!("starting: {waits}\n"))
        } else if details {
            snap.ready_verbose_body()
        } else if trusted {
            snap.bodies.ready.clone()
        } else {
            snap.bodies.ready_public.clone()
        };
        return respond(status_code(snap.overall.status), TEXT, body);
    }
    // Excluding checks re-aggregates the already-computed check states: a pure function over a
    // handful of values, no rendering of the report.
    let kept: Vec<_> = snap
        .checks
        .iter()
        .filter(|c| !q.exclude.iter().any(|e| e == c.name.as_ref()))
        .cloned()
        .collect();
    let o = overall(&kept, snap.phase, tokio::time::Instant::now());
    let mut body = String::new();
    if details {
        for c in &kept {
            let mark = if c.status().is_serving() { '+' } else { '-' };
            body.push_str(&format!("[{mark}]{} {}\n", c.name, c.status()));
        }
        for e in &q.exclude {
            body.push_str(&format!("[~]{e} excluded\n"));
        }
    }
    if trusted {
        body.push_str(&ready_line(&o, snap.phase));
    } else {
        body.push_str(&public_ready_line(&o, snap.phase));
    }
    respond(status_code(o.status), TEXT, Bytes::from(body))
}

/// `GET /health`: the overall status only.
#[utoipa::path(get, path = "/health", tag = "probes",
    responses(
        (status = 200, description = "Pass or warn", content_type = "application/health+json", body = schema::Summary),
        (status = 503, description = "Fail, starting, or the evaluator is stale", content_type = "application/health+json",
            body = schema::Summary),
    ))]
pub(super) async fn summary(State(state): State<HttpState>) -> Response {
    if let Some(reason) = stale_reason(&state) {
        return respond(
            StatusCode::SERVICE_UNAVAILABLE,
            HEALTH_JSON,
            fail_json(&reason),
        );
    }
    let snap = state.shared.load();
    respond(
        status_code(snap.overall.status),
        HEALTH_JSON,
        snap.bodies.summary.clone(),
    )
}

/// Staleness only (draining does not change what the status endpoints report).
pub(super) fn stale_reason(state: &HttpState) -> Option<String> {
    match state.shared.freshness() {
        Freshness::Fresh => None,
        _ => Some(format!(
            "stale: the evaluator has not completed a cycle for {}s",
            age_secs(state)
        )),
    }
}

/// A health+json problem body: `{"status": "fail", "output": output}`.
pub fn fail_json(output: &str) -> Bytes {
    Bytes::from(serde_json::json!({ "status": "fail", "output": output }).to_string())
}

/// `GET /health/backpressure`: 200 while work is admitted, 503 + Retry-After while shedding.
#[utoipa::path(get, path = "/health/backpressure", tag = "probes",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Work is admitted", content_type = "application/health+json", body = schema::Backpressure),
        (status = 503, description = "Shedding (source, check and reason for token holders), or the evaluator is stale",
            content_type = "application/health+json", body = schema::Backpressure,
            headers(("retry-after" = u64, description = "Seconds, with up to `retry_jitter` of random spread"))),
    ))]
pub(super) async fn backpressure(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    let bp = &state.backpressure;
    if let Some(reason) = stale_reason(&state) {
        // One jittered value for the header and the body, so a client reading either waits the
        // same.
        let retry = retry_after_secs(bp.retry_after.stale, bp.retry_jitter, fastrand::f64());
        let body = serde_json::json!({
            "status": "fail", "admission": "shedding", "source": "stale", "output": reason,
            "retryAfterSeconds": retry,
        });
        let mut res = respond(
            StatusCode::SERVICE_UNAVAILABLE,
            HEALTH_JSON,
            Bytes::from(body.to_string()),
        );
        set_retry_after(&mut res, retry);
        return res;
    }
    let snap = state.shared.load();
    let body = if auth::may_see_details(state.token.as_deref(), &headers) {
        &snap.bodies.backpressure
    } else {
        &snap.bodies.backpressure_public
    };
    match &snap.admission {
        Admission::Open => respond(StatusCode::OK, HEALTH_JSON, body.clone()),
        Admission::Shedding(s) => {
            let mut res = respond(StatusCode::SERVICE_UNAVAILABLE, HEALTH_JSON, body.clone());
            set_retry_after(
                &mut res,
                retry_after_secs(s.retry_after, bp.retry_jitter, fastrand::f64()),
            );
            res
        }
    }
}

pub(crate) fn set_retry_after(res: &mut Response, secs: u64) {
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
}
