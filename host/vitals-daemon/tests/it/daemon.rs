//! End to end: the `vitals` binary on a free port, every endpoint probed, SIGTERM drains.

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vitals_test_support::http::{free_port, request, wait_for};
use vitals_test_support::{guests, servers, wait};

use crate::support::process::{Daemon, plugin_dir_config, serve_config, signal};

#[test]
fn daemon_serves_every_endpoint_and_drains_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vitals.toml");
    let data_dir = dir.path().join("data");
    std::fs::write(
        &config,
        format!(
            r#"
[service]
id = "e2e"
data_dir = "{}"

[http]
token = "${{E2E_TOKEN}}"
drain = "1500ms"

[evaluator]
heartbeat = "200ms"

[checks.worker]
type = "heartbeat"
ttl = "30s"
interval = "200ms"
"#,
            data_dir.display()
        ),
    )
    .unwrap();
    let addr = free_port();
    let mut daemon = serve_config(&config, addr, ("E2E_TOKEN", "e2e-secret"));
    wait_for(addr, "/health/ready", 200, wait::START);

    let tok = Some("e2e-secret");
    assert_eq!(request(addr, "GET", "/health/live", None).unwrap().0, 200);
    assert_eq!(
        request(addr, "GET", "/health", None).unwrap().2,
        r#"{"status":"pass"}"#
    );
    let (code, _, body) = request(addr, "GET", "/health/status", tok).unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("\"worker:heartbeatAge\""), "{body}");
    assert!(body.contains("\"serviceId\":\"e2e\""), "{body}");
    assert_eq!(
        request(addr, "GET", "/health/checks/worker", tok)
            .unwrap()
            .0,
        200
    );
    assert_eq!(
        request(addr, "GET", "/health/checks/worker", None)
            .unwrap()
            .0,
        401
    );
    assert_eq!(
        request(addr, "GET", "/health/backpressure", None)
            .unwrap()
            .0,
        200
    );
    let (code, _, metrics) = request(addr, "GET", "/metrics", tok).unwrap();
    assert_eq!(code, 200);
    assert!(
        metrics.contains("vitals_check_status{check=\"worker\",status=\"pass\"} 1"),
        "{metrics}"
    );
    assert_eq!(
        request(addr, "POST", "/health/heartbeat/worker", tok)
            .unwrap()
            .0,
        204
    );
    assert!(!body.contains("e2e-secret") && !metrics.contains("e2e-secret"));

    // SIGTERM: readiness turns 503 at once, the server keeps answering during the drain window,
    // then the process exits cleanly.
    let drain = Duration::from_millis(1_500);
    let sent = Instant::now();
    signal(daemon.0.id(), "-TERM");
    wait_for(addr, "/health/ready", 503, Duration::from_millis(500));
    let (_, _, body) = request(addr, "GET", "/health/ready", None).unwrap();
    assert!(body.starts_with("draining"), "{body}");
    assert_eq!(request(addr, "GET", "/health/live", None).unwrap().0, 200);
    // Halfway through the drain window (which starts no earlier than the signal was sent).
    std::thread::sleep((sent + drain / 2).saturating_duration_since(Instant::now()));
    assert_eq!(
        request(addr, "GET", "/health/live", None).unwrap().0,
        200,
        "still answering mid-drain"
    );

    let exit = wait::until(
        "the daemon exits after the drain window",
        drain + wait::QUICK,
        || daemon.0.try_wait().unwrap(),
    );
    let took = sent.elapsed();
    assert!(exit.success(), "exit status {exit:?}");
    assert!(took >= drain, "exited before the drain window: {took:?}");
    let log = daemon.log();
    assert!(log.contains("draining"), "{log}");
    assert!(!log.contains("e2e-secret"), "token leaked into the log");
}

