//! schemathesis fuzzes the live daemon from its own `/openapi.json`: a daemon with a token,
//! plugins (a running one and a rejected file) and failing checks (one critical, one a
//! backpressure source, so the documented 503s occur). Every response must conform to the
//! document (status code, content type, headers, body schema), no 5xx other than the documented
//! 503s may occur, and `/health/live` keeps answering throughout.
//!
//! schemathesis is installed into tools/schemathesis/.venv by `bash scripts/toolchains.sh`
//! (scripts/test.sh runs it); this test never installs anything.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use vitals_test_support::http::{free_port, request, wait_for};
use vitals_test_support::{guests, wait};

use crate::support::process::serve_config;

const TOKEN: &str = "fuzz-secret";

fn schemathesis() -> std::path::PathBuf {
    let bin = guests::workspace_root().join("tools/schemathesis/.venv/bin/schemathesis");
    assert!(
        bin.is_file(),
        "schemathesis is not installed at {}: run `bash scripts/toolchains.sh` \
         (scripts/test.sh does) to install the pinned version from tools/schemathesis/requirements.txt",
        bin.display()
    );
    bin
}

/// A shipped Rust plugin as `cargo xtask guests` (run by scripts/test.sh before the tests)
/// leaves it in target/plugins/.
fn shipped_plugin(name: &str) -> std::path::PathBuf {
    let path = guests::workspace_root().join(format!("target/plugins/{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: build the shipped plugins with `cargo xtask guests`",
        path.display()
    );
    path
}

fn config(dir: &std::path::Path, addr: std::net::SocketAddr) -> String {
    format!(
        r#"
[service]
id = "fuzzed"
data_dir = "{data}"

[http]
token = "${{FUZZ_TOKEN}}"

[evaluator]
heartbeat = "200ms"
startup_grace = "1s"

[plugins]
dir = "{plugins}"
cache_dir = "{cache}"

[checks.stalled-worker]
type = "heartbeat"
ttl = "1s"
interval = "200ms"

[checks.shedding-worker]
type = "heartbeat"
ttl = "1s"
interval = "200ms"
critical = false
backpressure_source = true

[checks.billing-worker]
type = "heartbeat"
ttl = "1h"

[checks.self-probe]
type = "plugin"
file = "{endpoint}"
interval = "500ms"
config = {{ url = "http://{addr}/health/live", expect_status = "200" }}
allow_http = ["http://{addr}"]
"#,
        data = dir.join("data").display(),
        plugins = dir.join("plugins").display(),
        cache = guests::shared_cache_dir().display(),
        endpoint = shipped_plugin("http-endpoint").display(),
    )
}

#[test]
fn schemathesis_finds_no_undocumented_response_and_probes_keep_answering() {
    let bin = schemathesis();
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    // A file that is not a component: rejected, listed with its reason in /plugins and notes.
    guests::install(&plugins, "broken.wasm", b"\0asm not really");
    let file = dir.path().join("vitals.toml");
    let addr = free_port();
    std::fs::write(&file, config(dir.path(), addr)).unwrap();
    let mut daemon = serve_config(&file, addr, ("FUZZ_TOKEN", TOKEN));
    wait_for(addr, "/health/live", 200, wait::START);
    // The failing checks have failed, and the plugin has run (after its compile), before the
    // fuzzing starts.
    wait::until("the daemon settles", wait::COMPILE, || {
        let (_, _, body) = request(addr, "GET", "/health/status", Some(TOKEN)).unwrap_or_default();
        let probe = request(addr, "GET", "/health/checks/self-probe", Some(TOKEN)).map(|r| r.0);
        if body.contains(r#""state":"shedding""#)
            && body.contains("broken.wasm")
            && probe == Some(200)
        {
            Ok(())
        } else {
            Err(format!("self-probe {probe:?}; {body}"))
        }
    });

    // Liveness is polled all along: every answer must be a 200, none slower than 1 s.
    let running = Arc::new(AtomicBool::new(true));
    let (polls, slowest_ms) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let poller = {
        let (running, polls, slowest_ms) = (running.clone(), polls.clone(), slowest_ms.clone());
        std::thread::spawn(move || {
            let mut failures = Vec::new();
            while running.load(Ordering::Relaxed) {
                let t = Instant::now();
                match request(addr, "GET", "/health/live", None) {
                    Some((200, _, _)) => {}
                    other => failures.push(format!("{other:?}")),
                }
                let ms = u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX);
                slowest_ms.fetch_max(ms, Ordering::Relaxed);
                polls.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
            failures
        })
    };

    let report = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("schemathesis.ndjson");
    let started = Instant::now();
    let out = Command::new(&bin)
        .arg("run")
        .arg(format!("http://{addr}/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {TOKEN}")])
        .args([
            "--checks",
            // not_a_server_error is replaced by the report scan below: it also flags the
            // documented 503s (not ready, shedding), which are the API working as described.
            "status_code_conformance,content_type_conformance,\
             response_headers_conformance,response_schema_conformance",
        ])
        .args(["--max-examples", "60", "--max-time", "60", "--seed", "1"])
        .args(["--workers", "2", "--request-timeout", "5"])
        .args(["--report", "ndjson", "--report-ndjson-path"])
        .arg(&report)
        .current_dir(dir.path()) // its .schemathesis cache stays out of the checkout
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .output()
        .unwrap();
    let took = started.elapsed();
    running.store(false, Ordering::Relaxed);
    let live_failures = poller.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("generated") || l.contains("passed") || l.contains("Test cases"))
        .collect();
    println!(
        "schemathesis ran for {took:?}: {}\nliveness polled {} times during the run, slowest {} ms",
        summary.join("\n"),
        polls.load(Ordering::Relaxed),
        slowest_ms.load(Ordering::Relaxed)
    );
    assert!(
        out.status.success(),
        "schemathesis found problems (exit {:?}):\n{stdout}\n{stderr}",
        out.status.code()
    );
    assert!(
        summary.iter().any(|l| l.contains("generated")),
        "no test case count in schemathesis's output:\n{stdout}"
    );
    let (responses, undocumented) = server_errors(&report);
    println!(
        "{responses} responses recorded; 5xx not documented for their operation: {undocumented:?}"
    );
    assert!(
        responses > 0,
        "schemathesis recorded no response in {}",
        report.display()
    );
    assert!(
        undocumented.is_empty(),
        "server errors the OpenAPI document does not describe: {undocumented:?}"
    );
    assert!(
        live_failures.is_empty(),
        "/health/live failed during the fuzzing: {live_failures:?}"
    );
    assert_eq!(
        request(addr, "GET", "/health/live", None).map(|r| r.0),
        Some(200),
        "the daemon stopped answering probes after the fuzzing"
    );
    assert!(
        daemon.0.try_wait().unwrap().is_none(),
        "the daemon exited during the fuzzing"
    );
}

/// Every response in schemathesis's NDJSON report: how many, and the 5xx answers whose operation
/// does not document that status (only 503 is documented anywhere: not ready, shedding, stale).
fn server_errors(report: &std::path::Path) -> (usize, Vec<String>) {
    let doc: serde_json::Value = serde_json::from_slice(&vitals_daemon::openapi_json()).unwrap();
    let (mut responses, mut undocumented) = (0, Vec::new());
    for line in std::fs::read_to_string(report).unwrap().lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        let recorder = &event["ScenarioFinished"]["recorder"];
        let Some(interactions) = recorder["interactions"].as_object() else {
            continue;
        };
        let label = recorder["label"].as_str().unwrap_or_default();
        let (method, path) = label.split_once(' ').unwrap_or((label, ""));
        for interaction in interactions.values() {
            let Some(code) = interaction["response"]["status_code"].as_u64() else {
                continue;
            };
            responses += 1;
            let documented = doc["paths"][path][method.to_lowercase()]["responses"]
                .get(code.to_string())
                .is_some();
            if code >= 500 && !documented {
                undocumented.push(format!("{label}: {code}"));
            }
        }
    }
    (responses, undocumented)
}
