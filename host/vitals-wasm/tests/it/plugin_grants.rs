//! Capabilities are denied by default and work when granted: files, HTTP, env, SQL.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use vitals::{Check, Outcome, Status};
use vitals_sql::{DatasourceConfig, Datasources};
use vitals_test_support::{guests, http, logs, servers};
use vitals_wasm::{
    PluginCheck, PluginCheckConfig, PluginGrants, PluginRuntime, QuarantinePolicy, RunLimits,
    RuntimeConfig,
};

use crate::support::config;

async fn run(rt: &PluginRuntime, guest: &str, grants: PluginGrants) -> Outcome {
    check(rt, guest, grants).await.run().await
}

/// Load `guest` (a compile) into a check, ready to run.
async fn check(rt: &PluginRuntime, guest: &str, grants: PluginGrants) -> PluginCheck {
    let loaded = rt
        .load(&guests::component(guest), grants)
        .await
        .expect("guest loads");
    PluginCheck::new(
        rt,
        guest,
        loaded,
        RunLimits::default(),
        QuarantinePolicy::default(),
    )
    .unwrap()
}

fn runtime() -> PluginRuntime {
    PluginRuntime::new(RuntimeConfig::default()).expect("plugin runtime")
}

#[tokio::test]
async fn a_granted_directory_is_readable() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cert.pem");
    std::fs::write(&file, "granted-file-content").unwrap();
    let grants = PluginGrants {
        config: config(&[("path", file.to_str().unwrap())]),
        read_dirs: vec![dir.path().to_owned()],
        ..PluginGrants::default()
    };
    let outcome = run(&runtime(), "file-reader", grants).await;
    assert_eq!(outcome.status, Status::Pass, "{outcome:?}");
    assert!(
        format!("{outcome:?}").contains("granted-file-content"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn an_ungranted_directory_is_not_readable() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret.txt");
    std::fs::write(&file, "ungranted-file-content").unwrap();
    let grants = PluginGrants {
        config: config(&[("path", file.to_str().unwrap())]),
        ..PluginGrants::default()
    };
    let outcome = run(&runtime(), "file-reader", grants).await;
    assert_eq!(outcome.status, Status::Fail, "{outcome:?}");
    let expected = format!("reading {} failed: ", file.display());
    assert!(outcome.output.starts_with(&expected), "{}", outcome.output);
    assert!(!format!("{outcome:?}").contains("ungranted-file-content"));
}

#[tokio::test]
async fn a_granted_directory_is_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("new.txt");
    let grants = PluginGrants {
        config: config(&[("path", target.to_str().unwrap()), ("mode", "write")]),
        read_dirs: vec![dir.path().to_owned()],
        ..PluginGrants::default()
    };
    let outcome = run(&runtime(), "file-reader", grants).await;
    assert_ne!(outcome.status, Status::Pass, "{outcome:?}");
    assert!(
        !target.exists(),
        "a read-only preopen must not allow creating files"
    );
}

