//! The OpenAPI 3.1 document of the HTTP API (`GET /openapi.json`). Its paths come from the
//! `#[utoipa::path]` annotations of the very handlers the routers register (`routes!` in
//! `http.rs` registers a handler and its description together), so the document cannot list a
//! route the server lacks or miss one it has. Rendered once per process.

use std::sync::OnceLock;

use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::respond;

/// Content type of the document.
const OPENAPI_JSON: &str = "application/json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "vitals",
        description = "Health checks and backpressure: Kubernetes-style probes, IETF health+json \
            status, Prometheus metrics, WebAssembly plugins. Probes are served from a snapshot \
            rendered in the background: no request does I/O. `/admin/reload` and `/` exist in \
            the daemon (`vitals serve`) only, not in a library router.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&Bearer),
    tags(
        (name = "probes", description = "Kubernetes-style probes and admission; never need the token"),
        (name = "details", description = "Full status, checks, metrics and plugins; need the token when one is configured"),
        (name = "admin", description = "State changes; need the token, disabled (403) without one"),
        (name = "page", description = "The status page and this document"),
    )
)]
struct ApiDoc;

/// The `bearer` security scheme the annotations refer to.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("`Authorization: Bearer <http.token>`"))
                    .build(),
            ),
        );
    }
}

/// The document as a value: the info and security scheme, plus every route of the library
/// router and of the daemon's extra routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut api = ApiDoc::openapi();
    api.merge(super::library_routes().into_openapi());
    api.merge(super::daemon_routes().into_openapi());
    api
}

/// The document, pretty-printed JSON with a final newline (as checked in under docs/).
pub fn openapi_json() -> Bytes {
    static DOC: OnceLock<Bytes> = OnceLock::new();
    DOC.get_or_init(|| {
        // Serializing the document cannot fail (string keys only); an empty body would show.
        let mut text = openapi().to_pretty_json().unwrap_or_default();
        text.push('\n');
        Bytes::from(text)
    })
    .clone()
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(get, path = "/openapi.json", tag = "page",
    responses((status = 200, description = "This document", content_type = "application/json", body = Object)))]
pub(super) async fn document() -> Response {
    respond(StatusCode::OK, OPENAPI_JSON, openapi_json())
}
