//! Dependency faults through the whole daemon: a server that hangs in the middle of a session, a
//! check cut off by its own timeout, and a breaker's full cycle seen through admission. Probes
//! are driven over real sockets the whole time and must stay fast.

use std::sync::Arc;
use std::time::{Duration, Instant};

use vitals::ShedSource;
use vitals::{Admission, BackpressureConfig, CheckSettings, CheckSpec, EvaluatorConfig, Vitals};
use vitals_daemon::Config;
use vitals_daemon::Daemon;
use vitals_sql::DatabaseCheck;
use vitals_sql::{Datasource, DatasourceConfig};
use vitals_test_support::probe::ProbeLoop;
use vitals_test_support::servers::{FaultServer, host_port, require_pg};
use vitals_test_support::wait;

/// Probes slower than this count as slow: far under the kubelet's 1 s default timeout.
const SLOW_PROBE: Duration = Duration::from_millis(100);

fn settings(interval_ms: u64, timeout: Duration) -> CheckSettings {
    CheckSettings {
        interval: Duration::from_millis(interval_ms),
        timeout,
        critical: false,
        ..CheckSettings::default()
    }
}

fn db_check(name: &str, ds: &Arc<Datasource>, settings: CheckSettings) -> CheckSpec {
    let cfg = toml::from_str(&format!("datasource = \"{}\"", ds.name())).unwrap();
    CheckSpec::new(name, DatabaseCheck::new(ds.clone(), &cfg)).with_settings(settings)
}

async fn start(checks: Vec<CheckSpec>, backpressure: BackpressureConfig) -> Daemon {
    let mut builder = Vitals::builder()
        .evaluator_config(EvaluatorConfig {
            jitter: 0.0,
            heartbeat: Duration::from_millis(100),
            ..EvaluatorConfig::default()
        })
        .backpressure_config(backpressure);
    for c in checks {
        builder.add_check(c);
    }
    let listen = "127.0.0.1:0".parse().unwrap();
    Daemon::start(&Config::default(), builder, Some(listen))
        .await
        .unwrap()
}

