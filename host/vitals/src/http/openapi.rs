//! The OpenAPI 3.1 document of the HTTP API (`GET /openapi.json`). Its paths come from the
//! `#[utoipa::path]` annotations of the very handlers the routers register (`routes!` in
//! `http.rs` registers a handler and its description together), so the document cannot list a
//! route the server lacks or miss one it has. Each router renders its own once, when built: a
//! daemon's lists its admin routes, a library router's does not.

use axum::Extension;
use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use super::{HttpState, respond};

/// Content type of the document.
const OPENAPI_JSON: &str = "application/json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "vitals",
        description = "Health checks and backpressure: Kubernetes-style probes, IETF health+json \
            status, Prometheus metrics, WebAssembly plugins. Probes are served from a snapshot \
            rendered in the background: no request does I/O. `/admin/reload`, `/plugins` and \
            `/` exist in the daemon (`vitals serve`) only, not in a library router.",
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

/// The document of a router, served at its `/openapi.json` (rendered once, when the router is
/// built).
#[derive(Clone)]
pub(super) struct Document(pub(super) Bytes);

/// `api` (the routes' paths and schemas) with this API's info, tags and security scheme.
pub(super) fn with_info(api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(api);
    doc
}

/// Pretty-printed JSON with a final newline (as checked in under docs/).
pub(super) fn to_json(doc: utoipa::openapi::OpenApi) -> Bytes {
    // Serializing the document cannot fail (string keys only); an empty body would show.
    let mut text = doc.to_pretty_json().unwrap_or_default();
    text.push('\n');
    Bytes::from(text)
}

/// The library router's document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi_of(OpenApiRouter::new())
}

/// [`openapi`] as JSON, as the library router serves it.
pub fn openapi_json() -> Bytes {
    openapi_json_of(OpenApiRouter::new())
}

/// The document of the library router plus `extra`.
pub fn openapi_of(extra: OpenApiRouter<HttpState>) -> utoipa::openapi::OpenApi {
    with_info(super::library_routes().merge(extra).into_openapi())
}

/// [`openapi_of`] as JSON.
pub fn openapi_json_of(extra: OpenApiRouter<HttpState>) -> Bytes {
    to_json(openapi_of(extra))
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(get, path = "/openapi.json", tag = "page",
    responses((status = 200, description = "This document", content_type = "application/json", body = Object)))]
pub(super) async fn document(Extension(document): Extension<Document>) -> Response {
    respond(StatusCode::OK, OPENAPI_JSON, document.0)
}
