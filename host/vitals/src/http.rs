//! The HTTP surface (axum). Every handler reads the latest snapshot and answers with bytes that
//! were rendered when the snapshot was built: no I/O, no lock that can block, no per-request
//! rendering of the whole report.
//!
//! The endpoints, their auth and their answers are the README's "HTTP API" table (one copy:
//! `host/vitals-daemon/tests/it/openapi.rs` checks it against the OpenAPI document these
//! registrations produce).
//!
//! Every route is registered with `routes!`, which takes the handler's `#[utoipa::path]`
//! description along: the OpenAPI document is built from the same registrations.
//!
//! "Token" means `Authorization: Bearer <token>` compared in constant time; when no token is
//! configured, details are open and the POST endpoints are disabled.

mod admin;
mod auth;
mod details;
mod openapi;
mod page;
mod probes;
mod schema;

use std::sync::Arc;

use axum::{Extension, Router};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::backpressure::BackpressureConfig;
use crate::check::Status;
use crate::heartbeat::Heartbeats;
use crate::snapshot::Shared;

pub use admin::refuse;
pub use auth::Token;
pub use details::refuse_details;
pub use openapi::{openapi, openapi_json};
pub use openapi::{openapi_json_of, openapi_of};
pub use probes::fail_json;
pub use schema::{DraftStatus, Problem};

/// Content type of health+json bodies.
pub const HEALTH_JSON: &str = "application/health+json";
/// Content type of text bodies.
pub const TEXT: &str = "text/plain; charset=utf-8";

/// What the handlers read.
#[derive(Clone)]
pub struct HttpState {
    pub(crate) shared: Arc<Shared>,
    pub(crate) token: Option<Arc<Token>>,
    pub(crate) heartbeats: Heartbeats,
    pub(crate) backpressure: Arc<BackpressureConfig>,
}

impl HttpState {
    /// State for the router: the shared snapshot, the optional bearer token, the heartbeat
    /// registry and the backpressure settings (for Retry-After jitter and the stale source).
    pub fn new(
        shared: Arc<Shared>,
        token: Option<Token>,
        heartbeats: Heartbeats,
        backpressure: BackpressureConfig,
    ) -> Self {
        HttpState {
            shared,
            token: token.map(Arc::new),
            heartbeats,
            backpressure: Arc::new(backpressure),
        }
    }
}

impl HttpState {
    /// The shared state: the latest snapshot and the daemon's lifecycle.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The bearer token details and admin routes require (`None`: details open, POSTs disabled).
    pub fn token(&self) -> Option<&Token> {
        self.token.as_deref()
    }
}

impl std::fmt::Debug for HttpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpState")
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

/// The routes of the library router, each with its OpenAPI description.
fn library_routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(probes::live))
        .routes(routes!(probes::ready))
        .routes(routes!(probes::summary))
        .routes(routes!(probes::backpressure))
        .routes(routes!(details::status))
        .routes(routes!(details::check))
        .routes(routes!(details::metrics))
        .routes(routes!(admin::heartbeat))
        .routes(routes!(page::status_page))
        .routes(routes!(openapi::document))
}

/// The probe and status router. Merge it into an application's router, or serve it alone.
pub fn router(state: HttpState) -> Router {
    router_with(state, OpenApiRouter::new())
}

/// The library router plus `extra` routes (a plugin runtime's `/plugins`, a daemon's admin
/// routes); `/openapi.json` describes them all.
pub(crate) fn router_with(state: HttpState, extra: OpenApiRouter<HttpState>) -> Router {
    let (router, api) = library_routes().merge(extra).split_for_parts();
    let document = openapi::Document(openapi::to_json(openapi::with_info(api)));
    router.layer(Extension(document)).with_state(state)
}

/// HTTP status for an overall or per-check state: pass/warn 200, anything else 503.
pub fn status_code(s: Status) -> StatusCode {
    if s.is_serving() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// A response with `content_type`, `Cache-Control: no-store` and `body` (for routes merged in
/// through [`VitalsBuilder::routes`](crate::VitalsBuilder::routes)).
pub fn respond(
    code: StatusCode,
    content_type: &'static str,
    body: Bytes,
) -> axum::response::Response {
    let mut res = axum::response::Response::new(axum::body::Body::from(body));
    *res.status_mut() = code;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
