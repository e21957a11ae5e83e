//! `[checks.NAME]` tables parse into the right check type, flat, with unknown keys rejected.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::datasource::DatasourceConfig;

fn parse(toml_text: &str) -> Result<BuiltinCheckConfig, toml::de::Error> {
    toml::from_str(toml_text)
}

#[test]
fn database_table_is_flat_with_common_settings() {
    let cfg = parse(
        "type = \"database\"\ndatasource = \"orders\"\nwarn_latency = \"250ms\"\ninterval = \"5s\"\ncritical = false",
    )
    .expect("parses");
    let BuiltinCheckConfig::Database(db) = &cfg else {
        panic!("wrong type: {cfg:?}");
    };
    assert_eq!(db.datasource, "orders");
    assert_eq!(db.query, None);
    assert_eq!(db.warn_latency, Some(Duration::from_millis(250)));
    assert_eq!(cfg.common().interval, Some(Duration::from_secs(5)));
    assert_eq!(cfg.common().critical, Some(false));
}

#[test]
fn every_type_parses_and_unknown_keys_are_rejected() {
    assert!(matches!(
        parse("type = \"pgmq\"\ndatasource = \"pg\"\nqueue = \"jobs\""),
        Ok(BuiltinCheckConfig::Pgmq(_))
    ));
    assert!(matches!(
        parse("type = \"sql_queue\"\ndatasource = \"pg\"\nquery = \"SELECT 1\""),
        Ok(BuiltinCheckConfig::SqlQueue(_))
    ));
    let redis = parse(
        "type = \"redis_queue\"\nurl = \"redis://127.0.0.1\"\nkey = \"q\"\nkind = \"stream\"",
    )
    .expect("parses");
    assert!(matches!(
        redis,
        BuiltinCheckConfig::RedisQueue(RedisQueueCheckConfig {
            kind: RedisQueueKind::Stream,
            ..
        })
    ));
    let err =
        parse("type = \"database\"\ndatasource = \"x\"\nqeury = \"SELECT 1\"").expect_err("typo");
    assert!(err.to_string().contains("qeury"), "{err}");
    assert!(
        parse("type = \"redis_queue\"\nurl = \"redis://x\"\nkey = \"q\"\nkind = \"hash\"").is_err()
    );
}

#[tokio::test]
async fn a_missing_datasource_is_named_in_the_build_error() {
    let cfg = parse("type = \"database\"\ndatasource = \"orders\"").expect("parses");
    let Err(err) = build_check("orders-db", &cfg, &Datasources::default()) else {
        panic!("built without its datasource");
    };
    assert_eq!(
        err,
        BuildError::UnknownDatasource {
            check: "orders-db".into(),
            datasource: "orders".into()
        }
    );
    assert!(err.to_string().contains("'orders-db'") && err.to_string().contains("'orders'"));
}

#[tokio::test]
async fn a_writing_sql_queue_query_is_rejected_at_build_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let configs = BTreeMap::from([(
        "local".to_owned(),
        DatasourceConfig::new(dir.path().join("x.db").display().to_string()),
    )]);
    let datasources = Datasources::new(&configs).expect("builds");
    let cfg = parse("type = \"sql_queue\"\ndatasource = \"local\"\nquery = \"DELETE FROM jobs\"")
        .expect("parses");
    let Err(err) = build_check("jobs", &cfg, &datasources) else {
        panic!("a DELETE query was accepted");
    };
    assert!(err.to_string().contains("DELETE"), "{err}");
}
