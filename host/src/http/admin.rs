//! Endpoints that change state. They always require the bearer token, and are disabled when
//! no token is configured.

use axum::extract::{Path, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use super::probes::fail_json;
use super::{HEALTH_JSON, HttpState, Token, auth, respond};

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