#[test]
fn validate_reports_file_line_and_key_of_a_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[http]\nlisten = \"127.0.0.1:9000\"\ndrain = \"forever\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vitals"))
        .arg("validate")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:3:") && err.contains("http.drain"),
        "{err}"
    );

    // The example's plugin check names a shipped plugin, which must exist: run from a
    // directory holding it where `cargo xtask guests` puts it.
    let plugins = dir.path().join("target/plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(
        guests::component("http-endpoint"),
        plugins.join("http-endpoint.wasm"),
    )
    .unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../vitals.example.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_vitals"))
        .args(["validate", example])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn embedded_default_runs_on_a_fresh_directory_without_services() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_vitals"))
        .args(["serve", "--listen", &addr.to_string()])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut daemon = Daemon(child);
    wait_for(addr, "/health/ready", 200, wait::START);
    let (code, _, body) = request(addr, "GET", "/health/status", None).unwrap();
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["checks"]["local-db:responseTime"][0]["status"], "pass",
        "{body}"
    );
    assert_eq!(v["checks"]["jobs:depth"][0]["observedValue"], 0.0, "{body}");
    assert!(dir.path().join("data/vitals.db").exists());

    // SIGHUP with no config file to re-read: nothing is wrong, so no error and no note.
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let stderr = daemon.0.stderr.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines_tx.send(line);
        }
    });
    signal(daemon.0.id(), "-HUP");
    let mut log = Vec::new();
    let line = loop {
        match lines.recv_timeout(wait::START) {
            Ok(line) if line.contains("no config file to reload") => break line,
            Ok(line) => log.push(line),
            Err(e) => panic!("no line about the SIGHUP ({e}): {log:#?}"),
        }
    };
    assert!(line.contains("INFO"), "{line}");
    let (_, _, body) = request(addr, "GET", "/health/status", None).unwrap();
    assert!(!body.contains("reload"), "{body}");
    let log = log.join("\n");
    assert!(!log.contains("ERROR"), "{log}");
    // Written to a pipe: plain text, no colour codes.
    assert!(!log.contains('\u{1b}') && !line.contains('\u{1b}'), "{log}");
}

#[test]
fn embedded_default_runs_the_shipped_plugins_when_built() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("target/plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    for name in ["sql-threshold", "http-endpoint"] {
        std::fs::copy(
            guests::component(name),
            plugins.join(format!("{name}.wasm")),
        )
        .unwrap();
    }
    let addr = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_vitals"))
        .args(["serve", "--listen", &addr.to_string()])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _daemon = Daemon(child);
    // Readiness waits for the plugin checks, which wait for their compiles.
    wait_for(addr, "/health/ready", 200, wait::COMPILE);
    for name in ["failed-jobs", "self-live"] {
        let (code, v, body) = wait::until(&format!("{name} has run"), wait::COMPILE, || {
            let (code, _, body) =
                request(addr, "GET", &format!("/health/checks/{name}"), None).unwrap_or_default();
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            if v["rawStatus"].is_string() {
                Ok((code, v, body))
            } else {
                Err(body)
            }
        });
        assert_eq!(
            (code, &v["status"]),
            (200, &serde_json::json!("pass")),
            "{body}"
        );
    }
    let (code, _, list) = request(addr, "GET", "/plugins", None).unwrap();
    assert_eq!(code, 200);
    assert!(
        list.contains("\"plugin\":\"sql-threshold\"")
            && list.contains("\"plugin\":\"http-endpoint\""),
        "{list}"
    );
}

/// Every response body of a daemon whose DSNs carry passwords, and its whole trace-level log:
/// no password anywhere. Datasources reach a real server (trust auth ignores the password), a
/// server that rejects the password, and a black hole.
#[test]
fn no_password_appears_in_any_response_or_log_line() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (pg, mysql, redis) = rt.block_on(async {
        (
            servers::require_pg().await,
            servers::require_mysql().await,
            servers::require_redis().await,
        )
    });
    let hole = rt.block_on(servers::FaultServer::black_hole());
    let with_password = |url: &str, user: &str, password: &str| {
        let mut u = url::Url::parse(url).unwrap();
        u.set_username(user).unwrap();
        u.set_password(Some(password)).unwrap();
        u.to_string()
    };
    let secrets = ["pg-Secr3t-1", "my-Secr3t-2", "hole-Secr3t-3", "rd-Secr3t-4"];
    let hole_url = format!("postgres://app:{}@{}/db", secrets[2], hole.addr);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vitals.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[service]
