//! Database checks against the real PostgreSQL, MariaDB and SQLite, unreachable and black-hole
//! servers, and the circuit breaker's full cycle.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vitals::{Check, Pressure, Status};
use vitals_sql::{CircuitConfig, CircuitState};
use vitals_sql::{DatabaseCheck, DatabaseCheckConfig};
use vitals_sql::{Datasource, DatasourceConfig, Datasources};
use vitals_test_support::servers::{
    FaultServer, closed_port, host_port, require_mysql, require_pg, unique,
};
use vitals_test_support::wait;

fn db_check_config(datasource: &str) -> DatabaseCheckConfig {
    toml::from_str(&format!("datasource = \"{datasource}\"")).unwrap()
}

fn datasource(url: &str, timeout: Duration) -> Arc<Datasource> {
    let mut cfg = DatasourceConfig::new(url);
    cfg.connect_timeout = timeout;
    cfg.acquire_timeout = timeout;
    cfg.statement_timeout = timeout;
    Arc::new(Datasource::new("db", cfg).unwrap())
}

fn check(ds: &Arc<Datasource>) -> DatabaseCheck {
    DatabaseCheck::new(ds.clone(), &db_check_config("db"))
}

async fn passes_with_latency_and_pool_details(url: &str) {
    let ds = datasource(url, Duration::from_secs(2));
    let check = check(&ds);
    assert_eq!(check.kind().component_type, "datastore");
    assert_eq!(check.kind().measurement, "responseTime");
    let o = check.run().await;
    assert_eq!(o.status, Status::Pass, "{}", o.output);
    assert!(o.output.starts_with("responded in "), "{}", o.output);
    let observed = o.observed.unwrap();
    assert_eq!(observed.unit, "ms");
    assert!(
        observed.value > 0.0 && observed.value < 2000.0,
        "{observed:?}"
    );
    assert_eq!(o.details["pool_size"], 1, "{:?}", o.details);
    assert_eq!(o.details["pool_idle"], 1);
    assert_eq!(o.details["pool_in_use"], 0);
    assert_eq!(o.details["pool_max"], 5);
    assert_eq!(o.details["circuit"], "closed");
    assert_eq!(o.pressure, None);
}

#[tokio::test]
async fn postgres_check_passes_with_latency_and_pool_details() {
    passes_with_latency_and_pool_details(&require_pg().await).await;
}

#[tokio::test]
async fn mariadb_check_passes_with_latency_and_pool_details() {
    passes_with_latency_and_pool_details(&require_mysql().await).await;
}

#[tokio::test]
async fn sqlite_check_passes_and_creates_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    passes_with_latency_and_pool_details(&format!("sqlite://{}", path.display())).await;
    assert!(path.exists());
    passes_with_latency_and_pool_details(&dir.path().join("plain.db").display().to_string()).await;
}

#[tokio::test]
async fn slow_query_over_warn_latency_warns() {
    let url = require_pg().await;
    let ds = datasource(&url, Duration::from_secs(2));
    let cfg: DatabaseCheckConfig = toml::from_str(
        "datasource = \"db\"\nquery = \"SELECT pg_sleep(0.15)\"\nwarn_latency = \"100ms\"",
    )
    .unwrap();
    let o = DatabaseCheck::new(ds.clone(), &cfg).run().await;
    assert_eq!(o.status, Status::Warn, "{}", o.output);
    assert!(
        o.output.starts_with("slow: ") && o.output.contains("over 100ms"),
        "{}",
        o.output
    );
    let fast: DatabaseCheckConfig =
        toml::from_str("datasource = \"db\"\nwarn_latency = \"1s\"").unwrap();
    assert_eq!(
        DatabaseCheck::new(ds, &fast).run().await.status,
        Status::Pass
    );
}

#[tokio::test]
async fn unreachable_server_fails_within_the_connect_timeout() {
    for url in [
        format!("postgres://postgres@127.0.0.1:{}/test", closed_port()),
        format!("mysql://root@127.0.0.1:{}/test", closed_port()),
    ] {
        let ds = datasource(&url, Duration::from_millis(300));
        let started = Instant::now();
        let o = check(&ds).run().await;
        let elapsed = started.elapsed();
        assert_eq!(o.status, Status::Fail, "{url}");
        assert_eq!(o.output, "connecting timed out after 300ms", "{url}");
        assert!(
            elapsed < Duration::from_millis(800),
            "{url}: took {elapsed:?}"
        );
    }
}

#[tokio::test]
async fn black_hole_server_fails_at_the_timeout_without_slowing_other_checks() {
    let pg = require_pg().await;
    let hole = FaultServer::black_hole().await;
    let stuck = datasource(
        &format!("postgres://postgres@{}/test", hole.addr),
        Duration::from_millis(500),
    );
    let healthy = datasource(&pg, Duration::from_secs(2));
    let stuck_check = check(&stuck);
    let started = Instant::now();
    let (stuck_outcome, healthy_elapsed) = tokio::join!(stuck_check.run(), async {
        let o = check(&healthy).run().await;
        assert_eq!(o.status, Status::Pass, "{}", o.output);
        started.elapsed()
    });
    let elapsed = started.elapsed();
    assert_eq!(stuck_outcome.status, Status::Fail);
    assert_eq!(stuck_outcome.output, "connecting timed out after 500ms");
    assert!(
        elapsed >= Duration::from_millis(480) && elapsed < Duration::from_millis(1000),
        "black hole took {elapsed:?}"
    );
    assert!(
        healthy_elapsed < Duration::from_millis(400),
        "healthy check took {healthy_elapsed:?}"
    );
    assert_eq!(hole.accepted(), 1);
}

