//! A live daemon's `/metrics`, with checks of every kind, passes `promtool check metrics`: the
//! exposition format and Prometheus' naming conventions (`_total` counters, base units).
//!
//! promtool comes with the Debian package `prometheus` (scripts/test.sh installs it). Without it
//! the test fails, naming the tool: it never skips.

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use vitals_test_support::http::{free_port, request, wait_for};
use vitals_test_support::{guests, servers, wait};

use crate::support::process::serve_config;

#[test]
fn live_metrics_pass_promtool_check_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vitals.toml");
    let data = dir.path().join("data");
    let noop = guests::component("noop");
    // A file that is not a component: a rejected plugin has metrics too.
    let broken = dir.path().join("broken.wasm");
    std::fs::write(&broken, b"not wasm").unwrap();
    let text = format!(
        r#"
[service]
data_dir = "{data}"

[evaluator]
heartbeat = "200ms"

[plugins]
settle = "100ms"

[datasources.local]
url = "sqlite://{data}/local.db"

[datasources.pg]
url = "{pg}"

[datasources.maria]
url = "{mysql}"

[checks.worker]
type = "heartbeat"
ttl = "30s"
interval = "200ms"

[checks.local-db]
type = "database"
datasource = "local"
interval = "200ms"

[checks.jobs]
type = "sql_queue"
datasource = "local"
query = "SELECT 0"
interval = "200ms"

[checks.pg-db]
type = "database"
datasource = "pg"
interval = "200ms"

[checks.maria-db]
type = "database"
datasource = "maria"
interval = "200ms"

[checks.emails]
type = "redis_queue"
url = "{redis}"
key = "vitals-promtool-test"
interval = "200ms"

[checks.noop]
type = "plugin"
file = "{noop}"
interval = "200ms"

[checks.broken]
type = "plugin"
file = "{broken}"
"#,
        data = data.display(),
        pg = servers::pg_url(),
        mysql = servers::mysql_url(),
        redis = servers::redis_url(),
        noop = noop.display(),
        broken = broken.display(),
    );
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(&config, text).unwrap();
    let addr = free_port();
    let _daemon = serve_config(&config, addr, ("RUST_LOG", "warn"));
    wait_for(addr, "/health/live", 200, wait::START);
    let mut expected: Vec<String> = [
        "worker", "local-db", "jobs", "pg-db", "maria-db", "emails", "noop",
    ]
    .iter()
    .map(|c| format!("vitals_check_duration_seconds{{check=\"{c}\"}}"))
    .collect();
    expected.extend(
        [
            "vitals_datasource_pool_connections{",
            "vitals_circuit_breaker_state{",
            "vitals_plugin_runs_total{plugin=\"noop\"}",
            "vitals_plugin_rejected{plugin=\"broken\"} 1",
            "vitals_evaluator_cycle_age_seconds ",
        ]
        .map(str::to_owned),
    );
    let metrics = metrics_once_they_show(addr, &expected);
    let findings = promtool_check_metrics(&metrics);
    assert!(
        findings.is_empty(),
        "promtool check metrics found problems:\n{findings}\nin:\n{metrics}"
    );
}

/// `/metrics` once it shows every one of `needles` (every check has run, the noop plugin after
/// its compile, every kind of source has something to say).
fn metrics_once_they_show(addr: SocketAddr, needles: &[String]) -> String {
    wait::until(
        "/metrics shows every check and source",
        wait::COMPILE,
        || {
            let (code, _, body) = request(addr, "GET", "/metrics", None).unwrap_or_default();
            let missing: Vec<&String> = needles.iter().filter(|n| !body.contains(*n)).collect();
            if code == 200 && missing.is_empty() {
                Ok(body)
            } else {
                Err(format!("it lacks {missing:?}; it answered {code}:\n{body}"))
            }
        },
    )
}

/// What `promtool check metrics` reports for `text` (empty: nothing).
fn promtool_check_metrics(text: &str) -> String {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "promtool is not installed; it comes with the Debian package `prometheus` \
             (apt-get install -y prometheus, or run scripts/test.sh)"
        ),
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && report.trim().is_empty() {
        String::new()
    } else {
        format!("(exit status {}) {}", out.status, report.trim())
    }
}
