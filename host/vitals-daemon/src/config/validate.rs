//! Rules a parsed config must follow beyond its types: ranges, orderings, references between
//! tables, and URLs and files that must make sense. Each refusal names the key and says why.

use std::path::Path;

use super::{CheckConfig, Config};
use vitals_config::document::{self as error, ConfigError};

/// The rules on the file's values (nothing on disk is looked at): every value that breaks one is
/// pushed to `errors`, in the order the rules run, so one round of fixes can address them all.
pub(super) fn values(cfg: &Config, text: &str, file: &Path, errors: &mut Vec<ConfigError>) {
    let invalid = |key: &str, message: String| error::invalid(text, file, key, message);
    if let Err((key, message)) = cfg.backpressure.validate() {
        errors.push(invalid(key, message));
    }
    if cfg
        .http
        .token
        .as_ref()
        .is_some_and(|t| t.expose().trim().is_empty())
    {
        errors.push(invalid(
            "http.token",
            "is empty, which no request can present, so every detail endpoint would be locked: \
             remove the key to leave details open, or set a token"
                .to_owned(),
        ));
    }
    evaluator(cfg, &invalid, errors);
    if let Some(grpc) = cfg.grpc.listen
        && grpc.port() != 0
        && grpc == cfg.http.listen
    {
        errors.push(invalid(
            "grpc.listen",
            format!("{grpc} is already http.listen; gRPC needs a port of its own"),
        ));
    }
    for (name, ds) in &cfg.datasources {
        if let Err(m) = vitals_sql::check_url(ds.url.expose()) {
            errors.push(invalid(&format!("datasources.{name}.url"), m));
        }
    }
    for (name, check) in &cfg.checks {
        check_table(cfg, name, check, &invalid, errors);
    }
}

fn evaluator(
    cfg: &Config,
    invalid: &impl Fn(&str, String) -> ConfigError,
    errors: &mut Vec<ConfigError>,
) {
    let ev = &cfg.evaluator;
    if !(0.0..=1.0).contains(&ev.jitter) {
        errors.push(invalid(
            "evaluator.jitter",
            format!("must be within 0..=1, got {}", ev.jitter),
        ));
    }
    if ev.max_concurrency == 0 {
        errors.push(invalid(
            "evaluator.max_concurrency",
            "must be at least 1".to_owned(),
        ));
    }
    for (key, value) in [
        ("plugins.debounce", cfg.plugins.debounce),
        ("plugins.debounce_max", cfg.plugins.debounce_max),
        ("plugins.rescan", cfg.plugins.rescan),
    ] {
        if value.is_zero() {
            errors.push(invalid(key, "must be greater than zero".to_owned()));
        }
    }
    if ev.heartbeat.is_zero() {
        errors.push(invalid(
            "evaluator.heartbeat",
            "must be greater than zero".to_owned(),
        ));
    }
    if ev.heartbeat >= ev.stale_after {
        errors.push(invalid(
            "evaluator.heartbeat",
            "must be shorter than evaluator.stale_after, or a healthy evaluator reads as stale"
                .to_owned(),
        ));
    }
    if ev.stale_after > ev.dead_after {
        errors.push(invalid(
            "evaluator.dead_after",
            "must not be shorter than evaluator.stale_after".to_owned(),
        ));
    }
}

fn check_table(
    cfg: &Config,
    name: &str,
    check: &CheckConfig,
    invalid: &impl Fn(&str, String) -> ConfigError,
    errors: &mut Vec<ConfigError>,
) {
    let key = format!("checks.{name}");
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        errors.push(invalid(
            &key,
            "check names use letters, digits, '-', '_' and '.' only".to_owned(),
        ));
    }
    let common = check.common();
    if common.interval.is_some_and(|d| d.is_zero()) {
        errors.push(invalid(
            &format!("{key}.interval"),
            "must be greater than zero".to_owned(),
        ));
    }
    if common.timeout.is_some_and(|d| d.is_zero()) {
        errors.push(invalid(
            &format!("{key}.timeout"),
            "must be greater than zero".to_owned(),
        ));
    }
    let mut datasources: Vec<(String, String)> = Vec::new();
    if let Some(ds) = check
        .builtin()
        .and_then(|b| b.datasource().map(str::to_owned))
    {
        datasources.push((format!("{key}.datasource"), ds));
    }
    if let CheckConfig::Plugin(p) = check {
        if p.file.is_none() && cfg.plugins.dir.is_none() {
            errors.push(invalid(
                &format!("{key}.file"),
                "missing: set file = \"path/to/plugin.wasm\", or set [plugins] dir to load \
                 NAME.wasm from there"
                    .to_owned(),
            ));
        }
        datasources.extend(
            p.datasources
                .iter()
                .flatten()
                .map(|d| (format!("{key}.datasources"), d.clone())),
        );
    }
    for (field, ds) in datasources {
        if !cfg.datasources.contains_key(&ds) {
            errors.push(invalid(
                &field,
                format!("datasource '{ds}' is not defined under [datasources]"),
            ));
        }
    }
    if common.failures_before_fail == Some(0) || common.successes_before_pass == Some(0) {
        errors.push(invalid(
            &key,
            "failures_before_fail and successes_before_pass must be at least 1".to_owned(),
        ));
    }
}

/// A plugin check's `file` must be there: a typo would otherwise only show as a rejected plugin
/// once the daemon runs. (A check without `file` loads `NAME.wasm` from the watched directory,
/// which may legitimately arrive later.)
pub(super) fn plugin_files(cfg: &Config, text: &str, file: &Path, errors: &mut Vec<ConfigError>) {
    for (name, check) in &cfg.checks {
        let CheckConfig::Plugin(p) = check else {
            continue;
        };
        let Some(wasm) = &p.file else { continue };
        let problem = match std::fs::metadata(wasm) {
            Ok(meta) if meta.is_file() => continue,
            Ok(_) => format!("{} is not a file", wasm.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => format!(
                "{} does not exist (a relative path is taken from the working directory): fix \
                 the path or build the plugin",
                wasm.display()
            ),
            Err(e) => format!("cannot read {}: {e}", wasm.display()),
        };
        errors.push(error::invalid(
            text,
            file,
            &format!("checks.{name}.file"),
            problem,
        ));
    }
}