data_dir = "{data}"
[http]
token = "t0ken"
[evaluator]
heartbeat = "200ms"
[datasources.pg]
url = "{pg}"
[datasources.my]
url = "{my}"
[datasources.hole]
url = "{hole}"
connect_timeout = "300ms"
[checks.pg-db]
type = "database"
datasource = "pg"
interval = "200ms"
[checks.pg-queue]
type = "sql_queue"
datasource = "pg"
query = "SELECT 3"
interval = "200ms"
[checks.my-db]
type = "database"
datasource = "my"
interval = "200ms"
[checks.hole-db]
type = "database"
datasource = "hole"
interval = "200ms"
[checks.emails]
type = "redis_queue"
url = "{rd}"
key = "emails"
interval = "200ms"
"#,
            data = dir.path().join("data").display(),
            pg = with_password(&pg, "postgres", secrets[0]),
            my = with_password(&mysql, "root", secrets[1]),
            hole = hole_url,
            rd = with_password(&redis, "", secrets[3]),
        ),
    )
    .unwrap();
    let addr = free_port();
    let mut daemon = serve_config(&config, addr, ("RUST_LOG", "trace"));
    // Drain the log while the daemon runs: a full pipe would block its logging threads.
    let mut stderr = daemon.0.stderr.take().unwrap();
    let log_reader = std::thread::spawn(move || {
        let mut log = String::new();
        let _ = stderr.read_to_string(&mut log);
        log
    });
    wait_for(addr, "/health/live", 200, wait::START);
    // Let every check fail or pass a few times (the black hole times out at 300 ms).
    let checks = ["pg-db", "pg-queue", "my-db", "hole-db", "emails"];
    wait::until("every check has run three times", wait::QUICK, || {
        let metrics = request(addr, "GET", "/metrics", Some("t0ken")).map(|r| r.2);
        let metrics = metrics.unwrap_or_default();
        let few: Vec<_> = checks
            .iter()
            .filter(|c| check_runs(&metrics, c) < 3)
            .collect();
        if few.is_empty() {
            Ok(())
        } else {
            Err(format!("fewer runs of {few:?}"))
        }
    });

    let tok = Some("t0ken");
    let mut bodies = String::new();
    let paths = [
        "/health/live",
        "/health/ready",
        "/health/ready?verbose",
        "/health",
        "/health/status",
        "/health/backpressure",
        "/metrics",
        "/plugins",
        "/health/checks/pg-db",
        "/health/checks/pg-queue",
        "/health/checks/my-db",
        "/health/checks/hole-db",
        "/health/checks/emails",
    ];
    for path in paths {
        let (_, head, body) =
            request(addr, "GET", path, tok).unwrap_or_else(|| panic!("no answer to {path}"));
        bodies.push_str(&head);
        bodies.push_str(&body);
    }
    assert!(
        bodies.contains("***"),
        "redacted URLs are shown in the details: {bodies}"
    );
    assert!(bodies.contains("hole-db"), "{bodies}");
    let _ = Command::new("kill")
        .args(["-KILL", &daemon.0.id().to_string()])
        .status();
    let _ = daemon.0.wait();
    let log = log_reader.join().unwrap();
    assert!(
        log.len() > 10_000,
        "trace log captured: {} bytes",
        log.len()
    );
    for secret in secrets {
        assert!(!bodies.contains(secret), "{secret} leaked into a response");
        assert!(!log.contains(secret), "{secret} leaked into the log");
    }
}

