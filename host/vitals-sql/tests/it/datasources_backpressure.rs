//! End to end: datasource checks feed the evaluator, the backpressure engine and the admission
//! layer. Real time (the drivers do real I/O), short durations.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{Connection, Executor};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use vitals::ShedSource;
use vitals::Thresholds;
use vitals::{Admission, BackpressureConfig, CheckSettings, CheckSpec, EvaluatorConfig, Vitals};
use vitals_sql::{DatabaseCheck, SqlCountQueueCheck};
use vitals_sql::{Datasource, DatasourceConfig};
use vitals_test_support::servers::FaultServer;
use vitals_test_support::wait;

fn every(interval_ms: u64) -> CheckSettings {
    CheckSettings {
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_secs(1),
        ..CheckSettings::default()
    }
}

fn evaluator() -> EvaluatorConfig {
    EvaluatorConfig {
        jitter: 0.0,
        heartbeat: Duration::from_millis(100),
        ..EvaluatorConfig::default()
    }
}

/// Wait until the published admission decision satisfies `cond`: a few check runs.
async fn wait_until(vitals: &Vitals, what: &str, cond: impl Fn(&Admission) -> bool) {
    wait::until_async(what, wait::QUICK, async || {
        let admission = vitals.snapshot().admission.clone();
        if cond(&admission) {
            Ok(())
        } else {
            Err(format!("{admission:?}"))
        }
    })
    .await;
}

/// How many runs of `check` the published snapshot counts.
fn runs(vitals: &Vitals, check: &str) -> u64 {
    vitals.snapshot().check(check).map_or(0, |c| c.runs)
}

/// Wait until `check` has run `n` more times than `since`: at least one whole run after now.
async fn wait_runs(vitals: &Vitals, check: &str, since: u64, n: u64) {
    let what = format!("{check} runs {n} more times");
    wait::until_async(&what, wait::QUICK, async || {
        runs(vitals, check) >= since + n
    })
    .await;
}

fn shed_source(a: &Admission) -> Option<ShedSource> {
    match a {
        Admission::Open => None,
        Admission::Shedding(s) => Some(s.source),
    }
}

async fn post_work(vitals: &Vitals) -> http::Response<axum::body::Body> {
    axum::Router::new()
        .route("/work", axum::routing::post(|| async { "done" }))
        .layer(vitals.admission_layer())
        .oneshot(
            http::Request::post("/work")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_circuit_closes_admission_with_503_and_retry_after() {
    let hole = FaultServer::black_hole().await;
    let mut cfg = DatasourceConfig::new(format!("postgres://postgres@{}/test", hole.addr));
    cfg.connect_timeout = Duration::from_millis(50);
    cfg.circuit.failure_threshold = 2;
    cfg.circuit.min_transition_interval = Duration::ZERO;
    let ds = Arc::new(Datasource::new("orders", cfg).unwrap());
    let check_cfg = toml::from_str("datasource = \"orders\"").unwrap();
    let spec = CheckSpec::new("orders-db", DatabaseCheck::new(ds.clone(), &check_cfg))
        .with_settings(CheckSettings {
            critical: false,
            ..every(100)
        });
    let backpressure = BackpressureConfig {
        retry_jitter: 0.0,
        ..BackpressureConfig::default()
    };
    let (vitals, evaluator) = Vitals::builder()
        .evaluator_config(evaluator())
        .backpressure_config(backpressure)
        .check(spec)
        .build();
    let stop = CancellationToken::new();
    tokio::spawn(evaluator.run(stop.clone()));

    wait_until(&vitals, "the breaker closes admission", |a| {
        shed_source(a) == Some(ShedSource::CircuitBreaker)
    })
    .await;
    let res = post_work(&vitals).await;
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.headers()["retry-after"],
        "30",
        "circuit_breaker retry-after, no jitter"
    );
    let accepted = hole.accepted();
    assert_eq!(accepted, 2, "two failures opened the breaker");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        hole.accepted(),
        accepted,
        "while open, runs do not touch the server"
    );
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_queue_closes_admission_and_reopens_below_exit_after_the_dwell() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("q.db").display());
    let mut writer = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc"))
        .await
        .unwrap();
    writer
        .execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY)")
        .await
        .unwrap();
    let ds = Arc::new(Datasource::new("local", DatasourceConfig::new(&url)).unwrap());
    let check_cfg =
        toml::from_str("datasource = \"local\"\nquery = \"SELECT COUNT(*) FROM jobs\"").unwrap();
    let check = SqlCountQueueCheck::new(ds, &check_cfg).unwrap();
    let dwell = Duration::from_millis(800);
    let backpressure = BackpressureConfig {
        queue: Thresholds {
            warning: 10.0,
            critical: 50.0,
            overflow: 100.0,
            exit_ratio: 0.9,
        },
        min_dwell: dwell,
        retry_jitter: 0.0,
        ..BackpressureConfig::default()
    };
    let (vitals, evaluator) = Vitals::builder()
        .evaluator_config(evaluator())
        .backpressure_config(backpressure)
        .check(CheckSpec::new("jobs", check).with_settings(every(50)))
        .build();
    let stop = CancellationToken::new();
    tokio::spawn(evaluator.run(stop.clone()));
    let fill = |n: u32| {
        format!(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) INSERT INTO jobs SELECT NULL FROM c"
        )
    };

    wait_runs(&vitals, "jobs", 0, 1).await;
    assert_eq!(
        post_work(&vitals).await.status(),
        200,
        "empty queue admits work"
    );

    writer.execute(fill(60).as_str()).await.unwrap();
    wait_until(&vitals, "the queue closes admission", |a| {
        shed_source(a) == Some(ShedSource::QueueDepth)
    })
    .await;
    let entered = Instant::now();
    let res = post_work(&vitals).await;
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.headers()["retry-after"],
        "30",
        "queue_critical retry-after"
    );

    // 46 is below critical (50) but above its exit (45): still shedding.
    writer
        .execute("DELETE FROM jobs WHERE id > 46")
        .await
        .unwrap();
    wait_runs(&vitals, "jobs", runs(&vitals, "jobs"), 2).await;
    assert!(
        !vitals.snapshot().admission.is_open(),
        "hysteresis holds above the exit band"
    );

    writer
        .execute("DELETE FROM jobs WHERE id > 40")
        .await
        .unwrap();
    wait_until(&vitals, "admission reopens", Admission::is_open).await;
    let reopened_after = entered.elapsed();
    assert!(
        reopened_after >= dwell - Duration::from_millis(100),
        "left before the dwell: {reopened_after:?}"
    );
    assert_eq!(post_work(&vitals).await.status(), 200);
    stop.cancel();
}
