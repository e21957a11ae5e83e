//! systemd `Type=notify`: a real `vitals serve` process tells a fake service manager (a unix
//! datagram socket named by NOTIFY_SOCKET) READY=1 once it serves, RELOADING=1 + MONOTONIC_USEC
//! and READY=1 around a SIGHUP reload, STOPPING=1 when it drains.

use std::os::unix::net::UnixDatagram;

use vitals_test_support::http::{free_port, request};
use vitals_test_support::{http, wait};

use crate::support::process::{serve_config, signal};

/// The next notification: returns as soon as it arrives. The socket's read timeout
/// ([`wait::START`]: the first one waits for the daemon's start-up) only catches a daemon that
/// never sends it.
fn recv(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 4096];
    let n = socket
        .recv(&mut buf)
        .expect("no notification within the socket's read timeout");
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

#[test]
fn notifies_ready_reloading_and_stopping_to_the_service_manager() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(wait::START)).unwrap();
    let config = dir.path().join("vitals.toml");
    let write_config = |ttl: &str| {
        std::fs::write(
            &config,
            format!(
                r#"
[service]
data_dir = "{}"

[http]
drain = "1s"

[checks.worker]
type = "heartbeat"
ttl = "{ttl}"
"#,
                dir.path().join("data").display()
            ),
        )
        .unwrap()
    };
    write_config("30s");
    let addr = free_port();
    let mut d = serve_config(
        &config,
        addr,
        ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
    );
    let pid = d.0.id();

    assert_eq!(recv(&socket), "READY=1\n");
    // READY=1 means serving: the probe server answers right away.
    let live = request(addr, "GET", "/health/live", None).map(|r| r.0);
    assert_eq!(live, Some(200), "READY=1 before the server answered");

    write_config("45s");
    signal(pid, "-HUP");
    let reloading = recv(&socket);
    let mut lines = reloading.lines();
    assert_eq!(lines.next(), Some("RELOADING=1"), "{reloading}");
    let usec = lines
        .next()
        .and_then(|l| l.strip_prefix("MONOTONIC_USEC="))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(usec.is_some_and(|u| u > 0), "{reloading}");
    assert_eq!(recv(&socket), "READY=1\n", "READY=1 after the reload");

    signal(pid, "-TERM");
    assert_eq!(recv(&socket), "STOPPING=1\n");
    // STOPPING=1 is sent once draining has begun: readiness already says so.
    let (code, _, body) = request(addr, "GET", "/health/ready", None).unwrap();
    assert_eq!(code, 503);
    assert!(body.starts_with("draining"), "{body}");
    let exit = d.0.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn without_notify_socket_nothing_is_sent_and_the_daemon_serves() {
    // The ordinary case outside systemd: no NOTIFY_SOCKET, no error, no noise in the log.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vitals.toml");
    std::fs::write(
        &config,
        format!(
            "[service]\ndata_dir = \"{}\"\n[http]\ndrain = \"200ms\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let addr = free_port();
    let mut d = serve_config(&config, addr, ("VITALS_UNUSED", "1"));
    // No checks: readiness waits for the startup grace; liveness shows it serves.
    http::wait_for(addr, "/health/live", 200, wait::START);
    signal(d.0.id(), "-TERM");
    let mut log = String::new();
    std::io::Read::read_to_string(d.0.stderr.as_mut().unwrap(), &mut log).unwrap();
    let exit = d.0.wait().unwrap();
    assert!(exit.success(), "{exit:?}\n{log}");
    assert!(!log.contains("notify"), "{log}");
}