/// The config file is re-read on SIGHUP and on `POST /admin/reload`: checks are added, changed
/// and removed as it says; an invalid file, or one with a check that cannot be built, is rejected
/// whole and the running config stays.
#[test]
fn config_reload_adds_and_removes_checks_and_rejects_an_invalid_file_whole() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vitals.toml");
    let data = dir.path().join("data");
    let write = |checks: &str| {
        let text = format!(
            "[service]\ndata_dir = \"{}\"\n[http]\ntoken = \"t0ken\"\n[evaluator]\nheartbeat = \"100ms\"\n{checks}",
            data.display()
        );
        std::fs::write(&config, text).unwrap();
    };
    write("[checks.alpha]\ntype = \"heartbeat\"\nttl = \"1h\"\ninterval = \"100ms\"\n");
    let addr = free_port();
    let mut daemon = serve_config(&config, addr, ("RUST_LOG", "info"));
    let mut stderr = daemon.0.stderr.take().unwrap();
    let log_reader = std::thread::spawn(move || {
        let mut log = String::new();
        let _ = stderr.read_to_string(&mut log);
        log
    });
    wait_for(addr, "/health/ready", 200, wait::START);
    let tok = Some("t0ken");
    let code = |path: &str| request(addr, "GET", path, tok).unwrap().0;
    assert_eq!(code("/health/checks/alpha"), 200);

    // SIGHUP: alpha goes, beta and gamma come.
    write(
        "[checks.beta]\ntype = \"heartbeat\"\nttl = \"1h\"\ninterval = \"100ms\"\n\
         [checks.gamma]\ntype = \"heartbeat\"\nttl = \"1h\"\ninterval = \"100ms\"\n",
    );
    signal(daemon.0.id(), "-HUP");
    // Each added check answers 200 once its own first run is published.
    wait_for_check(addr, "beta", 200, wait::QUICK);
    wait_for_check(addr, "gamma", 200, wait::QUICK);
    assert_eq!(code("/health/checks/alpha"), 404);
    let (_, _, status) = request(addr, "GET", "/health/status", tok).unwrap();
    assert!(status.contains("removed from the config"), "{status}");

    // POST /admin/reload needs the token.
    assert_eq!(request(addr, "POST", "/admin/reload", None).unwrap().0, 401);
    // An invalid file is rejected whole, with its position.
    write(
        "[checks.delta]\ntype = \"heartbeat\"\nttl = \"1h\"\n\
         [checks.beta]\ntype = \"heartbeat\"\nttl = \"soon\"\n",
    );
    let (code_, _, body) = request(addr, "POST", "/admin/reload", tok).unwrap();
    assert_eq!(code_, 422, "{body}");
    assert!(body.contains("vitals.toml:12:1: checks.beta.ttl"), "{body}");
    // A datasource URL that cannot work is refused by validation, with its position; every
    // broken rule of the file is in the one answer.
    write(
        "[datasources.bad]\nurl = \"postgress://u:p@h/db\"\n\
         [checks.delta]\ntype = \"heartbeat\"\nttl = \"1h\"\ninterval = \"0s\"\n\
         [checks.db]\ntype = \"database\"\ndatasource = \"bad\"\n",
    );
    let (code_, _, body) = request(addr, "POST", "/admin/reload", tok).unwrap();
    assert_eq!(code_, 422, "{body}");
    assert!(
        body.contains("vitals.toml:8:1: datasources.bad.url: unknown scheme 'postgress'"),
        "{body}"
    );
    assert!(
        body.contains("2 problems")
            && body.contains("vitals.toml:12:1: checks.delta.interval: must be greater than zero"),
        "{body}"
    );
    assert!(!body.contains(":p@"), "the password stays hidden: {body}");
    assert_eq!(
        code("/health/checks/delta"),
        404,
        "nothing of a rejected file applies"
    );
    assert_eq!(code("/health/checks/beta"), 200, "the running config stays");
    let (_, _, status) = request(addr, "GET", "/health/status", tok).unwrap();
    assert!(status.contains("config reload rejected at "), "{status}");
    let (_, _, metrics) = request(addr, "GET", "/metrics", tok).unwrap();
    assert!(
        metrics.contains("vitals_config_reloads_total{result=\"rejected\"} 2")
            && metrics.contains("vitals_config_reloads_total{result=\"applied\"} 1"),
        "{metrics}"
    );

    // A file that validates but has a check that cannot be built (a queue query that writes) is
    // rejected whole too: its new heartbeat is not registered, and beta's TTL stays 1h.
    write(&format!(
        "[datasources.local]\nurl = \"sqlite://{}/q.db\"\n\
         [checks.beta]\ntype = \"heartbeat\"\nttl = \"1ms\"\ninterval = \"100ms\"\n\
         [checks.epsilon]\ntype = \"heartbeat\"\nttl = \"1h\"\n\
         [checks.queue]\ntype = \"sql_queue\"\ndatasource = \"local\"\n\
         query = \"DELETE FROM jobs\"\n\
         [checks.queue2]\ntype = \"sql_queue\"\ndatasource = \"local\"\n\
         query = \"UPDATE jobs SET state = 'x'\"\n",
        data.display()
    ));
    let (code_, _, body) = request(addr, "POST", "/admin/reload", tok).unwrap();
    assert_eq!(code_, 422, "{body}");
    assert!(
        body.contains("check 'queue':") && body.contains("check 'queue2':"),
        "every check that cannot be built is named: {body}"
    );
    assert_eq!(
        request(addr, "POST", "/health/heartbeat/epsilon", tok)
            .unwrap()
            .0,
        404,
        "a rejected reload registered a heartbeat"
    );
    let runs_now = check_runs(&request(addr, "GET", "/metrics", tok).unwrap().2, "beta");
    wait::until("beta runs twice more", wait::QUICK, || {
        let (_, _, metrics) = request(addr, "GET", "/metrics", tok).unwrap();
        check_runs(&metrics, "beta") >= runs_now + 2
    });
    let (code_, _, body) = request(addr, "GET", "/health/checks/beta", tok).unwrap();
    assert_eq!(code_, 200, "a rejected reload changed beta's TTL: {body}");
    assert!(body.contains("(TTL 1h)"), "{body}");

    // A good file clears the note and reports what changed.
    write(
        "[checks.beta]\ntype = \"heartbeat\"\nttl = \"2h\"\ninterval = \"100ms\"\n\
         [checks.delta]\ntype = \"heartbeat\"\nttl = \"1h\"\ninterval = \"100ms\"\n\
         [backpressure]\nmin_dwell = \"20s\"\n",
    );
    let (code_, _, body) = request(addr, "POST", "/admin/reload", tok).unwrap();
    assert_eq!(code_, 200, "{body}");
    let summary: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(summary["added"], serde_json::json!(["delta"]), "{body}");
    assert_eq!(summary["changed"], serde_json::json!(["beta"]), "{body}");
    assert_eq!(summary["removed"], serde_json::json!(["gamma"]), "{body}");
    assert_eq!(
        summary["restart_required"],
        serde_json::json!(["[backpressure]"]),
        "{body}"
    );
    wait_for_check(addr, "delta", 200, wait::QUICK);
    let (_, _, status) = request(addr, "GET", "/health/status", tok).unwrap();
    assert!(!status.contains("config reload rejected"), "{status}");

    let _ = Command::new("kill")
        .args(["-KILL", &daemon.0.id().to_string()])
        .status();
    let _ = daemon.0.wait();
    let log = log_reader.join().unwrap();
    assert!(log.contains("config reload rejected"), "{log}");
    assert!(!log.contains(":p@"), "password in the log");
}