/// A local HTTP server counting its requests.
async fn http_server() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { "hello from the test server" }
        }),
    );
    (format!("{}/", http::serve_local(app).await), hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_host_is_reached() {
    let (url, hits) = http_server().await;
    let grants = PluginGrants {
        config: config(&[("url", &url)]),
        allow_http: vec!["http://127.0.0.1:*".to_owned()],
        ..PluginGrants::default()
    };
    let outcome = run(&runtime(), "net-connect", grants).await;
    assert_eq!(outcome.status, Status::Pass, "{outcome:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ungranted_host_is_refused_before_the_network() {
    let (url, hits) = http_server().await;
    let grants = PluginGrants {
        config: config(&[("url", &url)]),
        allow_http: vec!["https://api.example.com:443".to_owned()],
        ..PluginGrants::default()
    };
    let outcome = run(&runtime(), "net-connect", grants).await;
    assert_ne!(outcome.status, Status::Pass, "{outcome:?}");
    assert!(outcome.output.contains("not granted"), "{}", outcome.output);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the request must never reach the server"
    );
}

#[tokio::test]
async fn a_granted_env_var_is_visible() {
    let value = std::env::var("PATH").expect("PATH is set");
    let grants = PluginGrants {
        config: config(&[("var", "PATH")]),
        env: vec!["PATH".to_owned()],
        ..PluginGrants::default()
    };
    let outcome = run(&runtime(), "env-reader", grants).await;
    assert_eq!(outcome.status, Status::Pass, "{outcome:?}");
    assert!(format!("{outcome:?}").contains(&value), "{outcome:?}");
}

/// A manifest asking for `PATH` beside the env-reader component, under an operator's table:
/// the run's outcome.
async fn env_reader_under(table: &str) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("env-reader.wasm");
    std::fs::copy(guests::component("env-reader"), &wasm).unwrap();
    std::fs::write(
        dir.path().join("env-reader.toml"),
        "env = [\"PATH\"]\n[config]\nvar = \"PATH\"\n",
    )
    .unwrap();
    let table = format!("file = {:?}\n{table}", wasm.display().to_string());
    let config: PluginCheckConfig =
        vitals_config::document::parse(&table, std::path::Path::new("vitals.toml")).unwrap();
    let (spec, _) = PluginCheck::build(&runtime(), "env-reader", &config)
        .await
        .expect("loads");
    spec.check.run().await
}

#[tokio::test]
async fn an_operator_takes_back_a_grant_the_manifest_asks_for_with_an_empty_list() {
    let asked = env_reader_under("").await;
    assert_eq!(asked.status, Status::Pass, "{asked:?}");
    let revoked = env_reader_under("env = []").await;
    assert_eq!(revoked.status, Status::Fail, "{revoked:?}");
    assert_eq!(revoked.output, "PATH: environment variable not found");
}

#[tokio::test]
async fn an_ungranted_env_var_is_invisible() {
    let value = std::env::var("PATH").expect("PATH is set");
    let grants = PluginGrants {
        config: config(&[("var", "PATH")]),
        ..PluginGrants::default()
    };
    let outcome = run(&runtime(), "env-reader", grants).await;
    assert_eq!(outcome.status, Status::Fail, "{outcome:?}");
    assert_eq!(outcome.output, "PATH: environment variable not found");
    assert!(!format!("{outcome:?}").contains(&value));
}

/// A SQLite file with one table of three rows, and the runtime's datasources pointing at it.
async fn sqlite_runtime(dir: &tempfile::TempDir) -> PluginRuntime {
    let path = dir.path().join("plugin.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE jobs (id INTEGER)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO jobs VALUES (1), (2), (3)")
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

#[tokio::test]
async fn a_granted_datasource_is_queried() {
    let dir = tempfile::tempdir().unwrap();
    let rt = sqlite_runtime(&dir).await;
    let grants = PluginGrants {
        config: config(&[
            ("datasource", "main"),
            ("query", "SELECT count(*) AS n FROM jobs"),
        ]),
        datasources: vec!["main".to_owned()],
        ..PluginGrants::default()
    };
    let outcome = run(&rt, "sql-query", grants).await;
    assert_eq!(outcome.status, Status::Pass, "{outcome:?}");
    assert!(format!("{outcome:?}").contains('3'), "{outcome:?}");
}

#[tokio::test]
async fn an_ungranted_datasource_is_refused_naming_it_and_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let rt = sqlite_runtime(&dir).await;
    let grants = PluginGrants {
        config: config(&[
            ("datasource", "main"),
            ("query", "SELECT count(*) FROM jobs"),
        ]),
        ..PluginGrants::default()
    };
    let outcome = run(&rt, "sql-query", grants).await;
    assert_ne!(outcome.status, Status::Pass, "{outcome:?}");
    assert!(
        outcome
            .output
            .contains("datasource main is not granted to plugin sql-query"),
        "{}",
        outcome.output
    );
}

#[tokio::test]
async fn a_write_through_a_granted_datasource_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rt = sqlite_runtime(&dir).await;
    let grants = PluginGrants {
        config: config(&[("datasource", "main"), ("query", "DELETE FROM jobs")]),
        datasources: vec!["main".to_owned()],
        ..PluginGrants::default()
    };
    let outcome = run(&rt, "sql-query", grants).await;
    assert_ne!(outcome.status, Status::Pass, "{outcome:?}");
    assert!(
        outcome.output.to_lowercase().contains("read-only"),
        "{}",
        outcome.output
    );
}

