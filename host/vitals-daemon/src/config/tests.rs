#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use super::*;

fn parse_str(text: &str) -> Result<Config, ConfigError> {
    parse(text, Path::new("test.toml"))
}

#[test]
fn example_config_loads_with_documented_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vitals.example.toml");
    // Its plugin example names a shipped plugin, present only once `cargo xtask guests` ran.
    let text = std::fs::read_to_string(&path).unwrap();
    let cfg = parse_allowing_missing_plugin_files(&text, &path).unwrap();
    let defaults = Config::default();
    assert_eq!(
        cfg.evaluator, defaults.evaluator,
        "example must show the evaluator defaults"
    );
    assert_eq!(
        cfg.backpressure, defaults.backpressure,
        "example must show the backpressure defaults"
    );
    assert_eq!(
        cfg.plugins, defaults.plugins,
        "example must show the plugin runtime defaults"
    );
    let orders = &cfg.datasources["orders"];
    let mut expected = vitals_sql::DatasourceConfig::new(orders.url.expose());
    expected.url = orders.url.clone();
    assert_eq!(
        orders, &expected,
        "example must show the datasource and circuit breaker defaults"
    );
    assert_eq!(cfg.http.listen, defaults.http.listen);
    assert_eq!(cfg.grpc, defaults.grpc, "gRPC is off unless listen is set");
    assert_eq!(cfg.http.drain, defaults.http.drain);
    assert!(
        matches!(cfg.checks["mailer"], CheckConfig::Heartbeat(ref h) if h.ttl == Duration::from_secs(30))
    );
}