/// Wait until `/health/checks/NAME` answers `code`, within `bound` (the work it waits behind).
fn wait_for_check(addr: SocketAddr, name: &str, code: u16, bound: Duration) {
    let path = format!("/health/checks/{name}");
    wait::until(&format!("{path} answers {code}"), bound, || {
        request(addr, "GET", &path, Some("t0ken")).map(|r| r.0) == Some(code)
    });
}

/// `vitals_check_runs_total` of `check` in a `/metrics` body (0 before its first run).
fn check_runs(metrics: &str, check: &str) -> u64 {
    let prefix = format!("vitals_check_runs_total{{check=\"{check}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// The `runs` of plugin check `name` in `/plugins` (0 before its first run).
fn plugin_runs(addr: SocketAddr, name: &str) -> u64 {
    let (_, _, list) = request(addr, "GET", "/plugins", None).unwrap_or_default();
    let list: serde_json::Value = serde_json::from_str(&list).unwrap_or_default();
    list.as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == name)
        .and_then(|v| v["runs"].as_u64())
        .unwrap_or(0)
}

/// A plugin that logs past the rate limit keeps passing: its dropped lines are counted in its
/// details, `/plugins` and the metrics, and the log reports them summed, at most once per check
/// interval — never a line for a single drop.
#[test]
fn a_chatty_plugin_keeps_passing_and_its_dropped_log_lines_are_reported_once_per_interval() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vitals.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[service]
data_dir = "{data}"

[checks.chatty]
type = "plugin"
file = "{file}"
interval = "1s"
config = {{ lines = "200" }}
"#,
            data = dir.path().join("data").display(),
            file = guests::component("log-flood").display(),
        ),
    )
    .unwrap();
    let addr = free_port();
    let started = Instant::now();
    let mut daemon = serve_config(&config, addr, ("RUST_LOG", "info"));
    let mut stderr = daemon.0.stderr.take().unwrap();
    let log_reader = std::thread::spawn(move || {
        let mut log = String::new();
        let _ = stderr.read_to_string(&mut log);
        log
    });
    wait_for(addr, "/health/live", 200, wait::START);
    wait_for_check(addr, "chatty", 200, wait::COMPILE);
    // A few more runs, each logging 200 lines against a budget of at most 50.
    let first = plugin_runs(addr, "chatty");
    wait::until(
        "chatty has run three more times",
        Duration::from_secs(3) + wait::QUICK,
        || plugin_runs(addr, "chatty") >= first + 3,
    );

    let (code, _, body) = request(addr, "GET", "/health/checks/chatty", None).unwrap();
    let check: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (code, &check["rawStatus"]),
        (200, &serde_json::json!("pass")),
        "{body}"
    );
    let run_drops = check["details"]["logs_dropped"].as_u64().unwrap();
    assert!(run_drops >= 150, "{body}");

    let (_, _, list) = request(addr, "GET", "/plugins", None).unwrap();
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    let view = list
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "chatty")
        .unwrap();
    let total = view["logs_dropped"].as_u64().unwrap();
    assert!(total >= 3 * 150, "several runs' drops: {view}");
    let runs = view["runs"].as_u64().unwrap();

    let (_, _, metrics) = request(addr, "GET", "/metrics", None).unwrap();
    let metric = metrics
        .lines()
        .find_map(|l| l.strip_prefix("vitals_plugin_log_lines_dropped_total{plugin=\"chatty\"} "))
        .unwrap_or_else(|| panic!("no drop counter in {metrics}"));
    assert!(metric.parse::<f64>().unwrap() >= total as f64, "{metric}");

    let elapsed = started.elapsed();
    drop(daemon);
    let log = log_reader.join().unwrap();
    let reports: Vec<u64> = log
        .lines()
        .filter(|l| l.contains("log lines past the rate limit"))
        .map(|l| {
            let after = &l[l.find("dropped ").unwrap() + "dropped ".len()..];
            after.split(' ').next().unwrap().parse().unwrap()
        })
        .collect();
    assert!(!reports.is_empty(), "{log}");
    assert!(
        reports.iter().all(|&n| n >= 150),
        "each report sums at least a whole run's drops: {reports:?}"
    );
    // At most one report per interval: never more than one per run (one more run may have
    // ended after `/plugins` was read), nor more than the seconds the daemon ran, plus one.
    let n = reports.len() as u64;
    assert!(n <= runs + 1, "{n} reports for {runs} runs: {reports:?}");
    assert!(
        n as f64 <= elapsed.as_secs_f64() + 1.0,
        "{n} reports in {elapsed:?} with a 1s interval"
    );
}