fn output_of(vitals: &Vitals, check: &str) -> Option<(vitals::Status, String)> {
    let snap = vitals.snapshot();
    let c = snap.check(check)?;
    let last = c.last.as_ref()?;
    Some((last.outcome.status, last.outcome.output.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_hangs_mid_session_fails_at_the_statement_timeout_and_probes_stay_fast() {
    let pg = require_pg().await;
    let proxy = FaultServer::relay_to(host_port(&pg)).await;
    let mut cfg = DatasourceConfig::new(format!("postgres://postgres@{}/test", proxy.addr));
    // sqlx pings a pooled connection before handing it out, so a server hanging mid-session is
    // met either there (acquire timeout) or in the query (statement timeout): both 400 ms.
    cfg.statement_timeout = Duration::from_millis(400);
    cfg.acquire_timeout = Duration::from_millis(400);
    let ds = Arc::new(Datasource::new("orders", cfg).unwrap());
    let healthy = Arc::new(Datasource::new("direct", DatasourceConfig::new(pg)).unwrap());
    let daemon = start(
        vec![
            db_check("orders-db", &ds, settings(200, Duration::from_secs(2))),
            db_check("direct-db", &healthy, settings(100, Duration::from_secs(2))),
        ],
        BackpressureConfig::default(),
    )
    .await;
    let vitals = daemon.vitals().clone();
    wait::until_async("the proxied database passes", wait::QUICK, async || {
        output_of(&vitals, "orders-db").filter(|(s, _)| *s == vitals::Status::Pass)
    })
    .await;

    let probes = ProbeLoop::start(
        daemon.local_addr(),
        "/health/live",
        200,
        Duration::from_millis(5),
    );
    // The pooled connection is established; now the server stops answering mid-session.
    proxy.freeze();
    let frozen_at = Instant::now();
    let (_, output) = wait::until_async("the hung server is reported", wait::QUICK, async || {
        output_of(&vitals, "orders-db").filter(|(s, _)| *s == vitals::Status::Fail)
    })
    .await;
    let took = frozen_at.elapsed();
    assert!(
        output == "statement timed out after 400ms"
            || output == "waiting for a connection timed out after 400ms",
        "{output}"
    );
    assert!(
        took >= Duration::from_millis(390) && took < Duration::from_millis(1500),
        "reported after {took:?}"
    );
    // The other check kept its pace on the same evaluator.
    let runs_before = vitals.snapshot().check("direct-db").unwrap().runs;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let direct = vitals.snapshot().check("direct-db").unwrap().clone();
    assert!(
        direct.runs >= runs_before + 3,
        "direct-db ran {} times",
        direct.runs - runs_before
    );
    assert_eq!(direct.status(), vitals::Status::Pass);

    let stats = probes.stop();
    assert!(stats.sent > 50, "{stats:?}");
    assert_eq!(stats.failed, 0, "{stats:?}");
    assert!(stats.max < SLOW_PROBE, "slowest probe {:?}", stats.max);
    daemon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_cut_off_by_their_own_timeout_still_open_the_breaker() {
    let hole = FaultServer::black_hole().await;
    // The datasource would wait 10 s to connect; the check gives up after 150 ms.
    let mut cfg = DatasourceConfig::new(format!("postgres://postgres@{}/test", hole.addr));
    cfg.connect_timeout = Duration::from_secs(10);
    cfg.acquire_timeout = Duration::from_secs(10);
    cfg.circuit.failure_threshold = 3;
    cfg.circuit.min_transition_interval = Duration::ZERO;
    let ds = Arc::new(Datasource::new("orders", cfg).unwrap());
    let daemon = start(
        vec![db_check(
            "orders-db",
            &ds,
            settings(50, Duration::from_millis(150)),
        )],
        BackpressureConfig::default(),
    )
    .await;
    let vitals = daemon.vitals().clone();
    let shed = wait::until_async(
        "the breaker closes admission",
        wait::QUICK,
        async || match &vitals.snapshot().admission {
            Admission::Shedding(s) => Some(s.clone()),
            Admission::Open => None,
        },
    )
    .await;
    assert_eq!(shed.source, ShedSource::CircuitBreaker);
    assert_eq!(ds.breaker().state().name(), "open");
    assert_eq!(hole.accepted(), 3, "three abandoned attempts opened it");
    daemon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_breaker_sheds_then_recovers_through_half_open_and_admission_reopens() {
    let pg = require_pg().await;
    let server = FaultServer::start(Some(host_port(&pg))).await;
    let mut cfg = DatasourceConfig::new(format!("postgres://postgres@{}/test", server.addr));
    cfg.connect_timeout = Duration::from_millis(100);
    cfg.acquire_timeout = Duration::from_millis(100);
    cfg.circuit.failure_threshold = 2;
    cfg.circuit.success_threshold = 2;
    cfg.circuit.open_for = Duration::from_millis(600);
    cfg.circuit.min_transition_interval = Duration::ZERO;
    let ds = Arc::new(Datasource::new("orders", cfg).unwrap());
    let mut backpressure = BackpressureConfig {
        retry_jitter: 0.0,
        ..BackpressureConfig::default()
    };
    backpressure.retry_after.circuit_breaker = Duration::from_secs(7);
    let daemon = start(
        vec![db_check(
            "orders-db",
            &ds,
            settings(100, Duration::from_secs(1)),
        )],
        backpressure,
    )
    .await;
    let vitals = daemon.vitals().clone();
    let addr = daemon.local_addr();

    let started = Instant::now();
    wait::until_async("the breaker closes admission", wait::QUICK, async || {
        !vitals.snapshot().admission.is_open()
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let (_, output) = wait::until_async("a run meets the open breaker", wait::QUICK, async || {
        output_of(&vitals, "orders-db").filter(|(_, o)| o.starts_with("circuit open"))
    })
    .await;
    assert!(
        output.starts_with("circuit open (2 consecutive failures); next probe in "),
        "{output}"
    );
    assert_eq!(
        server.accepted(),
        2,
        "while open, runs do not touch the server"
    );
    let (code, retry_after) = tokio::task::spawn_blocking(move || backpressure_probe(addr))
        .await
        .unwrap();
    assert_eq!((code, retry_after.as_deref()), (503, Some("7")));

    // The server comes back: after open_for the breaker half-opens, two good probes close it.
    server.forward();
    let back = Instant::now();
    wait::until_async("admission reopens", wait::QUICK, async || {
        vitals.snapshot().admission.is_open()
    })
    .await;
    let took = back.elapsed();
    assert!(
        took < Duration::from_millis(1500),
        "reopened after {took:?}"
    );
    let states: Vec<String> = ds
        .breaker()
        .transitions()
        .iter()
        .map(|t| format!("{}->{}", t.from, t.to))
        .collect();
    assert_eq!(
        states,
        ["closed->open", "open->half_open", "half_open->closed"],
        "{states:?}"
    );
    let (code, _) = tokio::task::spawn_blocking(move || backpressure_probe(addr))
        .await
        .unwrap();
    assert_eq!(code, 200);
    daemon.stop().await.unwrap();
}

/// `GET /health/backpressure`: the status and the Retry-After header.
fn backpressure_probe(addr: std::net::SocketAddr) -> (u16, Option<String>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /health/backpressure HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let code = raw.split(' ').nth(1).unwrap().parse().unwrap();
    let retry = raw
        .lines()
        .find_map(|l| l.strip_prefix("retry-after: ").map(str::to_owned));
    (code, retry)
}
