//! Endpoints that change state. They always require the bearer token, and are disabled when
//! no token is configured.

use axum::extract::{Path, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use super::probes::fail_json;
use super::{HEALTH_JSON, HttpState, Token, auth, respond, schema};

/// Why a state-changing request is refused, if it is.
pub(crate) fn refuse(token: Option<&Token>, headers: &HeaderMap) -> Option<Response> {
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

/// What `POST /admin/reload` needs: the token and the way to the reload task.
#[derive(Clone)]
pub(crate) struct ReloadState {
    pub(crate) token: Option<std::sync::Arc<Token>>,
    pub(crate) trigger: tokio::sync::mpsc::Sender<crate::serve::ReloadRequest>,
}

/// `POST /admin/reload`: re-read the config file and apply it. 200 with what changed; 422 with
/// the error when the file is rejected (the running config stays).
#[utoipa::path(post, path = "/admin/reload", tag = "admin",
    description = "Daemon only: re-read the config file and apply it, as SIGHUP does. All or nothing.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Applied: what changed", content_type = "application/health+json", body = schema::Reloaded),
        (status = 401, description = "Missing or wrong token", content_type = "application/health+json", body = schema::Problem),
        (status = 403, description = "No token is configured: the endpoint is disabled",
            content_type = "application/health+json", body = schema::Problem),
        (status = 422, description = "The new config is rejected with every error found, one per line; the running config stays",
            content_type = "application/health+json", body = schema::Problem),
        (status = 503, description = "The reload task has stopped", content_type = "application/health+json", body = schema::Problem),
    ))]
pub(super) async fn reload(State(state): State<ReloadState>, headers: HeaderMap) -> Response {
    if let Some(refused) = refuse(state.token.as_deref(), &headers) {
        return refused;
    }
    let (reply, answer) = tokio::sync::oneshot::channel();
    if state.trigger.send(reply).await.is_err() {
        return respond(
            StatusCode::SERVICE_UNAVAILABLE,
            HEALTH_JSON,
            fail_json("the reload task has stopped"),
        );
    }
    match answer.await {
        Ok(Ok(summary)) => {
            let mut body = serde_json::json!({ "status": "pass" });
            if let (Some(map), Ok(serde_json::Value::Object(s))) =
                (body.as_object_mut(), serde_json::to_value(&summary))
            {
                map.extend(s);
            }
            respond(StatusCode::OK, HEALTH_JSON, Bytes::from(body.to_string()))
        }
        Ok(Err(error)) => respond(
            StatusCode::UNPROCESSABLE_ENTITY,
            HEALTH_JSON,
            fail_json(&format!(
                "config rejected, the running config stays: {error}"
            )),
        ),
        Err(_) => respond(
            StatusCode::SERVICE_UNAVAILABLE,
            HEALTH_JSON,
            fail_json("the reload task has stopped"),
        ),
    }
}
