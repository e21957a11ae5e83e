//! Passwords in DSNs never appear in check output, details, errors, Debug output or logs.

use std::time::Duration;

use sqlx::{Connection, Executor};
use vitals::Outcome;
use vitals_sql::{BuiltinCheckConfig, build_check};
use vitals_sql::{DatasourceConfig, Datasources};
use vitals_test_support::logs::capture_logs;
use vitals_test_support::servers::{closed_port, require_mysql, require_pg, require_redis, unique};

fn everything(o: &Outcome) -> String {
    format!(
        "{} {:?} {}",
        o.output,
        o,
        serde_json::to_string(&o.details).unwrap()
    )
}

fn assert_clean(what: &str, text: &str, password: &str) {
    assert!(
        !text.contains(password),
        "{what} leaks the password: {text}"
    );
}

#[tokio::test]
async fn postgres_password_never_leaks() {
    let pg = require_pg().await;
    let role = unique("vitals_secret");
    let password = format!("pw-{}", unique("Zq9"));
    let mut admin = sqlx::PgConnection::connect(&pg).await.unwrap();
    admin
        .execute(format!("CREATE ROLE {role} LOGIN PASSWORD '{password}'").as_str())
        .await
        .unwrap();
    let (logs, _guard) = capture_logs();
    let with_password = pg.replacen("postgres@", &format!("{role}:{password}@"), 1);
    let unreachable = format!(
        "postgres://{role}:{password}@127.0.0.1:{}/test?password={password}",
        closed_port()
    );
    for url in [with_password, unreachable] {
        let mut cfg = DatasourceConfig::new(&url);
        cfg.connect_timeout = Duration::from_millis(300);
        assert_clean("config Debug", &format!("{cfg:?}"), &password);
        let configs = [("pg".to_owned(), cfg)].into_iter().collect();
        let datasources = Datasources::new(&configs).unwrap();
        let ds = datasources.get("pg").unwrap();
        assert_clean("datasource Debug", &format!("{ds:?}"), &password);
        assert!(ds.redacted_url().contains(":***@"), "{}", ds.redacted_url());
        let check_cfg: BuiltinCheckConfig =
            toml::from_str("type = \"database\"\ndatasource = \"pg\"").unwrap();
        let check = build_check("pg-db", &check_cfg, &datasources).unwrap();
        let o = check.run().await;
        assert_clean("database check", &everything(&o), &password);
        assert!(o.details["url"].as_str().unwrap().contains(":***@"));
        let err = ds
            .query_read_only("SELECT nope", &[], ds.default_limits())
            .await;
        assert_clean("query error", &format!("{err:?}"), &password);
    }
    let log = logs.text();
    assert!(log.contains("sqlx::query"), "the log was captured: {log}");
    assert_clean("tracing log", &log, &password);
    admin
        .execute(format!("DROP ROLE {role}").as_str())
        .await
        .unwrap();
}

#[tokio::test]
async fn mariadb_wrong_password_error_is_sanitized() {
    let my = require_mysql().await;
    let password = format!("wrong-{}", unique("Kx"));
    let (logs, _guard) = capture_logs();
    let url = my.replacen("root@", &format!("root:{password}@"), 1);
    let configs = [("my".to_owned(), DatasourceConfig::new(&url))]
        .into_iter()
        .collect();
    let datasources = Datasources::new(&configs).unwrap();
    let ds = datasources.get("my").unwrap();
    let check_cfg: BuiltinCheckConfig =
        toml::from_str("type = \"database\"\ndatasource = \"my\"").unwrap();
    let o = build_check("my-db", &check_cfg, &datasources)
        .unwrap()
        .run()
        .await;
    assert_eq!(o.status, vitals::Status::Fail);
    assert!(o.output.contains("Access denied"), "{}", o.output);
    assert_clean("database check", &everything(&o), &password);
    let err = ds
        .query_read_only("SELECT 1", &[], ds.default_limits())
        .await
        .unwrap_err();
    assert_clean("query error", &err.to_string(), &password);
    assert_clean("tracing log", &logs.text(), &password);
}

#[tokio::test]
async fn redis_password_never_leaks() {
    let redis = require_redis().await;
    let password = format!("redis-{}", unique("Pw"));
    let (logs, _guard) = capture_logs();
    let url = redis.replacen("redis://", &format!("redis://:{password}@"), 1);
    let cfg: BuiltinCheckConfig = toml::from_str(&format!(
        "type = \"redis_queue\"\nurl = \"{url}\"\nkey = \"q\""
    ))
    .unwrap();
    assert_clean("config Debug", &format!("{cfg:?}"), &password);
    let check = build_check("jobs", &cfg, &Datasources::default()).unwrap();
    let o = check.run().await;
    assert_eq!(o.status, vitals::Status::Unknown, "{}", o.output);
    assert_clean("redis check", &everything(&o), &password);
    assert_clean("tracing log", &logs.text(), &password);
}

#[test]
fn secrets_from_the_environment_stay_hidden() {
    // The variable is never set: only its default is used.
    let var = unique("VITALS_TEST_SECRET").to_uppercase();
    let cfg: Result<DatasourceConfig, _> =
        toml::from_str(&format!("url = \"postgres://u:${{{var}}}@h/db\""));
    let err = cfg.unwrap_err().to_string();
    assert!(err.contains(&var), "the unset variable is named: {err}");
    let cfg: DatasourceConfig =
        toml::from_str(&format!("url = \"postgres://u:${{{var}:-s3cr3t}}@h/db\"")).unwrap();
    assert_eq!(cfg.url.expose(), "postgres://u:s3cr3t@h/db");
    assert_clean("config Debug", &format!("{cfg:?}"), "s3cr3t");
}
