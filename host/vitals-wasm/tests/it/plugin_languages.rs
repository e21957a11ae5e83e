//! JavaScript and Python plugins in the real runtime: the shipped plugins against real servers
//! and files, the obeyed/violated limit pairs, capabilities and warm instances, exactly as for
//! Rust guests. The components are built by `cargo xtask guests` (componentize-js,
//! jco + componentize-qjs, componentize-py) and compiled once into the shared test cache.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use vitals::{Check, Outcome, Status};
use vitals_test_support::{guests, http, logs};
use vitals_wasm::{
    PluginCheck, PluginGrants, PluginRuntime, QuarantinePolicy, RunLimits, RuntimeConfig,
    WarmPolicy,
};

use crate::support;
use crate::support::http_grants;

async fn check(name: &str, grants: PluginGrants, limits: RunLimits) -> PluginCheck {
    let rt = support::cached_runtime();
    let loaded = support::load_serialized(&rt, name, grants).await;
    let quarantine = QuarantinePolicy {
        threshold: u32::MAX,
        ..QuarantinePolicy::default()
    };
    PluginCheck::new(&rt, name, loaded, limits, quarantine).unwrap()
}

async fn run(name: &str, grants: PluginGrants, limits: RunLimits) -> Outcome {
    check(name, grants, limits).await.run().await
}

fn deadline(ms: u64) -> RunLimits {
    RunLimits {
        deadline: Duration::from_millis(ms),
        ..RunLimits::default()
    }
}

/// The two misbehaving guests: one per language.
const GUESTS: [&str; 2] = ["misbehave-js", "misbehave-py"];

