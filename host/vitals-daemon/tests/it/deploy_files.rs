//! The files under deploy/ hold up against the real thing: every metric an alert rule or the
//! Grafana dashboard queries exists in a live daemon's /metrics, the alert rules pass their
//! promtool unit tests, and the Kubernetes ConfigMap's vitals.toml and plugin settings validate.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use vitals_test_support::http::{free_port, request, wait_for};
use vitals_test_support::{guests, wait};

use crate::support::process::Daemon;

fn root() -> PathBuf {
    guests::workspace_root()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every `vitals_*` metric name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("vitals_") {
        let start = i + at;
        let boundary =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let end = text[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(text.len(), |n| start + n);
        if boundary {
            names.insert(text[start..end].to_owned());
        }
        i = end;
    }
    names
}

/// The metric families a `/metrics` body declares.
fn families(metrics: &str) -> BTreeSet<String> {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_metric_in_the_alert_rules_and_the_dashboard_exists_in_a_live_daemon() {
    let used: BTreeSet<String> = [
        "deploy/prometheus/vitals-rules.yml",
        "deploy/prometheus/vitals-rules.test.yml",
        "deploy/grafana/vitals-dashboard.json",
    ]
    .iter()
    .flat_map(|f| metric_names(&read(f)))
    .collect();
    assert!(used.len() >= 15, "{used:?}");
    // Being renamed (to _total) elsewhere: nothing here may depend on it.
    assert!(!used.contains("vitals_snapshot_sequence"));

    // The embedded default (a SQLite datasource, a database check, a queue check, the plugin
    // directory data/plugins) plus one plugin: every family appears.
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("data/plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(guests::component("noop"), plugins.join("noop.wasm")).unwrap();
    let addr = free_port();
    let _daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_vitals"))
            .args(["serve", "--listen", &addr.to_string()])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(addr, "/health/live", 200, wait::START);
    // The plugin families appear once noop is compiled and has run.
    wait::until(
        "every metric used by deploy/ is in /metrics",
        wait::COMPILE,
        || {
            let (_, _, metrics) = request(addr, "GET", "/metrics", None).unwrap_or_default();
            let live = families(&metrics);
            let missing: Vec<&String> = used.iter().filter(|n| !live.contains(*n)).collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!("{missing:?} missing from\n{metrics}"))
            }
        },
    );
}

#[test]
fn the_alert_rules_pass_their_promtool_unit_tests() {
    let out = Command::new("promtool")
        .args(["test", "rules", "vitals-rules.test.yml"])
        .current_dir(root().join("deploy/prometheus"))
        .output();
    let out = out.unwrap_or_else(|e| {
        panic!("promtool is not installed ({e}): run `bash scripts/deploy-tools.sh` (Debian package prometheus)")
    });
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let check = Command::new("promtool")
        .args(["check", "rules", "vitals-rules.yml"])
        .current_dir(root().join("deploy/prometheus"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}

/// The `vitals.toml: |` block of the ConfigMap manifest.
fn configmap_toml(yaml: &str) -> String {
    let mut lines = yaml.lines().skip_while(|l| l.trim() != "vitals.toml: |");
    lines.next().expect("no vitals.toml in the ConfigMap");
    lines
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

fn validate(config: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vitals.toml");
    std::fs::write(&file, config).unwrap();
    Command::new(env!("CARGO_BIN_EXE_vitals"))
        .arg("validate")
        .arg(&file)
        .env("VITALS_TOKEN", "t")
        .env("ORDERS_DB_URL", "postgres://orders@db:5432/orders")
        .output()
        .unwrap()
}

#[test]
fn the_kubernetes_configmap_config_and_plugin_settings_validate() {
    let config = configmap_toml(&read("deploy/kubernetes/vitals-config.yaml"));
    assert!(config.contains("[grpc]"), "{config}");
    let out = validate(&config);
    assert!(
        out.status.success(),
        "{}\n{config}",
        String::from_utf8_lossy(&out.stderr)
    );

    // NAME.toml takes the keys of a plugin check's table.
    let settings = read("deploy/kubernetes/plugins/payments-api.toml");
    // Validation requires the plugin file to exist; its content is not looked at.
    let plugins = tempfile::tempdir().unwrap();
    let wasm = plugins.path().join("payments-api.wasm");
    std::fs::write(&wasm, b"").unwrap();
    let as_table = format!("[checks.payments-api]\ntype = \"plugin\"\nfile = {wasm:?}\n{settings}");
    let out = validate(&as_table);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