/// [`plugin_dir_config`] with a critical plugin whose component is compiled at start-up
/// (QuickJS, about a second): start-up outlasts the first results of the built-in check.
fn slow_start_config(dir: &std::path::Path) -> std::path::PathBuf {
    let (config, plugins) = plugin_dir_config(dir);
    guests::install(
        &plugins,
        "script.wasm",
        &std::fs::read(guests::component("noop-qjs")).unwrap(),
    );
    std::fs::write(plugins.join("script.toml"), "critical = true\n").unwrap();
    config
}

/// `GET /health/checks/NAME` with the token: status code and the body's `output`.
fn check_answer(addr: SocketAddr, name: &str) -> Option<(u16, String)> {
    let path = format!("/health/checks/{name}");
    let (code, _, body) = request(addr, "GET", &path, Some("start-secret"))?;
    let json: serde_json::Value = serde_json::from_str(&body).ok()?;
    Some((code, json["output"].as_str().unwrap_or_default().to_owned()))
}

#[test]
fn a_plugin_still_compiling_or_rejected_says_so_at_its_check_url_and_only_strangers_are_404() {
    let dir = tempfile::tempdir().unwrap();
    let (config, plugins) = plugin_dir_config(dir.path());
    let addr = free_port();
    let _daemon = serve_config(&config, addr, ("START_TOKEN", "start-secret"));
    wait_for(addr, "/health/ready", 200, wait::START);

    // A component nobody has compiled yet (the daemon's cache is private), and a broken file.
    let late = plugins.join("late.wasm");
    guests::install(
        &plugins,
        "late.wasm",
        &std::fs::read(guests::component("noop-qjs")).unwrap(),
    );
    guests::install(&plugins, "broken.wasm", b"\0asm but not really");

    let mut loading = Vec::new();
    wait::until("late answers 200", wait::COMPILE, || {
        match check_answer(addr, "late") {
            Some((200, _)) => Ok(()),
            Some((503, output)) if output.starts_with("loading: ") => {
                loading.push(output);
                Err("loading".to_owned())
            }
            // Before the watcher has seen the file, nobody knows the name yet.
            Some((404, output)) if loading.is_empty() => Err(output),
            // Loaded, registered, first run not finished.
            Some((503, output)) if !loading.is_empty() => Err(output),
            other => panic!("late answered {other:?} after {loading:?}"),
        }
    });
    let first = loading
        .first()
        .expect("the load was never seen: the test proves nothing");
    assert!(
        first.starts_with(&format!("loading: {} since ", late.display())),
        "{first}"
    );

    let (code, output) = wait::until("broken is rejected", wait::QUICK, || {
        match check_answer(addr, "broken") {
            Some((503, output)) if output.starts_with("rejected: ") => Ok((503, output)),
            other => Err(format!("{other:?}")),
        }
    });
    assert_eq!(code, 503);
    assert!(output.contains("broken.wasm"), "{output}");
    assert_eq!(
        check_answer(addr, "nobody"),
        Some((404, "no check named 'nobody'".to_owned()))
    );
}

