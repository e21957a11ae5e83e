//! The HTTP surface through the router (no sockets): status codes, auth, bodies, headers.

use std::time::Duration;

use async_trait::async_trait;
use http::{Method, Request};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use vitals::http::Token;
use vitals::{Check, CheckKind, CheckSettings, CheckSpec, Outcome, Status, Vitals};
use vitals_test_support::wait;

struct Fixed(Outcome, CheckKind);

#[async_trait]
impl Check for Fixed {
    fn kind(&self) -> CheckKind {
        self.1.clone()
    }
    async fn run(&self) -> Outcome {
        self.0.clone()
    }
}

fn spec(name: &str, o: Outcome, critical: bool) -> CheckSpec {
    let kind = CheckKind {
        component_type: "datastore",
        measurement: "responseTime",
    };
    CheckSpec::new(name, Fixed(o, kind)).with_settings(CheckSettings {
        interval: Duration::from_millis(100),
        critical,
        ..CheckSettings::default()
    })
}

struct App {
    vitals: Vitals,
    _stop: CancellationToken,
}

impl App {
    async fn start(builder: vitals::VitalsBuilder, expected_checks: usize) -> App {
        let (vitals, evaluator) = builder.build();
        let stop = CancellationToken::new();
        tokio::spawn(evaluator.run(stop.clone()));
        wait::until_async("every check has a result", wait::QUICK, async || {
            let s = vitals.snapshot();
            s.checks.len() == expected_checks && s.checks.iter().all(|c| c.last.is_some())
        })
        .await;
        App {
            vitals,
            _stop: stop,
        }
    }

    async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
    ) -> (u16, http::HeaderMap, String) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let res = self
            .vitals
            .router()
            .oneshot(req.body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        let code = res.status().as_u16();
        let headers = res.headers().clone();
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (code, headers, String::from_utf8(body.to_vec()).unwrap())
    }

    async fn get(&self, uri: &str) -> (u16, String) {
        let (c, _, b) = self.call(Method::GET, uri, None).await;
        (c, b)
    }
}

fn healthy_and_degraded() -> vitals::VitalsBuilder {
    Vitals::builder()
        .token(Token::new("t0ken"))
        .check(spec(
            "db",
            Outcome::pass("SELECT 1 ok")
                .observed(3.5, "ms")
                .detail("pool_idle", 4),
            true,
        ))
        .check(spec("cache", Outcome::fail("connection refused"), false))
}

