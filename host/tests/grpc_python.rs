//! A gRPC health client we did not write agrees: Python's `grpcio-health-checking` (installed
//! into tools/deploy/.venv by scripts/deploy-tools.sh) against a real `vitals serve`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/grpc.rs"]
mod grpc;

use std::path::PathBuf;
use std::process::Command;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn grpcio_health_checking_sees_check_watch_and_unknown_services() {
    let root = workspace_root();
    let python = root.join("tools/deploy/.venv/bin/python");
    let installed = python.is_file()
        && Command::new(&python)
            .args(["-c", "import grpc_health.v1"])
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        installed,
        "grpcio-health-checking is not installed in tools/deploy/.venv: run `bash scripts/deploy-tools.sh`"
    );

    let d = grpc::start(
        r#"
[checks.worker]
type = "heartbeat"
ttl = "1500ms"
interval = "100ms"
"#,
    );
    d.beat("worker");
    let http = d.http;
    daemon::wait_for(
        http,
        "/health/ready",
        200,
        std::time::Duration::from_secs(5),
    );
    let out = Command::new(&python)
        .arg(root.join("tests/grpc/health_client.py"))
        .arg(d.grpc.to_string())
        .arg("worker")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "check '' SERVING",
            "check 'worker' SERVING",
            "check 'no-such-check' NOT_FOUND",
            "watch 'no-such-check' SERVICE_UNKNOWN",
            "watch 'worker' SERVING",
            "watch 'worker' NOT_SERVING",
        ]
    );
}
