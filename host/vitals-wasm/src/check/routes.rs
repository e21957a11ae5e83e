//! `GET /plugins`, the plugin runtime's route: every plugin check as the registry rendered it
//! with the latest snapshot. It is merged into the library router with
//! [`VitalsBuilder::routes`](vitals::VitalsBuilder::routes), and the registry is the builder's
//! [`document`](vitals::VitalsBuilder::document) source.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vitals::VitalsBuilder;
use vitals::http::{HttpState, Problem, refuse_details, respond};

use crate::PluginRegistry;

/// `builder` serving `GET /plugins` from `registry`.
pub fn serve_plugins(builder: VitalsBuilder, registry: Arc<PluginRegistry>) -> VitalsBuilder {
    builder.document(registry).routes(routes())
}

/// `GET /plugins` with its OpenAPI description, for a router that sets the document source
/// itself (the daemon's, which merges it with its own routes).
pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new().routes(routes!(plugins))
}

/// `GET /plugins`: the WebAssembly plugins, as rendered with the latest snapshot.
#[utoipa::path(get, path = "/plugins", tag = "details",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every plugin check", content_type = "application/json",
            body = Vec<Plugin>),
        (status = 401, description = "A token is configured and was not presented",
            content_type = "application/health+json", body = Problem,
            headers(("www-authenticate" = String, description = "`Bearer`"))),
    ))]
async fn plugins(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    if let Some(refused) = refuse_details(&state, &headers) {
        return refused;
    }
    let snap = state.shared().load();
    respond(StatusCode::OK, "application/json", snap.document())
}

// The schema of the document (the registry renders it; these types only describe it).

/// A plugin file that was not loaded; the previous version keeps running.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct Rejection {
    file: String,
    sha256: Option<String>,
    reason: String,
    at: String,
}

/// A plugin file being loaded.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct Loading {
    file: String,
    since: String,
}

/// One plugin check in `GET /plugins`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
struct Plugin {
    name: String,
    /// running, quarantined, loading (no version yet; see `loading`) or not_loaded.
    state: String,
    plugin: String,
    version: String,
    file: String,
    sha256: String,
    /// sha256 of the manifest (`NAME.toml`) the running version was loaded with.
    manifest_sha256: Option<String>,
    loaded_at: Option<String>,
    /// `{"state": "active" | "quarantined", "consecutive_traps": n[, "retry_in_secs": n]}`.
    quarantine: BTreeMap<String, Value>,
    last_error: Option<String>,
    rejected: Option<Rejection>,
    /// The file being loaded now, and since when (RFC 3339).
    loading: Option<Loading>,
    loads: u64,
    rejections: u64,
    runs: u64,
    traps: u64,
    timeouts: u64,
    oom: u64,
    memory_peak_bytes: u64,
    logs_dropped: u64,
}
