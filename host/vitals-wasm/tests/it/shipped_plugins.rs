//! The plugins under plugins/ run in the real runtime and report what they measured.

use std::collections::BTreeMap;

use vitals::{Check, Outcome, Status};
use vitals_sql::{DatasourceConfig, Datasources};
use vitals_test_support::{guests, http, servers};
use vitals_wasm::{
    PluginCheck, PluginGrants, PluginRuntime, QuarantinePolicy, RunLimits, RuntimeConfig,
};

use crate::support::{config, http_grants};

async fn run(rt: &PluginRuntime, plugin: &str, grants: PluginGrants) -> Outcome {
    let loaded = rt
        .load(&guests::component(plugin), grants)
        .await
        .expect("plugin loads");
    let check = PluginCheck::new(
        rt,
        plugin,
        loaded,
        RunLimits::default(),
        QuarantinePolicy::default(),
    )
    .unwrap();
    check.run().await
}

fn runtime() -> PluginRuntime {
    PluginRuntime::new(RuntimeConfig::default()).expect("plugin runtime")
}

async fn http_server() -> String {
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "all good" }))
        .route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                "late"
            }),
        );
    format!("{}/health", http::serve_local(app).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoint_passes_on_expected_status_and_body() {
    let url = http_server().await;
    let grants = http_grants(&[
        ("url", &url),
        ("expect_status", "200"),
        ("body_contains", "good"),
    ]);
    let outcome = run(&runtime(), "http-endpoint", grants).await;
    assert_eq!(outcome.status, Status::Pass, "{outcome:?}");
    assert!(
        outcome.output.starts_with("HTTP 200 in"),
        "{}",
        outcome.output
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoint_fails_on_unexpected_status_or_missing_body_text() {
    let url = http_server().await;
    let rt = runtime();
    let wrong_status = run(
        &rt,
        "http-endpoint",
        http_grants(&[("url", &url), ("expect_status", "204")]),
    )
    .await;
    assert_eq!(wrong_status.status, Status::Fail, "{wrong_status:?}");
    assert!(
        wrong_status.output.contains("expected 204"),
        "{}",
        wrong_status.output
    );
    let missing = run(
        &rt,
        "http-endpoint",
        http_grants(&[("url", &url), ("body_contains", "bad")]),
    )
    .await;
    assert_eq!(missing.status, Status::Fail, "{missing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoint_warns_when_slower_than_its_latency_bound() {
    let url = http_server().await.replace("/health", "/slow");
    let rt = runtime();
    let fast_enough = run(
        &rt,
        "http-endpoint",
        http_grants(&[("url", &url), ("max_latency_ms", "2000")]),
    )
    .await;
    assert_eq!(fast_enough.status, Status::Pass, "{fast_enough:?}");
    let slow = run(
        &rt,
        "http-endpoint",
        http_grants(&[("url", &url), ("max_latency_ms", "50")]),
    )
    .await;
    assert_eq!(slow.status, Status::Warn, "{slow:?}");
    assert!(
        slow.output.ends_with("slower than 50 ms"),
        "{}",
        slow.output
    );
    let latency = slow.observed.as_ref().unwrap();
    assert_eq!(latency.unit, "ms");
    assert!(latency.value >= 200.0, "{latency:?}");
}

fn write_cert(dir: &std::path::Path, not_after: Option<(i32, u8, u8)>) -> std::path::PathBuf {
    let mut params = rcgen::CertificateParams::new(vec!["example.test".to_owned()]).unwrap();
    if let Some((y, m, d)) = not_after {
        params.not_before = rcgen::date_time_ymd(1999, 1, 1);
        params.not_after = rcgen::date_time_ymd(y, m, d);
    }
    write_params(dir, params)
}

/// A certificate expiring `days` from now.
fn write_cert_expiring_in(dir: &std::path::Path, days: u64) -> std::path::PathBuf {
    let mut params = rcgen::CertificateParams::new(vec!["example.test".to_owned()]).unwrap();
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    params.not_before = rcgen::date_time_ymd(1999, 1, 1);
    params.not_after = rcgen::date_time_ymd(1970, 1, 1)
        + since_epoch
        + std::time::Duration::from_secs(days * 86_400);
    write_params(dir, params)
}

fn write_params(dir: &std::path::Path, params: rcgen::CertificateParams) -> std::path::PathBuf {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let path = dir.join("cert.pem");
    std::fs::write(&path, cert.pem()).unwrap();
    path
}

fn cert_grants(dir: &std::path::Path, path: &std::path::Path) -> PluginGrants {
    PluginGrants {
        config: config(&[("path", path.to_str().unwrap())]),
        read_dirs: vec![dir.to_owned()],
        ..PluginGrants::default()
    }
}

#[tokio::test]
async fn cert_expiry_passes_for_a_long_lived_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_cert(dir.path(), None);
    let outcome = run(&runtime(), "cert-expiry", cert_grants(dir.path(), &path)).await;
    assert_eq!(outcome.status, Status::Pass, "{outcome:?}");
}

#[tokio::test]
async fn cert_expiry_warns_inside_its_window_and_passes_outside_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_cert_expiring_in(dir.path(), 5);
    let rt = runtime();
    let outcome = run(&rt, "cert-expiry", cert_grants(dir.path(), &path)).await;
    assert_eq!(outcome.status, Status::Warn, "{outcome:?}");
    assert!(
        outcome.output.starts_with("expires in "),
        "{}",
        outcome.output
    );
    let days = outcome.observed.as_ref().unwrap();
    assert_eq!(days.unit, "days");
    assert!((4.0..=5.0).contains(&days.value), "{days:?}");
    // With a 3-day window the same certificate is fine.
    let mut grants = cert_grants(dir.path(), &path);
    grants.config.insert("warn_days".to_owned(), "3".to_owned());
    let outcome = run(&rt, "cert-expiry", grants).await;
    assert_eq!(outcome.status, Status::Pass, "{outcome:?}");
}

#[tokio::test]
async fn cert_expiry_fails_for_an_expired_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_cert(dir.path(), Some((2000, 1, 1)));
    let outcome = run(&runtime(), "cert-expiry", cert_grants(dir.path(), &path)).await;
    assert_eq!(outcome.status, Status::Fail, "{outcome:?}");
    assert!(outcome.output.starts_with("expired"), "{}", outcome.output);
}

async fn sqlite_runtime(dir: &tempfile::TempDir) -> PluginRuntime {
    let path = dir.path().join("tasks.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    sqlx::query("CREATE TABLE tasks (state TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO tasks VALUES ('failed'), ('failed'), ('done')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let rt = runtime();
    let sources = BTreeMap::from([(
        "main".to_owned(),
        DatasourceConfig::new(format!("sqlite://{}", path.display())),
    )]);
    rt.set_datasources(Datasources::new(&sources).unwrap());
    rt
}

fn threshold_grants(pairs: &[(&str, &str)]) -> PluginGrants {
    let mut all = vec![
        ("datasource", "main"),
        ("query", "SELECT count(*) FROM tasks WHERE state = 'failed'"),
    ];
    all.extend_from_slice(pairs);
    PluginGrants {
        config: config(&all),
        datasources: vec!["main".to_owned()],
        ..PluginGrants::default()
    }
}

#[tokio::test]
async fn sql_threshold_passes_below_and_fails_above_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let rt = sqlite_runtime(&dir).await;
    let below = run(
        &rt,
        "sql-threshold",
        threshold_grants(&[("fail_above", "2")]),
    )
    .await;
    assert_eq!(below.status, Status::Pass, "{below:?}");
    assert!(below.output.starts_with("2 rows"), "{}", below.output);
    let above = run(
        &rt,
        "sql-threshold",
        threshold_grants(&[("fail_above", "1")]),
    )
    .await;
    assert_eq!(above.status, Status::Fail, "{above:?}");
    assert!(above.output.contains("above 1"), "{}", above.output);
}

#[tokio::test]
async fn sql_threshold_on_postgres_warns_and_fails_at_its_thresholds() {
    use sqlx::Connection;
    let url = servers::require_pg().await;
    let table = servers::unique("tasks");
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(&format!(
        "CREATE TABLE {table} (state text, failed_at timestamptz DEFAULT now())"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(&format!(
        "INSERT INTO {table} (state) VALUES ('failed'), ('failed'), ('failed'), ('done')"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    let rt = runtime();
    let sources = BTreeMap::from([("tasks".to_owned(), DatasourceConfig::new(url))]);
    rt.set_datasources(Datasources::new(&sources).unwrap());
    let query = format!(
        "SELECT count(*) FROM {table} WHERE state = 'failed' \
         AND failed_at > now() - interval '5 minutes'"
    );
    let grants = |pairs: &[(&str, &str)]| {
        let mut all = vec![("datasource", "tasks"), ("query", query.as_str())];
        all.extend_from_slice(pairs);
        PluginGrants {
            config: config(&all),
            datasources: vec!["tasks".to_owned()],
            ..PluginGrants::default()
        }
    };
    let ok = run(
        &rt,
        "sql-threshold",
        grants(&[("warn_above", "5"), ("fail_above", "10")]),
    )
    .await;
    assert_eq!(ok.status, Status::Pass, "{ok:?}");
    assert_eq!(ok.observed.as_ref().unwrap().value, 3.0);
    let warn = run(
        &rt,
        "sql-threshold",
        grants(&[("warn_above", "2"), ("fail_above", "10")]),
    )
    .await;
    assert_eq!(warn.status, Status::Warn, "{warn:?}");
    assert!(warn.output.contains("above 2"), "{}", warn.output);
    let fail = run(
        &rt,
        "sql-threshold",
        grants(&[("warn_above", "1"), ("fail_above", "2")]),
    )
    .await;
    assert_eq!(fail.status, Status::Fail, "{fail:?}");
    sqlx::query(&format!("DROP TABLE {table}"))
        .execute(&mut conn)
        .await
        .unwrap();
}
