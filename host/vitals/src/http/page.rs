//! The status page: one HTML document with inline CSS and JavaScript, compiled into the binary
//! and served as static bytes (no rendering, no I/O). The page itself fetches `/health/status`
//! and `/plugins` every 2 s with the token the operator pasted (kept in sessionStorage); where
//! `/plugins` is not served (a library router without the plugin runtime), the plugins table
//! stays hidden.

use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;

use super::respond;

/// Content type of the page.
const HTML: &str = "text/html; charset=utf-8";

static PAGE: &str = include_str!("status.html");

/// The status page (HTML; it reads `/health/status` and `/plugins` from the browser).
#[utoipa::path(get, path = "/status", tag = "page",
    responses((status = 200, description = "The status page: one HTML document, no external resources",
        content_type = "text/html", body = String)))]
pub(super) async fn status_page() -> Response {
    respond(StatusCode::OK, HTML, Bytes::from_static(PAGE.as_bytes()))
}
