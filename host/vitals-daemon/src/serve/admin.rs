//! The daemon's own HTTP routes, merged into the library router: `POST /admin/reload` (as
//! SIGHUP does, answered with the outcome), `GET /`, which redirects to the status page, and the
//! plugin runtime's `GET /plugins`. The
//! OpenAPI document of a daemon is the library's plus these.

use axum::Extension;
use axum::extract::State;
use axum::response::{Redirect, Response};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::Serialize;
use tokio::sync::mpsc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ReloadRequest;
use vitals::http::{DraftStatus, HEALTH_JSON, HttpState, Problem, fail_json, refuse, respond};

/// The way to the reload task, for the reload handler.
#[derive(Clone)]
struct ReloadTrigger(mpsc::Sender<ReloadRequest>);

/// The daemon's routes, each with its OpenAPI description; reload requests go to `trigger`.
pub(crate) fn routes(trigger: mpsc::Sender<ReloadRequest>) -> OpenApiRouter<HttpState> {
    described().layer(Extension(ReloadTrigger(trigger)))
}

/// The routes alone, for the document.
fn described() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(reload))
        .routes(routes!(root))
        .merge(vitals_wasm::routes())
}

/// The daemon's OpenAPI document (the library router's routes and the daemon's), as served at
/// `/openapi.json` and checked in as `docs/openapi.json`.
pub fn openapi_json() -> Bytes {
    vitals::http::openapi_json_of(described())
}

/// `POST /admin/reload` when the new config was applied.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // only its schema is used: the body is the summary, serialized
struct Reloaded {
    status: DraftStatus,
    added: Vec<String>,
    changed: Vec<String>,
    removed: Vec<String>,
    unchanged: u64,
    /// Sections that changed but apply only after a restart.
    restart_required: Vec<String>,
}

/// `POST /admin/reload`: re-read the config file and apply it. 200 with what changed; 422 with
/// the error when the file is rejected (the running config stays).
#[utoipa::path(post, path = "/admin/reload", tag = "admin",
    description = "Daemon only: re-read the config file and apply it, as SIGHUP does. All or nothing.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Applied: what changed", content_type = "application/health+json", body = Reloaded),
        (status = 401, description = "Missing or wrong token", content_type = "application/health+json", body = Problem),
        (status = 403, description = "No token is configured: the endpoint is disabled",
            content_type = "application/health+json", body = Problem),
        (status = 422, description = "The new config is rejected with every error found, one per line; the running config stays",
            content_type = "application/health+json", body = Problem),
        (status = 503, description = "The reload task has stopped", content_type = "application/health+json", body = Problem),
    ))]
async fn reload(
    State(state): State<HttpState>,
    Extension(trigger): Extension<ReloadTrigger>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refuse(state.token(), &headers) {
        return refused;
    }
    let (reply, answer) = tokio::sync::oneshot::channel();
    if trigger.0.send(reply).await.is_err() {
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

/// Daemon only: the root redirects to the status page.
#[utoipa::path(get, path = "/", tag = "page",
    responses((status = 307, description = "Redirect to `/status` (daemon only)",
        headers(("location" = String, description = "`/status`")))))]
async fn root() -> Redirect {
    Redirect::temporary("/status")
}