#[tokio::test]
async fn a_raw_socket_is_refused_without_reaching_the_listener() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let grants = PluginGrants {
        config: config(&[("tcp", &addr.to_string())]),
        // Even a host granted for HTTP gives no raw sockets.
        allow_http: vec![format!("http://{addr}")],
        ..PluginGrants::default()
    };
    let outcome = run(&runtime(), "net-connect", grants).await;
    assert_eq!(outcome.status, Status::Fail, "{outcome:?}");
    assert!(outcome.output.starts_with("tcp: "), "{}", outcome.output);
    let accepted = tokio::time::timeout(std::time::Duration::from_millis(100), listener.accept());
    assert!(accepted.await.is_err(), "the guest reached the listener");
}

/// A runtime whose datasource `pg` is the real PostgreSQL.
async fn postgres_runtime() -> PluginRuntime {
    let url = servers::require_pg().await;
    let rt = runtime();
    let sources = BTreeMap::from([("pg".to_owned(), DatasourceConfig::new(url))]);
    rt.set_datasources(Datasources::new(&sources).unwrap());
    rt
}

fn sql_grants(query: &str, limits: (Option<u32>, Option<std::time::Duration>)) -> PluginGrants {
    PluginGrants {
        config: config(&[("datasource", "pg"), ("query", query)]),
        datasources: vec!["pg".to_owned()],
        sql_row_limit: limits.0,
        sql_statement_timeout: limits.1,
        ..PluginGrants::default()
    }
}

#[tokio::test]
async fn a_plugin_query_within_its_row_limit_runs_and_one_past_it_is_refused() {
    let rt = postgres_runtime().await;
    let within = sql_grants("SELECT generate_series(1, 5)", (Some(5), None));
    let outcome = run(&rt, "sql-query", within).await;
    assert_eq!(outcome.status, Status::Pass, "{outcome:?}");
    assert_eq!(outcome.output, "5 rows");
    let past = sql_grants("SELECT generate_series(1, 6)", (Some(5), None));
    let outcome = run(&rt, "sql-query", past).await;
    assert_eq!(outcome.status, Status::Fail, "{outcome:?}");
    assert_eq!(
        outcome.details["error_kind"], "too-many-rows",
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_plugin_query_past_its_statement_timeout_is_cut_off() {
    let rt = postgres_runtime().await;
    let quick = sql_grants(
        "SELECT pg_sleep(0.05)",
        (None, Some(std::time::Duration::from_millis(500))),
    );
    assert_eq!(run(&rt, "sql-query", quick).await.status, Status::Pass);
    let slow = sql_grants(
        "SELECT pg_sleep(5)",
        (None, Some(std::time::Duration::from_millis(200))),
    );
    // The run is timed, not the load before it (a compile, however long the machine takes).
    let slow = check(&rt, "sql-query", slow).await;
    let started = std::time::Instant::now();
    let outcome = slow.run().await;
    let took = started.elapsed();
    assert_eq!(outcome.status, Status::Fail, "{outcome:?}");
    assert_eq!(outcome.details["error_kind"], "timeout", "{outcome:?}");
    assert!(took < std::time::Duration::from_secs(2), "took {took:?}");
}

#[tokio::test]
async fn plugin_log_lines_are_tagged_with_the_plugin_and_its_version() {
    let (captured, _guard) = logs::capture_logs();
    let grants = PluginGrants {
        config: config(&[("lines", "2")]),
        ..PluginGrants::default()
    };
    let outcome = run(&runtime(), "log-flood", grants).await;
    assert_eq!(outcome.status, Status::Pass, "{outcome:?}");
    let log = captured.text();
    let line = log
        .lines()
        .find(|l| l.contains("log-flood line 1"))
        .unwrap_or_else(|| panic!("no plugin line in {log}"));
    assert!(line.contains("plugin=\"log-flood\""), "{line}");
    assert!(line.contains("version=\"0.1.0\""), "{line}");
}