#[test]
fn a_0_1_0_plugin_runs_next_to_0_2_0_ones_and_a_config_key_nobody_declared_is_rejected_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (config, plugins) = plugin_dir_config(dir.path());
    let addr = free_port();
    let _daemon = serve_config(&config, addr, ("START_TOKEN", "start-secret"));
    wait_for(addr, "/health/ready", 200, wait::START);

    let install = |name: &str, guest: &str, manifest: &str| {
        guests::install(&plugins, &format!("{name}.toml"), manifest.as_bytes());
        guests::install(
            &plugins,
            &format!("{name}.wasm"),
            &std::fs::read(guests::component(guest)).unwrap(),
        );
    };
    // Built from the frozen 0.1.0 WIT: it declares no keys, so any key reaches it.
    install(
        "old",
        "contract-v0-1",
        "[config]\ngreeting = \"hi\"\nanything = \"goes\"\n",
    );
    install("new", "noop", "");
    install("typo", "big-output", "[config]\nbyts = \"10\"\n");
    install("unset", "env-reader", "");

    for (name, output) in [("old", "0.1.0 says hi"), ("new", "ok")] {
        let answer = wait::until(
            &format!("{name} passes"),
            wait::COMPILE,
            || match check_answer(addr, name) {
                Some((200, output)) => Ok(output),
                other => Err(format!("{other:?}")),
            },
        );
        assert_eq!(answer, output, "{name}");
    }
    for (name, reason) in [
        (
            "typo",
            "unknown config key `byts` (did you mean `bytes`?); the plugin reads: bytes, details, detail_bytes",
        ),
        (
            "unset",
            "config key `var` is required (Environment variable to read) but not set",
        ),
    ] {
        let output =
            wait::until(
                &format!("{name} is rejected"),
                wait::COMPILE,
                || match check_answer(addr, name) {
                    Some((503, output)) if output.starts_with("rejected: ") => Ok(output),
                    other => Err(format!("{other:?}")),
                },
            );
        assert!(output.contains(reason), "{name}: {output}");
    }
}