async fn json_server() -> String {
    let app = axum::Router::new()
        .route(
            "/status",
            axum::routing::get(|| async {
                axum::Json(serde_json::json!({
                    "status": "UP",
                    "database": { "latency_ms": 4, "replicas": ["a", "b"] },
                }))
            }),
        )
        .route(
            "/down",
            axum::routing::get(|| async {
                (
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    axum::Json(serde_json::json!({ "status": "DOWN" })),
                )
            }),
        );
    http::serve_local(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_json_passes_when_every_condition_holds_on_a_live_server() {
    let base = json_server().await;
    let url = format!("{base}/status");
    let grants = http_grants(&[
        ("url", &url),
        (
            "conditions",
            "[STATUS] == 200; [BODY].status == UP; [BODY].database.latency_ms < 50; \
             len([BODY].database.replicas) >= 2",
        ),
        ("warn_conditions", "[RESPONSE_TIME] < 2000"),
    ]);
    let outcome = run("http-json", grants, RunLimits::default()).await;
    assert_eq!(outcome.status, Status::Pass, "{outcome:?}");
    assert!(
        outcome.output.starts_with("HTTP 200 in") && outcome.output.ends_with("5 conditions met"),
        "{}",
        outcome.output
    );
    assert_eq!(outcome.observed.as_ref().unwrap().unit, "ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_json_fails_on_unmet_conditions_and_warns_on_unmet_warn_conditions() {
    let base = json_server().await;
    let down = format!("{base}/down");
    let grants = http_grants(&[
        ("url", &down),
        ("conditions", "[STATUS] == 200; [BODY].status == UP"),
    ]);
    let outcome = run("http-json", grants, RunLimits::default()).await;
    assert_eq!(outcome.status, Status::Fail, "{outcome:?}");
    assert!(
        outcome
            .output
            .contains("unmet: [STATUS] == 200 (was 503); [BODY].status == UP (was \"DOWN\")"),
        "{}",
        outcome.output
    );

    let up = format!("{base}/status");
    let grants = http_grants(&[
        ("url", &up),
        ("warn_conditions", "[BODY].database.latency_ms < 1"),
    ]);
    let outcome = run("http-json", grants, RunLimits::default()).await;
    assert_eq!(outcome.status, Status::Warn, "{outcome:?}");
    assert!(
        outcome
            .output
            .contains("[BODY].database.latency_ms < 1 (was 4)"),
        "{}",
        outcome.output
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_json_reports_a_config_mistake_as_unknown_naming_it() {
    let outcome = run(
        "http-json",
        http_grants(&[
            ("url", "http://127.0.0.1:1/"),
            ("conditions", "[STATUS]=200"),
        ]),
        RunLimits::default(),
    )
    .await;
    assert_eq!(outcome.status, Status::Unknown, "{outcome:?}");
    assert!(
        outcome.output.contains("\"[STATUS]=200\""),
        "{}",
        outcome.output
    );
}

fn write_status(dir: &Path, body: &str, age: Duration) -> String {
    let path = dir.join("backup-status.json");
    std::fs::write(&path, body).unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
    path.display().to_string()
}

fn file_grants(dir: &Path, pairs: &[(&str, &str)]) -> PluginGrants {
    PluginGrants {
        read_dirs: vec![dir.to_owned()],
        ..support::grants(pairs)
    }
}

#[tokio::test]
async fn json_file_judges_the_age_and_contents_of_a_real_status_file() {
    let dir = tempfile::tempdir().unwrap();
    let body = r#"{"last_run": {"ok": true}, "queue": {"depth": 420}}"#;
    let path = write_status(dir.path(), body, Duration::from_secs(60));
    let settings = [
        ("path", path.as_str()),
        ("max_age", "1h"),
        ("warn_age", "30m"),
        ("expect.last_run.ok", "true"),
        ("field", "queue.depth"),
        ("warn_above", "1000"),
        ("fail_above", "5000"),
    ];
    let outcome = run(
        "json-file",
        file_grants(dir.path(), &settings),
        RunLimits::default(),
    )
    .await;
    assert_eq!(outcome.status, Status::Pass, "{outcome:?}");
    assert_eq!(outcome.observed.as_ref().unwrap().value, 420.0);

    // The same file, older than warn_age, then than max_age.
    write_status(dir.path(), body, Duration::from_secs(45 * 60));
    let grants = file_grants(dir.path(), &settings);
    let outcome = run("json-file", grants, RunLimits::default()).await;
    assert_eq!(outcome.status, Status::Warn, "{outcome:?}");
    write_status(dir.path(), body, Duration::from_secs(2 * 3600));
    let grants = file_grants(dir.path(), &settings);
    let outcome = run("json-file", grants, RunLimits::default()).await;
    assert_eq!(outcome.status, Status::Fail, "{outcome:?}");
    assert!(
        outcome.output.contains("over max_age 3600s"),
        "{}",
        outcome.output
    );

    // A failed last run and a deep queue, in a fresh file.
    let body = r#"{"last_run": {"ok": false}, "queue": {"depth": 9000}}"#;
    write_status(dir.path(), body, Duration::ZERO);
    let grants = file_grants(dir.path(), &settings);
    let outcome = run("json-file", grants, RunLimits::default()).await;
    assert_eq!(outcome.status, Status::Fail, "{outcome:?}");
    assert!(
        outcome
            .output
            .contains("last_run.ok is false, expected true")
            && outcome.output.contains("queue.depth 9000 above 5000"),
        "{}",
        outcome.output
    );
}

#[tokio::test]
async fn json_file_cannot_read_a_file_outside_its_granted_directories() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_status(dir.path(), "{}", Duration::ZERO);
    let outcome = run(
        "json-file",
        support::grants(&[("path", &path)]),
        RunLimits::default(),
    )
    .await;
    assert_eq!(outcome.status, Status::Fail, "{outcome:?}");
    assert!(
        outcome
            .output
            .contains("is its directory granted with read_dirs?"),
        "{}",
        outcome.output
    );
}

#[tokio::test]
async fn a_quickjs_plugin_loads_and_runs() {
    let outcome = run("noop-qjs", PluginGrants::default(), RunLimits::default()).await;
    assert_eq!(outcome.status, Status::Pass, "{outcome:?}");
    assert_eq!(outcome.output, "ok from quickjs, run 1 of this instance");
}

#[tokio::test]
async fn javascript_and_python_plugins_pass_within_their_deadline() {
    for guest in GUESTS {
        let outcome = run(guest, support::grants(&[("mode", "pass")]), deadline(1000)).await;
        assert_eq!(outcome.status, Status::Pass, "{guest}: {outcome:?}");
    }
}

#[tokio::test]
async fn spinning_javascript_and_python_plugins_fail_at_their_deadline() {
    for guest in GUESTS {
        let check = check(guest, support::grants(&[("mode", "spin")]), deadline(500)).await;
        let started = Instant::now();
        let outcome = check.run().await;
        let took = started.elapsed();
        assert_eq!(outcome.status, Status::Fail, "{guest}: {outcome:?}");
        assert_eq!(outcome.output, "deadline 500ms exceeded", "{guest}");
        assert!(
            took >= Duration::from_millis(500) && took < Duration::from_millis(1500),
            "{guest}: {took:?}"
        );
    }
}

#[tokio::test]
async fn javascript_and_python_plugins_may_use_memory_within_the_limit() {
    for guest in GUESTS {
        let grants = support::grants(&[("mode", "memory"), ("mib", "8")]);
        let outcome = run(guest, grants, RunLimits::default()).await;
        assert_eq!(outcome.status, Status::Pass, "{guest}: {outcome:?}");
        assert_eq!(outcome.output, "held 8 MiB", "{guest}");
        let peak = outcome.details["memory_peak_bytes"].as_u64().unwrap();
        assert!(
            ((8 << 20)..=(64 << 20)).contains(&peak),
            "{guest}: peak {peak}"
        );
    }
}

#[tokio::test]
async fn javascript_and_python_plugins_past_the_memory_limit_fail_with_the_limit_named() {
    for guest in GUESTS {
        let grants = support::grants(&[("mode", "memory"), ("mib", "200")]);
        let outcome = run(guest, grants, RunLimits::default()).await;
        assert_eq!(outcome.status, Status::Fail, "{guest}: {outcome:?}");
        assert_eq!(outcome.output, "memory limit 64 MiB exceeded", "{guest}");
        let peak = outcome.details["memory_peak_bytes"].as_u64().unwrap();
        assert!(
            peak <= 64 << 20,
            "{guest}: peak {peak} must stay under the cap"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_javascript_plugin_reaches_a_granted_url_and_is_denied_any_other() {
    let base = json_server().await;
    let url = format!("{base}/status");
    let grants = http_grants(&[("mode", "fetch"), ("url", &url)]);
    let outcome = run("misbehave-js", grants, RunLimits::default()).await;
    assert_eq!(outcome.status, Status::Pass, "{outcome:?}");
    assert_eq!(outcome.output, "HTTP 200");

    let (logs, _guard) = logs::capture_logs();
    let grants = support::grants(&[("mode", "fetch"), ("url", &url)]);
    let outcome = run("misbehave-js", grants, RunLimits::default()).await;
    assert_eq!(outcome.status, Status::Fail, "{outcome:?}");
    assert!(
        outcome.output.starts_with("fetch failed"),
        "{}",
        outcome.output
    );
    // The guest only sees a generic NetworkError; the result says why.
    assert_eq!(
        outcome.details["denied"],
        format!(
            "http://{}:{} is not granted to plugin misbehave-js (allow_http)",
            "127.0.0.1",
            base.rsplit(':').next().unwrap()
        ),
        "{outcome:?}"
    );
    let logged = logs.text();
    assert!(
        logged.contains("host denied outgoing HTTP")
            && logged.contains("is not granted to plugin misbehave-js (allow_http)"),
        "{logged}"
    );
}

#[tokio::test]
async fn a_python_plugin_reads_a_granted_directory_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_status(dir.path(), "{\"ok\":true}", Duration::ZERO);
    let grants = file_grants(dir.path(), &[("mode", "read"), ("path", &path)]);
    let outcome = run("misbehave-py", grants, RunLimits::default()).await;
    assert_eq!(outcome.status, Status::Pass, "{outcome:?}");
    assert_eq!(outcome.output, "read 11 bytes");

    for path in [path.as_str(), "/etc/passwd"] {
        let grants = support::grants(&[("mode", "read"), ("path", path)]);
        let outcome = run("misbehave-py", grants, RunLimits::default()).await;
        assert_eq!(outcome.status, Status::Fail, "{outcome:?}");
        assert!(
            outcome.output.starts_with(&format!("cannot read {path}")),
            "{}",
            outcome.output
        );
    }
}

fn warm(max_runs: u32) -> Option<WarmPolicy> {
    Some(WarmPolicy {
        max_runs,
        max_age: Duration::from_secs(600),
    })
}

#[tokio::test]
async fn warm_javascript_and_python_instances_serve_up_to_max_runs_then_start_fresh() {
    for guest in GUESTS {
        let check = check(
            guest,
            support::grants(&[("mode", "count")]),
            RunLimits::default(),
        )
        .await
        .with_warm_instances(warm(3));
        let mut outputs = Vec::new();
        for _ in 0..4 {
            let outcome = check.run().await;
            assert_eq!(
                outcome.details["instance"],
                if outputs.len() % 3 == 0 {
                    "fresh"
                } else {
                    "warm"
                },
                "{guest}"
            );
            outputs.push(outcome.output);
        }
        assert_eq!(
            outputs,
            [
                "run 1 of this instance",
                "run 2 of this instance",
                "run 3 of this instance",
                "run 1 of this instance"
            ],
            "{guest}"
        );
    }
}

#[tokio::test]
async fn a_warm_instance_is_never_reused_after_a_deadline_or_memory_limit_hit() {
    for guest in GUESTS {
        // One check per misbehaviour; each run after it must be a fresh instance.
        for (mode, limits) in [
            (&[("mode", "spin")][..], deadline(300)),
            (
                &[("mode", "memory"), ("mib", "200")][..],
                RunLimits::default(),
            ),
        ] {
            let check = check(guest, support::grants(mode), limits)
                .await
                .with_warm_instances(warm(100));
            let first = check.run().await;
            assert_eq!(first.status, Status::Fail, "{guest} {mode:?}: {first:?}");
            let second = check.run().await;
            assert_eq!(second.details["instance"], "fresh", "{guest} {mode:?}");
        }
    }
}

#[tokio::test]
async fn a_cached_component_loads_without_compiling() {
    for guest in ["misbehave-js", "misbehave-py", "noop-qjs"] {
        // Make sure the artifact is in the shared cache, then load it in a new runtime.
        let warmup = support::cached_runtime();
        support::load_serialized(&warmup, guest, PluginGrants::default()).await;
        let rt = PluginRuntime::new(RuntimeConfig {
            cache_dir: Some(guests::shared_cache_dir()),
            ..RuntimeConfig::default()
        })
        .unwrap();
        rt.load(&guests::component(guest), PluginGrants::default())
            .await
            .unwrap();
        assert_eq!(rt.cache().compiles(), 0, "{guest}");
        assert_eq!(rt.cache().hits(), 1, "{guest}");
    }
}

/// One run of `name` in mode `mode`, and the last error `/plugins` then shows for it.
async fn run_failing(name: &str, mode: &str) -> (Outcome, Option<String>) {
    let rt = support::cached_runtime();
    let loaded = support::load_serialized(&rt, name, support::grants(&[("mode", mode)])).await;
    let check = PluginCheck::new(
        &rt,
        name,
        loaded,
        RunLimits::default(),
        QuarantinePolicy::default(),
    )
    .unwrap();
    let outcome = check.run().await;
    let shown = rt.registry().views().into_iter().find(|v| v.name == name);
    (outcome, shown.and_then(|v| v.last_error))
}

#[tokio::test]
async fn an_uncaught_python_exception_reads_as_its_traceback() {
    let (outcome, last_error) = run_failing("misbehave-py", "raise").await;
    assert_eq!(outcome.status, Status::Fail, "{outcome:?}");
    let lines: Vec<&str> = outcome.output.lines().collect();
    // The trap first, as for every trap; then the author's own traceback, innermost frame last.
    assert!(lines[0].starts_with("trap: "), "{}", outcome.output);
    assert!(
        lines.contains(&"Traceback (most recent call last):"),
        "{}",
        outcome.output
    );
    assert!(
        lines.iter().any(|l| l.contains("in parse_ratio")),
        "{}",
        outcome.output
    );
    assert_eq!(
        lines.last().copied(),
        Some("ValueError: could not convert string to float: 'not a number'"),
        "{}",
        outcome.output
    );
    assert_eq!(last_error.as_deref(), Some(outcome.output.as_str()));
}

#[tokio::test]
async fn an_uncaught_javascript_exception_reads_as_its_message_and_stack() {
    // The guest passes its exception on as the check's error, as the template's glue does.
    let (outcome, last_error) = run_failing("misbehave-js", "throw").await;
    assert_eq!(outcome.status, Status::Unknown, "{outcome:?}");
    let lines: Vec<&str> = outcome.output.lines().collect();
    assert_eq!(
        lines[0], "ReferenceError: undefinedThreshold is not defined",
        "{}",
        outcome.output
    );
    // Its stack, innermost frame first, with the author's file and line.
    assert!(
        lines[1].starts_with("thresholdOf@plugin.js:"),
        "{}",
        outcome.output
    );
    let recorded = last_error.unwrap_or_default();
    assert!(
        recorded.contains("ReferenceError: undefinedThreshold is not defined"),
        "{recorded}"
    );
}
