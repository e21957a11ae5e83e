//! Endpoints that change state. They always require the bearer token, and are disabled when
//! no token is configured.

use axum::extract::{Path, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use super::probes::fail_json;
use super::{HEALTH_JSON, HttpState, Token, auth, respond, schema};

/// Why a state-changing request is refused, if it is.
pub fn refuse(token: Option<&Token>, headers: &HeaderMap) -> Option<Response> {
    let Some(token) = token else {
        return Some(respond(
            StatusCode::FORBIDDEN,
            HEALTH_JSON,
            fail_json("disabled: configure http.token to enable this endpoint"),
        ));
    };
    if auth::bearer(headers).is_some_and(|p| token.matches(p)) {
        None
    } else {
        Some(respond(
            StatusCode::UNAUTHORIZED,
            HEALTH_JSON,
            fail_json("invalid or missing bearer token"),
        ))
    }
}

/// `POST /health/heartbeat/{name}`: record a beat for a registered worker.
#[utoipa::path(post, path = "/health/heartbeat/{name}", tag = "admin",
    params(("name" = String, Path, description = "The worker's name (a `heartbeat` check)")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Beat recorded"),
        (status = 401, description = "Missing or wrong token", content_type = "application/health+json", body = schema::Problem),
        (status = 403, description = "No token is configured: the endpoint is disabled",
            content_type = "application/health+json", body = schema::Problem),
        (status = 404, description = "No worker with this name", content_type = "application/health+json", body = schema::Problem),
    ))]
pub(super) async fn heartbeat(
    State(state): State<HttpState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refuse(state.token.as_deref(), &headers) {
        return refused;
    }
    if state.heartbeats.beat(&name) {
        respond(StatusCode::NO_CONTENT, HEALTH_JSON, Bytes::new())
    } else {
        respond(
            StatusCode::NOT_FOUND,
            HEALTH_JSON,
            fail_json(&format!("no worker named '{name}'")),
        )
    }
}