#[test]
fn readiness_stays_starting_until_the_plugin_directory_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let config = slow_start_config(dir.path());
    let addr = free_port();
    let _daemon = serve_config(&config, addr, ("START_TOKEN", "start-secret"));
    let mut starting = 0;
    let mut said_compiling = false;
    let first_ready = wait::until("readiness passes", wait::COMPILE, || {
        match request(addr, "GET", "/health/ready?verbose", Some("start-secret")) {
            Some((200, _, body)) => Ok(body),
            // Verbose: a line per check, then the verdict.
            Some((503, _, body))
                if body
                    .lines()
                    .last()
                    .is_some_and(|l| l.starts_with("starting")) =>
            {
                starting += 1;
                said_compiling |= body == "starting: compiling 1 plugin: script\n";
                Err(body)
            }
            Some((code, _, body)) => panic!("readiness answered {code} during start-up: {body}"),
            None => Err("no answer".to_owned()),
        }
    });
    assert!(
        starting > 0,
        "start-up was never seen: the test proves nothing"
    );
    assert!(said_compiling, "start-up never said what it waited for");
    // The first "ready" already counts the plugin, not only the heartbeat registered before it.
    assert!(
        first_ready.contains("script") && first_ready.contains("worker"),
        "{first_ready}"
    );
}

#[test]
fn a_sigterm_during_start_up_stops_at_once_abandoning_the_compile_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let (config, plugins) = plugin_dir_config(dir.path());
    // StarlingMonkey: seconds of compiling, into the daemon's empty private cache.
    guests::install(
        &plugins,
        "script.wasm",
        &std::fs::read(guests::component("misbehave-js")).unwrap(),
    );
    let addr = free_port();
    let mut daemon = serve_config(&config, addr, ("START_TOKEN", "start-secret"));
    wait::until(
        "the compile is under way",
        wait::START,
        || match check_answer(addr, "script") {
            Some((503, output)) if output.starts_with("loading: ") => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    let sent = Instant::now();
    signal(daemon.0.id(), "-TERM");
    let exit = wait::until("the daemon exits", wait::COMPILE, || {
        daemon.0.try_wait().unwrap()
    });
    println!("exited {:?} after the signal", sent.elapsed());
    assert!(exit.success(), "exit status {exit:?}");
    let log = daemon.log();
    assert!(log.contains("nothing to drain"), "{log}");
    assert!(
        !log.lines()
            .any(|l| l.contains("check=script") && l.contains(": loaded ")),
        "the compile was waited for: {log}"
    );
}

#[test]
fn a_second_sigterm_during_the_drain_stops_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = plugin_dir_config(dir.path());
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("drain = \"1s\"", "drain = \"1h\"")).unwrap();
    let addr = free_port();
    let mut daemon = serve_config(&config, addr, ("START_TOKEN", "start-secret"));
    wait_for(addr, "/health/ready", 200, wait::START);
    signal(daemon.0.id(), "-TERM");
    wait_for(addr, "/health/ready", 503, wait::START);
    let sent = Instant::now();
    signal(daemon.0.id(), "-TERM");
    let exit = wait::until("the daemon exits", wait::START, || {
        daemon.0.try_wait().unwrap()
    });
    println!("exited {:?} after the second signal", sent.elapsed());
    assert!(exit.success(), "exit status {exit:?}");
    let log = daemon.log();
    assert!(log.contains("second signal"), "{log}");
}
