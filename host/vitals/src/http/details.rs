//! Detailed output: the full status document, one check, and Prometheus metrics.

use std::fmt::Write;

use axum::extract::{Path, State};
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::probes::{fail_json, stale_reason};
use super::{HEALTH_JSON, HttpState, auth, respond, schema, status_code};
use crate::snapshot::Lifecycle;

/// The 401 a details route answers when a token is configured and `headers` do not carry it;
/// `None` when the request may see details (for routes merged in through
/// [`VitalsBuilder::routes`](crate::VitalsBuilder::routes)).
pub fn refuse_details(state: &HttpState, headers: &HeaderMap) -> Option<Response> {
    (!auth::may_see_details(state.token.as_deref(), headers)).then(unauthorized)
}

fn unauthorized() -> Response {
    let mut res = respond(
        StatusCode::UNAUTHORIZED,
        HEALTH_JSON,
        fail_json("a bearer token is required for detailed output"),
    );
    res.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    res
}

/// `GET /health/status`: the full health+json document for token holders, the overall status
/// for everyone else.
#[utoipa::path(get, path = "/health/status", tag = "details",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Pass or warn: the full document for token holders, only `status` for others",
            content_type = "application/health+json", body = schema::Status),
        (status = 503, description = "Fail or starting (same bodies), or the evaluator is stale (`status` and `output`)",
            content_type = "application/health+json", body = schema::Status),
    ))]
pub(super) async fn status(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    if let Some(reason) = stale_reason(&state) {
        return respond(
            StatusCode::SERVICE_UNAVAILABLE,
            HEALTH_JSON,
            fail_json(&reason),
        );
    }
    let snap = state.shared.load();
    let body = if auth::may_see_details(state.token.as_deref(), &headers) {
        snap.status_body()
    } else {
        snap.bodies.summary.clone()
    };
    respond(status_code(snap.overall.status), HEALTH_JSON, body)
}

/// `GET /health/checks/{name}`: one check.
#[utoipa::path(get, path = "/health/checks/{name}", tag = "details",
    params(("name" = String, Path, description = "The check's name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The check passes or warns", content_type = "application/health+json", body = schema::Check),
        (status = 401, description = "A token is configured and was not presented",
            content_type = "application/health+json", body = schema::Problem,
            headers(("www-authenticate" = String, description = "`Bearer`"))),
        (status = 404, description = "No check with this name", content_type = "application/health+json", body = schema::Problem),
        (status = 503, description = "The check fails or has no result yet, its plugin file is loading (`loading: FILE since TIME`) or was rejected (`rejected: REASON`), or the evaluator is stale",
            content_type = "application/health+json", body = schema::CheckOrProblem),
    ))]
pub(super) async fn check(
    State(state): State<HttpState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refuse_details(&state, &headers) {
        return refused;
    }
    if let Some(reason) = stale_reason(&state) {
        return respond(
            StatusCode::SERVICE_UNAVAILABLE,
            HEALTH_JSON,
            fail_json(&reason),
        );
    }
    let snap = state.shared.load();
    match snap.check(&name) {
        Some(c) => respond(
            status_code(c.status()),
            HEALTH_JSON,
            Bytes::copy_from_slice(c.json().get().as_bytes()),
        ),
        // Known but without a result (a plugin file still compiling, or rejected): why.
        None => match snap.pending(&name) {
            Some(why) => respond(
                StatusCode::SERVICE_UNAVAILABLE,
                HEALTH_JSON,
                fail_json(&why),
            ),
            None => respond(
                StatusCode::NOT_FOUND,
                HEALTH_JSON,
                fail_json(&format!("no check named '{name}'")),
            ),
        },
    }
}

/// `GET /metrics`: the snapshot's metrics plus the two values only a reader can know (how old
/// the evaluator's last cycle is, and whether the process is draining).
#[utoipa::path(get, path = "/metrics", tag = "details",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain; version=0.0.4",
            body = String),
        (status = 401, description = "A token is configured and was not presented",
            content_type = "application/health+json", body = schema::Problem,
            headers(("www-authenticate" = String, description = "`Bearer`"))),
    ))]
pub(super) async fn metrics(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    if let Some(refused) = refuse_details(&state, &headers) {
        return refused;
    }
    let snap = state.shared.load();
    let pre = snap.metrics_body();
    let mut tail = String::with_capacity(256);
    let _ = writeln!(
        tail,
        "# HELP vitals_evaluator_cycle_age_seconds Time since the evaluator's last cycle."
    );
    let _ = writeln!(tail, "# TYPE vitals_evaluator_cycle_age_seconds gauge");
    let _ = writeln!(
        tail,
        "vitals_evaluator_cycle_age_seconds {}",
        state.shared.cycle_age().as_secs_f64()
    );
    let _ = writeln!(
        tail,
        "# HELP vitals_draining 1 while the process is draining before exit."
    );
    let _ = writeln!(tail, "# TYPE vitals_draining gauge");
    let draining = u8::from(state.shared.lifecycle() == Lifecycle::Draining);
    let _ = writeln!(tail, "vitals_draining {draining}");
    let mut body = BytesMut::with_capacity(pre.len() + tail.len());
    body.put_slice(&pre);
    body.put_slice(tail.as_bytes());
    respond(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        body.freeze(),
    )
}
