//! `vitals validate FILE` as an operator runs it: one line on stderr naming what is wrong.
use std::path::Path;
use std::process::Command;

/// Run `vitals validate FILE`; (success, stdout, stderr).
fn validate(file: &Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vitals"))
        .arg("validate")
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_missing_file_is_reported_with_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("absent.toml");
    let (ok, _, stderr) = validate(&file);
    assert!(!ok, "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "error: {}: cannot read: No such file or directory (os error 2)",
            file.display()
        )
    );
}

#[test]
fn a_misspelt_datasource_scheme_is_one_line_naming_file_line_column_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vitals.toml");
    std::fs::write(
        &file,
        "[datasources.orders]\nurl = \"postgress://app:hunter2@db:5432/orders\"\n",
    )
    .unwrap();
    let (ok, _, stderr) = validate(&file);
    assert!(!ok, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let expected = format!(
        "error: {}:2:1: datasources.orders.url: unknown scheme 'postgress'",
        file.display()
    );
    assert!(stderr.starts_with(&expected), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn a_valid_file_is_reported_ok() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vitals.toml");
    std::fs::write(&file, "[backpressure.queue]\nwarning = 500.0\n").unwrap();
    let (ok, stdout, stderr) = validate(&file);
    assert!(ok, "{stderr}");
    assert!(stdout.contains(": ok (0 checks)"), "{stdout}");
}
