//! A gRPC health client we did not write agrees: Python's `grpcio-health-checking` (installed
//! into tools/deploy/.venv by scripts/deploy-tools.sh) against a real `vitals serve`.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use vitals_test_support::{http, wait};

use crate::support::grpc;

fn workspace_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
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
    http::wait_for(d.http, "/health/ready", 200, wait::QUICK);
    let mut client = Command::new(&python)
        .arg(root.join("tests/grpc/health_client.py"))
        .arg(d.grpc.to_string())
        .arg("worker")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = client.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The worker must stay fresh until the client watches it, then lapse: beat it until the
    // client has seen it SERVING in its Watch stream (however long Python takes to start),
    // then stop.
    let mut lines: Vec<String> = Vec::new();
    let mut beaten = Instant::now();
    wait::until("the client watches the worker", wait::START, || {
        if beaten.elapsed() >= Duration::from_millis(200) {
            d.beat("worker");
            beaten = Instant::now();
        }
        lines.extend(rx.try_iter());
        lines.last().is_some_and(|l| l == "watch 'worker' SERVING") || reader.is_finished()
    });
    let status = client.wait().unwrap();
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut client.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{lines:#?}\n{stderr}");
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