#[tokio::test]
async fn non_critical_failure_degrades_but_stays_ready() {
    let app = App::start(healthy_and_degraded(), 2).await;
    let (code, body) = app.get("/health/ready").await;
    assert_eq!(code, 200);
    assert_eq!(body, "ok (degraded)\n", "no check names without the token");
    let (_, _, body) = app.call(Method::GET, "/health/ready", Some("t0ken")).await;
    assert_eq!(body, "ok (degraded: cache)\n");
    let (code, body) = app.get("/health").await;
    assert_eq!((code, body.as_str()), (200, r#"{"status":"warn"}"#));
}

#[tokio::test]
async fn critical_failure_fails_readiness_and_exclude_recomputes_it() {
    let b = Vitals::builder()
        .check(spec("db", Outcome::fail("timeout"), true))
        .check(spec("api", Outcome::pass("ok"), true));
    let app = App::start(b, 2).await;
    assert_eq!(app.get("/health/ready").await.0, 503);
    let (code, body) = app.get("/health/ready?exclude=db").await;
    assert_eq!((code, body.as_str()), (200, "ok\n"));
    let (code, body) = app.get("/health/ready?exclude=db&verbose").await;
    assert_eq!(code, 200);
    assert!(
        body.contains("[+]api pass") && body.contains("[~]db excluded"),
        "{body}"
    );
}

#[tokio::test]
async fn verbose_readiness_shows_checks_only_to_token_holders() {
    let app = App::start(healthy_and_degraded(), 2).await;
    let (_, _, anon) = app.call(Method::GET, "/health/ready?verbose", None).await;
    assert_eq!(anon, "ok (degraded)\n");
    let (_, _, anon) = app
        .call(Method::GET, "/health/ready?verbose&exclude=db", None)
        .await;
    assert_eq!(
        anon, "ok (degraded)\n",
        "exclude does not reveal names either"
    );
    let (code, _, body) = app
        .call(Method::GET, "/health/ready?verbose", Some("t0ken"))
        .await;
    assert_eq!(code, 200);
    assert!(body.contains("[+]db pass: SELECT 1 ok"), "{body}");
    assert!(
        body.contains("[-]cache fail (non-critical): connection refused"),
        "{body}"
    );
}

#[tokio::test]
async fn status_is_health_json_for_token_holders_and_overall_only_for_others() {
    let app = App::start(healthy_and_degraded(), 2).await;
    let (code, headers, anon) = app.call(Method::GET, "/health/status", None).await;
    assert_eq!(code, 200);
    assert_eq!(headers["content-type"], "application/health+json");
    assert_eq!(anon, r#"{"status":"warn"}"#);
    let (_, _, wrong) = app.call(Method::GET, "/health/status", Some("nope")).await;
    assert_eq!(wrong, r#"{"status":"warn"}"#);

    let (code, _, full) = app.call(Method::GET, "/health/status", Some("t0ken")).await;
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&full).unwrap();
    assert_eq!(v["status"], "warn");
    let db = &v["checks"]["db:responseTime"][0];
    assert_eq!(db["componentId"], "db");
    assert_eq!(db["componentType"], "datastore");
    assert_eq!(db["observedValue"], 3.5);
    assert_eq!(db["observedUnit"], "ms");
    assert_eq!(db["status"], "pass");
    assert_eq!(db["output"], "SELECT 1 ok");
    assert_eq!(db["details"]["pool_idle"], 4);
    assert!(db["time"].as_str().unwrap().ends_with('Z'));
    assert!(!db["history"].as_array().unwrap().is_empty());
    assert_eq!(v["checks"]["cache:responseTime"][0]["status"], "fail");
}

#[tokio::test]
async fn single_check_needs_the_token_and_unknown_names_are_404() {
    let app = App::start(healthy_and_degraded(), 2).await;
    let (code, headers, _) = app.call(Method::GET, "/health/checks/db", None).await;
    assert_eq!(code, 401);
    assert_eq!(headers["www-authenticate"], "Bearer");
    let (code, _, body) = app
        .call(Method::GET, "/health/checks/cache", Some("t0ken"))
        .await;
    assert_eq!(code, 503, "a failing check answers 503 on its own path");
    assert!(body.contains("connection refused"));
    assert_eq!(
        app.call(Method::GET, "/health/checks/nope", Some("t0ken"))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn the_library_router_leaves_plugins_to_the_plugin_runtime() {
    // The core knows no plugins: `/plugins` is a route the daemon merges in.
    let app = App::start(healthy_and_degraded(), 2).await;
    let (code, _, _) = app.call(Method::GET, "/plugins", Some("t0ken")).await;
    assert_eq!(code, 404);
    let doc: serde_json::Value = serde_json::from_slice(&vitals::http::openapi_json()).unwrap();
    assert!(doc["paths"]["/health/ready"].is_object(), "{doc}");
    assert!(doc["paths"].get("/plugins").is_none(), "{doc}");
}

#[tokio::test]
async fn metrics_need_the_token_and_expose_every_family() {
    let app = App::start(healthy_and_degraded(), 2).await;
    assert_eq!(app.call(Method::GET, "/metrics", None).await.0, 401);
    let (code, headers, text) = app.call(Method::GET, "/metrics", Some("t0ken")).await;
    assert_eq!(code, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    for needle in [
        "vitals_check_status{check=\"cache\",status=\"fail\"} 1",
        "vitals_check_status{check=\"db\",status=\"pass\"} 1",
        "vitals_check_duration_seconds{check=\"db\"}",
        "vitals_check_consecutive_failures{check=\"cache\"} 1",
        "vitals_check_last_success_timestamp_seconds{check=\"db\"}",
        "vitals_backpressure_active 0",
        "vitals_backpressure_source{source=\"circuit_breaker\"} 0",
        "vitals_evaluator_cycle_age_seconds ",
        "vitals_health_status{status=\"warn\"} 1",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}

fn failing_source() -> CheckSpec {
    let source = spec("upstream", Outcome::fail("503s"), false);
    CheckSpec {
        settings: CheckSettings {
            backpressure_source: true,
            ..source.settings.clone()
        },
        ..source
    }
}

#[tokio::test]
async fn backpressure_endpoint_answers_503_with_retry_after_while_a_source_fails() {
    let source = failing_source();
    let app = App::start(Vitals::builder().check(source), 1).await;
    let (code, headers, body) = app.call(Method::GET, "/health/backpressure", None).await;
    assert_eq!(code, 503);
    let secs: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((10..=11).contains(&secs), "{secs}");
    assert!(body.contains("\"source\":\"check\""), "{body}");

    // With a token configured, only token holders learn which check closed admission.
    let source = failing_source();
    let guarded = App::start(
        Vitals::builder().token(Token::new("t0ken")).check(source),
        1,
    )
    .await;
    let (code, headers, anon) = guarded
        .call(Method::GET, "/health/backpressure", None)
        .await;
    assert_eq!(code, 503);
    assert!(headers.contains_key("retry-after"));
    assert!(
        !anon.contains("upstream") && !anon.contains("503s"),
        "{anon}"
    );
    let (_, _, full) = guarded
        .call(Method::GET, "/health/backpressure", Some("t0ken"))
        .await;
    assert!(full.contains("upstream"), "{full}");

    let open = App::start(
        Vitals::builder().check(spec("db", Outcome::pass("ok"), true)),
        1,
    )
    .await;
    assert_eq!(open.get("/health/backpressure").await.0, 200);
}

#[tokio::test]
async fn heartbeat_post_requires_a_configured_token() {
    let mut b = Vitals::builder();
    let _ = b.heartbeat("mailer", Duration::from_secs(30));
    let open = App::start(b, 1).await;
    assert_eq!(
        open.call(Method::POST, "/health/heartbeat/mailer", None)
            .await
            .0,
        403
    );

    let mut b = Vitals::builder().token(Token::new("t0ken"));
    let handle = b.heartbeat("mailer", Duration::from_secs(30));
    let app = App::start(b, 1).await;
    assert_eq!(
        app.call(Method::POST, "/health/heartbeat/mailer", None)
            .await
            .0,
        401
    );
    assert_eq!(
        app.call(Method::POST, "/health/heartbeat/mailer", Some("bad"))
            .await
            .0,
        401
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = handle.age();
    assert_eq!(
        app.call(Method::POST, "/health/heartbeat/mailer", Some("t0ken"))
            .await
            .0,
        204
    );
    assert!(handle.age() < before);
    assert_eq!(
        app.call(Method::POST, "/health/heartbeat/nobody", Some("t0ken"))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn draining_turns_readiness_503_at_once_while_liveness_stays_up() {
    let app = App::start(
        Vitals::builder().check(spec("db", Outcome::pass("ok"), true)),
        1,
    )
    .await;
    assert_eq!(app.get("/health/ready").await.0, 200);
    app.vitals.start_draining();
    let (code, body) = app.get("/health/ready").await;
    assert_eq!((code, body.as_str()), (503, "draining: shutting down\n"));
    assert_eq!(app.get("/health/live").await.0, 200);
    assert_eq!(
        app.vitals.snapshot().check("db").unwrap().status(),
        Status::Pass
    );
}