#[tokio::test]
async fn embedded_default_config_matches_the_embedded_database() {
    let cfg = parse_allowing_missing_plugin_files(
        crate::cli::DEFAULT_CONFIG,
        Path::new("<embedded default>"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = vitals_sql::prepare_embedded_sqlite(dir.path())
        .await
        .unwrap();
    let CheckConfig::Builtin(BuiltinCheckConfig::SqlQueue(jobs)) = &cfg.checks["jobs"] else {
        panic!("jobs is a sql_queue")
    };
    assert_eq!(
        jobs.query, db.queue_query,
        "default.toml's queue query must count the table it creates"
    );
    assert_eq!(
        cfg.datasources["local"].url.expose(),
        "sqlite://data/vitals.db"
    );
    assert_eq!(cfg.service.data_dir, std::path::PathBuf::from("data"));
}

#[test]
fn check_naming_an_undefined_datasource_is_rejected() {
    let e = parse_str("[checks.db]\ntype = \"database\"\ndatasource = \"nope\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("checks.db.datasource") && e.contains("'nope'"),
        "{e}"
    );
}

#[test]
fn unknown_key_is_rejected_with_file_line_column_and_key() {
    let text = "[evaluator]\nmax_concurrency = 4\nstale_afterr = \"5s\"\n";
    let e = parse_str(text).unwrap_err().to_string();
    assert!(e.starts_with("test.toml:3:1: evaluator"), "{e}");
    assert!(e.contains("stale_afterr"), "{e}");
}

#[test]
fn every_broken_rule_is_reported_at_once_each_with_its_position() {
    let text = "[evaluator]\njitter = 2.0\n\
                [checks.w]\ntype = \"heartbeat\"\nttl = \"1h\"\ninterval = \"0s\"\n\
                [checks.db]\ntype = \"database\"\ndatasource = \"nope\"\n";
    let e = parse_str(text).unwrap_err();
    let ConfigError::Several { errors } = &e else {
        panic!("one error for three broken rules: {e}")
    };
    assert_eq!(errors.len(), 3, "{e}");
    let e = e.to_string();
    assert!(e.starts_with("3 problems:\n"), "{e}");
    for expected in [
        "test.toml:2:1: evaluator.jitter: must be within 0..=1",
        "test.toml:6:1: checks.w.interval: must be greater than zero",
        "test.toml:9:1: checks.db.datasource: datasource 'nope' is not defined",
    ] {
        assert!(e.contains(expected), "{expected} missing from:\n{e}");
    }
}

#[test]
fn bad_duration_names_the_key() {
    let text = "[checks.w]\ntype = \"heartbeat\"\nttl = \"soon\"\n";
    let e = parse_str(text).unwrap_err().to_string();
    assert!(e.starts_with("test.toml:3:"), "{e}");
    assert!(e.contains("checks.w"), "{e}");
    assert!(e.contains("soon"), "{e}");
}

#[test]
fn invalid_values_point_at_their_line_and_column() {
    let text = "[evaluator]\njitter = 0.1\nheartbeat = \"0s\"\n";
    let e = parse_str(text).unwrap_err().to_string();
    assert!(
        e.starts_with("test.toml:3:1: evaluator.heartbeat: must be greater than zero"),
        "{e}"
    );
    let text = "[checks.\"a.b\"]\ntype = \"heartbeat\"\nttl = \"1s\"\ninterval = \"0s\"\n";
    let e = parse_str(text).unwrap_err().to_string();
    assert!(
        e.starts_with("test.toml:4:1: checks.a.b.interval: must be greater than zero"),
        "{e}"
    );
}

#[test]
fn durations_are_read_in_human_units() {
    let cfg = parse_str(
        "[evaluator]\nheartbeat = \"250ms\"\nstale_after = \"20s\"\ndead_after = \"2m\"\n",
    )
    .unwrap();
    assert_eq!(cfg.evaluator.heartbeat, Duration::from_millis(250));
    assert_eq!(cfg.evaluator.stale_after, Duration::from_secs(20));
    assert_eq!(cfg.evaluator.dead_after, Duration::from_secs(120));
}

#[test]
fn token_is_read_from_the_environment_and_never_printed() {
    let var = "VITALS_TEST_CONFIG_TOKEN_7F3";
    temp_env(var, "tok-123", || {
        let cfg = parse_str(&format!("[http]\ntoken = \"${{{var}}}\"\n")).unwrap();
        assert_eq!(cfg.http.token.as_ref().unwrap().expose(), "tok-123");
        assert!(!format!("{cfg:?}").contains("tok-123"));
    });
}

#[test]
fn unset_environment_variable_is_reported_with_its_name_and_key() {
    let e = parse_str("[http]\ntoken = \"${VITALS_SURELY_UNSET_VAR}\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("VITALS_SURELY_UNSET_VAR") && e.contains("http.token"),
        "{e}"
    );
}

#[test]
fn thresholds_that_do_not_rise_are_rejected_with_the_section() {
    let e = parse_str("[backpressure.queue]\nwarning = 10.0\ncritical = 5.0\noverflow = 20.0\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("backpressure.queue") && e.contains("must rise"),
        "{e}"
    );
}

#[test]
fn heartbeat_not_shorter_than_stale_threshold_is_rejected() {
    let e = parse_str("[evaluator]\nheartbeat = \"20s\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("evaluator.heartbeat"), "{e}");
}

#[test]
fn invalid_toml_points_at_the_line() {
    let e = parse_str("[http]\nlisten = \n").unwrap_err().to_string();
    assert!(e.starts_with("test.toml:2:"), "{e}");
}

#[test]
fn unknown_check_type_is_rejected() {
    let e = parse_str("[checks.x]\ntype = \"carrier-pigeon\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("carrier-pigeon"), "{e}");
}

#[test]
fn an_unknown_or_missing_check_type_is_rejected_naming_every_type() {
    let e = parse_str("[checks.x]\ntype = \"carrier-pigeon\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("test.toml:2:1: checks.x.type: unknown check type \"carrier-pigeon\""),
        "{e}"
    );
    for kind in [
        "heartbeat",
        "plugin",
        "database",
        "pgmq",
        "sql_queue",
        "redis_queue",
    ] {
        assert!(
            e.contains(&format!("\"{kind}\"")),
            "{kind} missing from {e}"
        );
    }
    let e = parse_str("[checks.x]\ninterval = \"5s\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("test.toml:1:9: checks.x: missing `type`: one of"),
        "{e}"
    );
}

#[test]
fn a_bad_value_in_a_builtin_check_table_points_at_its_key() {
    let e = parse_str("[checks.q]\ntype = \"sql_queue\"\ndatasource = \"d\"\nquery = 5\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("test.toml:4:1: checks.q.query: "), "{e}");
    let e = parse_str("[checks.q]\ntype = \"database\"\ndatasource = \"d\"\nquery_ = \"x\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("checks.q") && e.contains("query_"), "{e}");
}

#[test]
fn datasource_url_with_an_unknown_scheme_is_rejected_without_its_password() {
    let e = parse_str("[datasources.orders]\nurl = \"postgress://app:hunter2@db/orders\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("test.toml:2:1: datasources.orders.url: unknown scheme 'postgress': use"),
        "{e}"
    );
    assert!(!e.contains("hunter2") && !e.contains('\n'), "{e}");
}

#[test]
fn datasource_url_with_an_impossible_port_is_rejected() {
    let e = parse_str("[datasources.orders]\nurl = \"postgres://app@db:99999/orders\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("test.toml:2:1: datasources.orders.url: invalid port number"),
        "{e}"
    );
}

#[test]
fn allow_http_rule_that_is_not_a_url_is_rejected_with_its_key() {
    let text = "[checks.p]\ntype = \"plugin\"\nfile = \"p.wasm\"\nallow_http = [\"not a url\"]\n";
    let e = parse_str(text).unwrap_err().to_string();
    assert!(
        e.starts_with("test.toml:4:1: checks.p.allow_http: \"not a url\": missing scheme"),
        "{e}"
    );
}

#[test]
fn empty_token_is_rejected_with_advice_to_remove_the_key() {
    let e = parse_str("[http]\ntoken = \"\"\n").unwrap_err().to_string();
    assert!(e.starts_with("test.toml:2:1: http.token: is empty"), "{e}");
    assert!(e.contains("remove the key"), "{e}");
}

#[test]
fn plugin_check_whose_file_does_not_exist_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("present.wasm");
    std::fs::write(&wasm, b"\0asm").unwrap();
    let table = |file: &Path| format!("[checks.p]\ntype = \"plugin\"\nfile = {:?}\n", file);
    parse_str(&table(&wasm)).unwrap();
    let missing = dir.path().join("absent.wasm");
    let e = parse_str(&table(&missing)).unwrap_err().to_string();
    assert!(e.starts_with("test.toml:3:1: checks.p.file: "), "{e}");
    assert!(e.contains("absent.wasm does not exist"), "{e}");
    // The embedded default leaves unbuilt shipped plugins out instead.
    parse_allowing_missing_plugin_files(&table(&missing), Path::new("test.toml")).unwrap();
}

#[test]
fn partial_tier_tables_take_the_other_keys_from_their_own_defaults() {
    let cfg = parse_str(
        "[backpressure.queue]\nwarning = 500.0\n[backpressure.channel]\nexit_ratio = 0.5\n\
         [backpressure.queue_age]\ncritical = \"10m\"\n",
    )
    .unwrap();
    let defaults = vitals::BackpressureConfig::default();
    let bp = &cfg.backpressure;
    assert_eq!(bp.queue.warning, 500.0);
    assert_eq!(
        (bp.queue.critical, bp.queue.overflow, bp.queue.exit_ratio),
        (
            defaults.queue.critical,
            defaults.queue.overflow,
            defaults.queue.exit_ratio
        )
    );
    assert_eq!(bp.channel.exit_ratio, 0.5);
    assert_eq!(
        (bp.channel.warning, bp.channel.critical, bp.channel.overflow),
        (
            defaults.channel.warning,
            defaults.channel.critical,
            defaults.channel.overflow
        )
    );
    assert_eq!(bp.queue_age.critical, Duration::from_secs(600));
    assert_eq!(bp.queue_age.overflow, defaults.queue_age.overflow);
}

#[test]
fn unordered_thresholds_are_rejected_naming_the_three_values() {
    for (text, key, values) in [
        (
            "[backpressure.channel]\nwarning = 90.0\n",
            "backpressure.channel",
            "warning 90, critical 80, overflow 95",
        ),
        // Unordered only together with the defaults of the keys left out.
        (
            "[backpressure.queue]\nwarning = 6000.0\n",
            "backpressure.queue",
            "warning 6000, critical 5000, overflow 10000",
        ),
        (
            "[backpressure.queue_age]\noverflow = \"10m\"\n",
            "backpressure.queue_age",
            "warning 5m, critical 15m, overflow 10m",
        ),
    ] {
        let e = parse_str(text).unwrap_err().to_string();
        assert!(e.starts_with(&format!("test.toml:1:15: {key}: ")), "{e}");
        assert!(e.contains(values) && e.contains("must rise"), "{e}");
    }
}

#[test]
fn exit_ratio_outside_zero_to_one_is_rejected() {
    for ratio in ["0.0", "1.5"] {
        let e = parse_str(&format!("[backpressure.queue]\nexit_ratio = {ratio}\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("backpressure.queue: exit_ratio must be within (0, 1]"),
            "{e}"
        );
    }
}

#[test]
fn duplicate_key_errors_name_the_key() {
    for (text, expected) in [
        (
            "[checks.w]\ntype = \"heartbeat\"\nttl = \"1s\"\nttl = \"2s\"\n",
            "test.toml:4:1: checks.w.ttl: duplicate key",
        ),
        (
            "[http]\n[evaluator]\n[http]\n",
            "test.toml:3:2: http: duplicate key",
        ),
        (
            "[checks.\"a.b\"]\ntype = \"heartbeat\"\nttl = \"1s\"\n[checks.\"a.b\"]\n",
            "test.toml:4:9: checks.a.b: duplicate key",
        ),
        (
            "[backpressure]\nqueue.warning = 1.0\nqueue.warning = 2.0\n",
            "test.toml:3:7: backpressure.queue.warning: duplicate key",
        ),
    ] {
        let e = parse_str(text).unwrap_err().to_string();
        assert!(e.starts_with(expected), "{e}");
    }
}

/// Run `f` with an environment variable set. Environment mutation is process-wide, so each test
/// uses its own variable name.
fn temp_env(name: &str, value: &str, f: impl FnOnce()) {
    #[allow(unsafe_code)]
    // SAFETY: the variable name is unique to one test, and no other thread reads it.
    unsafe {
        std::env::set_var(name, value)
    };
    f();
    #[allow(unsafe_code)]
    // SAFETY: as above.
    unsafe {
        std::env::remove_var(name)
    };
}

#[test]
fn grpc_listen_is_an_address_of_its_own() {
    let cfg = parse_str("[grpc]\nlisten = \"127.0.0.1:9001\"\n").unwrap();
    assert_eq!(cfg.grpc.listen, Some("127.0.0.1:9001".parse().unwrap()));
    let err = parse_str("[grpc]\nlisten = \"127.0.0.1:9000\"\n").unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("grpc.listen") && text.contains("port of its own"),
        "{text}"
    );
    let err = parse_str("[grpc]\nlisten = \"localhost\"\n").unwrap_err();
    assert!(err.to_string().contains("grpc.listen"), "{err}");
}
