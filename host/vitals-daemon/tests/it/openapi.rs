//! The OpenAPI document: the checked-in copy (docs/openapi.json) is what the code generates,
//! it describes every endpoint of the README's HTTP API table and nothing else, and a daemon
//! serves it, the status page and the root redirect; a library router documents only its own routes.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;
use vitals_test_support::http::{free_port, request, wait_for};
use vitals_test_support::wait;

use crate::support::process::serve_config;

/// Set to regenerate docs/openapi.json from the code.
const UPDATE: &str = "VITALS_UPDATE_OPENAPI";

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn document() -> Value {
    serde_json::from_slice(&vitals_daemon::openapi_json()).unwrap()
}

#[test]
fn checked_in_openapi_json_is_what_the_handlers_generate() {
    let path = root().join("docs/openapi.json");
    let generated = vitals_daemon::openapi_json();
    if std::env::var_os(UPDATE).is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/openapi.json differs from the document the code generates; regenerate it with \
         `{UPDATE}=1 cargo test -p vitals-daemon --test it openapi` and review the diff"
    );
}

#[test]
fn openapi_describes_exactly_the_endpoints_of_the_readme_table() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let table = readme
        .split("## HTTP API")
        .nth(1)
        .and_then(|s| s.split("\n\n").nth(1))
        .unwrap();
    let in_readme: BTreeSet<String> = table
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(|l| l.split('?').next().unwrap_or(l).to_owned())
        .collect();
    let doc = document();
    let mut in_doc = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            in_doc.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    assert_eq!(
        in_doc, in_readme,
        "OpenAPI paths vs the README's HTTP API table"
    );
}

#[test]
fn openapi_is_3_1_with_bearer_auth_parameters_and_content_types() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(bearer["type"], "http");
    assert_eq!(bearer["scheme"], "bearer");
    let ready = &doc["paths"]["/health/ready"]["get"];
    let params: Vec<&str> = ready["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["verbose", "exclude"]);
    let exclude = &ready["parameters"][1];
    assert_eq!(exclude["explode"], true, "exclude is repeatable: {exclude}");
    let metrics = &doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"];
    assert!(
        metrics.get("text/plain; version=0.0.4").is_some(),
        "{metrics}"
    );
    assert_eq!(
        doc["paths"]["/metrics"]["get"]["security"][0]["bearer"],
        serde_json::json!([])
    );
    let status = &doc["paths"]["/health/status"]["get"]["responses"]["503"]["content"];
    assert!(status.get("application/health+json").is_some(), "{status}");
    let page = &doc["paths"]["/status"]["get"]["responses"]["200"]["content"];
    assert!(page.get("text/html").is_some(), "{page}");
}

#[test]
fn daemon_serves_openapi_json_the_status_page_and_redirects_root() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vitals.toml");
    std::fs::write(
        &file,
        format!(
            "[service]\ndata_dir = \"{}\"\n[http]\ntoken = \"${{T}}\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let addr = free_port();
    let _daemon = serve_config(&file, addr, ("T", "t"));
    wait_for(addr, "/health/live", 200, wait::START);

    let (code, head, body) = request(addr, "GET", "/openapi.json", None).unwrap();
    assert_eq!(code, 200);
    assert!(head.contains("content-type: application/json"), "{head}");
    assert_eq!(body.as_bytes(), &vitals_daemon::openapi_json()[..]);

    let (code, head, _) = request(addr, "GET", "/", None).unwrap();
    assert_eq!(code, 307);
    assert!(head.contains("location: /status"), "{head}");

    let (code, head, page) = request(addr, "GET", "/status", None).unwrap();
    assert_eq!(code, 200);
    assert!(head.contains("content-type: text/html"), "{head}");
    // Self-contained: no external script, style, font or image.
    for external in ["http://", "https://", "src=", "@import", "url("] {
        assert!(!page.contains(external), "the page references {external}");
    }
    assert!(page.len() < 24 * 1024, "the page is {} bytes", page.len());
}

#[tokio::test]
async fn a_library_router_documents_its_own_routes_and_not_the_daemons() {
    use tower::ServiceExt;
    let (vitals, _evaluator) = vitals::Vitals::builder().build();
    let res = vitals
        .router()
        .oneshot(
            http::Request::get("/openapi.json")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body, vitals::http::openapi_json());
    let paths: BTreeSet<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert!(
        paths.contains("/health/ready") && paths.contains("/openapi.json"),
        "{paths:?}"
    );
    assert!(
        !paths.contains("/admin/reload") && !paths.contains("/"),
        "daemon routes in a library router's document: {paths:?}"
    );
}