#[tokio::test]
async fn breaker_opens_after_five_failures_stops_calling_and_closes_when_the_server_is_back() {
    let pg = require_pg().await;
    let server = FaultServer::start(Some(host_port(&pg))).await;
    let mut cfg = DatasourceConfig::new(format!("postgres://postgres@{}/test", server.addr));
    cfg.connect_timeout = Duration::from_millis(100);
    cfg.acquire_timeout = Duration::from_millis(100);
    cfg.circuit = CircuitConfig {
        failure_threshold: 5,
        open_for: Duration::from_millis(300),
        success_threshold: 2,
        min_transition_interval: Duration::from_millis(50),
    };
    let ds = Arc::new(Datasource::new("flaky", cfg).unwrap());
    let check = check(&ds);

    for run in 1..=5 {
        let o = check.run().await;
        assert_eq!(o.status, Status::Fail, "run {run}");
        assert_eq!(o.output, "connecting timed out after 100ms");
    }
    assert_eq!(server.accepted(), 5);
    assert!(matches!(ds.breaker().state(), CircuitState::Open { .. }));

    // Open: the check answers at once and does not connect.
    let started = Instant::now();
    let o = check.run().await;
    assert!(
        started.elapsed() < Duration::from_millis(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(o.status, Status::Fail);
    assert_eq!(
        o.output,
        "circuit open (5 consecutive failures); next probe in 1s"
    );
    assert_eq!(o.pressure, Some(Pressure::CircuitOpen));
    assert_eq!(o.details["circuit"], "open");
    assert_eq!(
        server.accepted(),
        5,
        "an open breaker must not touch the server"
    );

    // After open_for it half-opens; the server is back, so two probes close it.
    server.forward();
    tokio::time::sleep(Duration::from_millis(320)).await;
    let first = check.run().await;
    assert_eq!(first.status, Status::Pass, "{}", first.output);
    assert_eq!(ds.breaker().state(), CircuitState::HalfOpen);
    assert_eq!(first.pressure, Some(Pressure::CircuitOpen), "still probing");
    tokio::time::sleep(Duration::from_millis(60)).await;
    let second = check.run().await;
    assert_eq!(second.status, Status::Pass, "{}", second.output);
    assert_eq!(ds.breaker().state(), CircuitState::Closed);
    assert_eq!(second.pressure, None);
    let path: Vec<_> = ds
        .breaker()
        .transitions()
        .iter()
        .map(|t| (t.from, t.to))
        .collect();
    assert_eq!(
        path,
        [
            ("closed", "open"),
            ("open", "half_open"),
            ("half_open", "closed")
        ]
    );
}

#[tokio::test]
async fn a_failed_probe_reopens_the_breaker() {
    let hole = FaultServer::black_hole().await;
    let mut cfg = DatasourceConfig::new(format!("mysql://root@{}/test", hole.addr));
    cfg.connect_timeout = Duration::from_millis(80);
    cfg.circuit.failure_threshold = 2;
    cfg.circuit.open_for = Duration::from_millis(200);
    cfg.circuit.min_transition_interval = Duration::ZERO;
    let ds = Arc::new(Datasource::new("hole", cfg).unwrap());
    let check = check(&ds);
    check.run().await;
    check.run().await;
    assert_eq!(hole.accepted(), 2);
    tokio::time::sleep(Duration::from_millis(220)).await;
    let probe = check.run().await;
    assert_eq!(probe.output, "connecting timed out after 80ms");
    assert_eq!(hole.accepted(), 3, "one probe went through");
    assert!(matches!(ds.breaker().state(), CircuitState::Open { .. }));
    assert!(
        check
            .run()
            .await
            .output
            .starts_with("circuit open (3 consecutive failures)")
    );
    assert_eq!(hole.accepted(), 3);
}

#[tokio::test]
async fn saturated_pool_turns_the_check_warn() {
    let url = require_pg().await;
    let mut cfg = DatasourceConfig::new(url);
    cfg.max_connections = 1;
    let ds = Arc::new(Datasource::new("small", cfg).unwrap());
    let slow: DatabaseCheckConfig =
        toml::from_str("datasource = \"small\"\nquery = \"SELECT pg_sleep(0.3)\"").unwrap();
    let holder = DatabaseCheck::new(ds.clone(), &slow);
    let probe = check(&ds);
    let (held, o) = tokio::join!(holder.run(), async {
        // Once the slow query holds the only connection (it holds it for 300 ms).
        wait::until_async(
            "the slow query holds the connection",
            wait::QUICK,
            async || ds.pool_stats().saturated(),
        )
        .await;
        probe.run().await
    });
    assert_eq!(held.status, Status::Pass, "{}", held.output);
    assert_eq!(o.status, Status::Warn, "{}", o.output);
    assert!(
        o.output
            .starts_with("pool saturated: all 1 connections were in use"),
        "{}",
        o.output
    );
}

#[tokio::test]
async fn datasources_share_one_pool_per_name() {
    let url = require_pg().await;
    let configs = BTreeMap::from([(unique("pg"), DatasourceConfig::new(url))]);
    let all = Datasources::new(&configs).unwrap();
    let name = configs.keys().next().unwrap();
    let (a, b) = (all.get(name).unwrap(), all.get(name).unwrap());
    assert!(Arc::ptr_eq(&a, &b));
    check(&a).run().await;
    check(&b).run().await;
    assert_eq!(a.pool_stats().size, 1, "both checks used the same pool");
    assert!(all.get("missing").is_none());
}
