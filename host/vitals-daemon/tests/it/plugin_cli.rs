//! `vitals plugin run` as a CI script sees it: the real binary on real guest components, with
//! one exit code per kind of result (0 pass, 10 warn, 11 fail or unknown, 12 trap or limit hit,
//! 13 load error; clap keeps 2 for usage errors).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use vitals::Status;
use vitals_daemon::{InspectArgs, RunArgs, RunExit, inspect, run_once};
use vitals_test_support::guests;
use vitals_wasm::ByteSize;

/// `vitals plugin run FILE ARGS...`: its exit code and what it printed. The user's cache
/// directory is a fresh one, never the real home's.
fn plugin_run(file: &Path, args: &[&str]) -> (i32, String) {
    let home = tempfile::tempdir().unwrap();
    plugin_run_cached(file, args, home.path())
}

/// `vitals plugin run FILE ARGS...` with `XDG_CACHE_HOME` set to `cache_home`.
fn plugin_run_cached(file: &Path, args: &[&str], cache_home: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vitals"))
        .args(["plugin", "run"])
        .arg(file)
        .args(args)
        .env("XDG_CACHE_HOME", cache_home)
        .output()
        .unwrap();
    (code(&out), printed(&out))
}

#[test]
fn plugin_run_caches_the_compiled_component_for_the_next_run_unless_told_not_to() {
    let home = tempfile::tempdir().unwrap();
    let noop = guests::component("noop");
    let cache = home.path().join("vitals/plugin-cache");
    let (code, first) = plugin_run_cached(&noop, &[], home.path());
    assert_eq!(code, 0, "{first}");
    assert!(first.contains("load:    compiled in"), "{first}");
    let artifacts = std::fs::read_dir(&cache).unwrap().count();
    assert!(artifacts >= 1, "nothing cached in {}", cache.display());
    let (code, second) = plugin_run_cached(&noop, &[], home.path());
    assert_eq!(code, 0, "{second}");
    assert!(second.contains("ms from the compile cache in"), "{second}");

    let other = tempfile::tempdir().unwrap();
    let (code, uncached) = plugin_run_cached(&noop, &["--no-cache"], other.path());
    assert_eq!(code, 0, "{uncached}");
    assert!(uncached.contains("(no cache)"), "{uncached}");
    assert!(
        !other.path().join("vitals").exists(),
        "--no-cache wrote a cache"
    );
}

#[test]
fn a_compile_that_takes_over_a_second_shows_its_progress_and_no_log_lines() {
    let home = tempfile::tempdir().unwrap();
    // StarlingMonkey: seconds of compiling.
    let out = Command::new(env!("CARGO_BIN_EXE_vitals"))
        .args(["plugin", "run"])
        .arg(guests::component("misbehave-js"))
        .arg("--no-cache")
        .env("XDG_CACHE_HOME", home.path())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("compiling ") && l.ends_with(" s so far)")),
        "{stderr}"
    );
    assert!(!stderr.contains("INFO"), "{stderr}");
}

#[test]
fn logs_are_coloured_on_a_terminal_unless_no_color_is_set() {
    let noop = guests::component("noop");
    let home = tempfile::tempdir().unwrap();
    // `script` runs the command on a pseudo-terminal; `-v` asks for the INFO lines.
    let on_a_terminal = |no_color: bool| {
        let command = format!(
            "{} plugin run -v {}",
            env!("CARGO_BIN_EXE_vitals"),
            noop.display()
        );
        let mut script = Command::new("script");
        script
            .args(["-qec", &command, "/dev/null"])
            .env("XDG_CACHE_HOME", home.path())
            .env_remove("RUST_LOG")
            .env_remove("NO_COLOR");
        if no_color {
            script.env("NO_COLOR", "1");
        }
        String::from_utf8_lossy(&script.output().unwrap().stdout).into_owned()
    };
    let coloured = on_a_terminal(false);
    assert!(
        coloured.contains("INFO") && coloured.contains('\u{1b}'),
        "{coloured}"
    );
    let plain = on_a_terminal(true);
    assert!(
        plain.contains("INFO") && !plain.contains('\u{1b}'),
        "{plain}"
    );
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited, not killed")
}

fn printed(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `sql-threshold` on an SQLite file, measuring `SELECT 90` against `bounds`.
fn threshold(dir: &Path, query: &str, bounds: &[&str]) -> (i32, String) {
    let db = format!("main=sqlite://{}", dir.join("x.db").display());
    let query = format!("query={query}");
    let mut args = vec!["--datasource", &db, "--config", "datasource=main"];
    args.extend(["--config", &query]);
    for bound in bounds {
        args.extend(["--config", bound]);
    }
    plugin_run(&guests::component("sql-threshold"), &args)
}

#[test]
fn a_passing_plugin_exits_0() {
    let (code, out) = plugin_run(&guests::component("noop"), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("status:  pass"), "{out}");
}

#[test]
fn a_warning_plugin_exits_10() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = threshold(dir.path(), "SELECT 90", &["warn_above=80"]);
    assert_eq!(code, 10, "{out}");
    assert!(out.contains("status:  warn"), "{out}");
}

#[test]
fn a_failing_plugin_exits_11_and_so_does_one_that_cannot_measure() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = threshold(dir.path(), "SELECT 90", &["warn_above=50", "fail_above=80"]);
    assert_eq!(code, 11, "{out}");
    assert!(out.contains("status:  fail"), "{out}");
    let (code, out) = threshold(dir.path(), "SELECT count(*) FROM no_such_table", &[]);
    assert_eq!(code, 11, "{out}");
    assert!(out.contains("status:  unknown"), "{out}");
}

#[test]
fn a_trap_or_a_limit_hit_exits_12() {
    let cases: [(&str, &[&str], &str); 5] = [
        ("panicker", &[], "trap: wasm `unreachable`"),
        (
            "spin-loop",
            &["--timeout", "200ms"],
            "deadline 200ms exceeded",
        ),
        (
            "memory-hog",
            &["--memory", "16MiB", "--config", "mib=64"],
            "memory limit 16 MiB exceeded",
        ),
        (
            "deep-recursion",
            &["--config", "depth=100000000"],
            "stack overflow",
        ),
        (
            "big-output",
            &["--config", "bytes=100000"],
            "output limit 4 KiB exceeded",
        ),
    ];
    for (guest, args, reason) in cases {
        let (code, out) = plugin_run(&guests::component(guest), args);
        assert_eq!(code, 12, "{guest}: {out}");
        assert!(out.contains(reason), "{guest}: {out}");
    }
}

#[test]
fn plugin_run_applies_a_manifest_under_the_command_line_and_refuses_a_bad_one_as_the_daemon_does() {
    let dir = tempfile::tempdir().unwrap();
    let hog = guests::component("memory-hog");
    let manifest = dir.path().join("hog.toml");
    std::fs::write(
        &manifest,
        "memory_limit = \"16MiB\"\n[config]\nmib = \"64\"\n",
    )
    .unwrap();
    let m = manifest.to_str().unwrap();
    // The manifest's limit and config value apply...
    let (code, out) = plugin_run(&hog, &["--manifest", m]);
    assert_eq!(code, 12, "{out}");
    assert!(out.contains("memory limit 16 MiB exceeded"), "{out}");
    // ...and the command line wins over them, key by key.
    let (code, out) = plugin_run(&hog, &["--manifest", m, "--config", "mib=4"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = plugin_run(&hog, &["--manifest", m, "--memory", "128MiB"]);
    assert_eq!(code, 0, "{out}");

    // A typo is refused before anything runs, with the file, line, column and key.
    std::fs::write(&manifest, "memory_limit = \"16MiB\"\nmemry = 3\n").unwrap();
    let (code, out) = plugin_run(&hog, &["--manifest", m]);
    assert_eq!(code, 13, "{out}");
    assert!(out.contains(&format!("plugin manifest {m}:2:1")), "{out}");
    assert!(out.contains("unknown field `memry`"), "{out}");
    let missing = dir.path().join("none.toml");
    let (code, out) = plugin_run(&hog, &["--manifest", missing.to_str().unwrap()]);
    assert_eq!(code, 13, "{out}");
    assert!(out.contains("none.toml: no such file"), "{out}");
}

#[test]
fn a_plugin_that_cannot_be_loaded_exits_13_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"\0asm not really").unwrap();
    let alien = dir.path().join("alien.wasm");
    // A component, in the binary format the loader takes, that implements no world of ours.
    std::fs::write(&alien, wat::parse_str("(component)").unwrap()).unwrap();
    let cases: [(PathBuf, &str); 4] = [
        (dir.path().join("missing.wasm"), "cannot read"),
        (garbage, "not a valid WebAssembly component"),
        (alien, "does not implement vitals:check/plugin"),
        (guests::component("trap-describe"), "describe() failed"),
    ];
    for (file, reason) in cases {
        let (code, out) = plugin_run(&file, &[]);
        assert_eq!(code, 13, "{}: {out}", file.display());
        assert!(out.contains(reason), "{}: {out}", file.display());
    }
}

#[test]
fn a_usage_error_exits_with_clap_s_2_apart_from_every_plugin_code() {
    let (code, out) = plugin_run(&guests::component("noop"), &["--no-such-flag"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        RunExit::ALL.iter().all(|e| i32::from(e.code()) != 2),
        "no plugin result shares the usage-error code"
    );
}

#[test]
fn help_lists_every_exit_code() {
    let out = Command::new(env!("CARGO_BIN_EXE_vitals"))
        .args(["plugin", "run", "--help"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0);
    let help = String::from_utf8_lossy(&out.stdout);
    for exit in RunExit::ALL {
        let line = format!("{:>2}  {}", exit.code(), exit.meaning());
        assert!(help.contains(&line), "{line:?} not in:\n{help}");
    }
}

#[test]
fn the_readme_lists_every_exit_code() {
    let readme = std::fs::read_to_string(guests::workspace_root().join("README.md")).unwrap();
    for exit in RunExit::ALL {
        let row = format!("| {} | {} |", exit.code(), exit.meaning());
        assert!(readme.contains(&row), "README lacks the row {row:?}");
    }
}

/// `vitals plugin inspect FILE`: its exit code and what it printed.
fn plugin_inspect(file: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vitals"))
        .args(["plugin", "inspect"])
        .arg(file)
        .output()
        .unwrap();
    (code(&out), printed(&out))
}

#[test]
fn inspect_lists_the_config_keys_a_plugin_declares_and_says_when_a_0_1_0_plugin_cannot() {
    let (code, out) = plugin_inspect(&guests::component("http-endpoint"));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("contract: vitals:check@0.2.0"), "{out}");
    assert!(
        out.contains("  url (required): URL to GET; granted with allow_http"),
        "{out}"
    );
    assert!(
        out.contains("  timeout_ms (default \"5000\"): Request timeout"),
        "{out}"
    );
    assert!(
        out.contains("  body_contains (optional): Text the body must contain"),
        "{out}"
    );

    let (code, out) = plugin_inspect(&guests::component("contract-v0-1"));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("contract: vitals:check@0.1.0"), "{out}");
    assert!(
        out.contains("config:  not declared (contract 0.1.0: any key is accepted)"),
        "{out}"
    );
    assert!(out.contains("vitals:check/host@0.1.0"), "{out}");
}

#[test]
fn plugin_run_refuses_a_misspelled_or_missing_config_key_by_name_before_running() {
    let (code, out) = plugin_run(&guests::component("big-output"), &["--config", "byts=10"]);
    assert_eq!(code, 13, "{out}");
    assert!(
        out.contains("unknown config key `byts` (did you mean `bytes`?); the plugin reads: bytes, details, detail_bytes"),
        "{out}"
    );
    let (code, out) = plugin_run(&guests::component("env-reader"), &[]);
    assert_eq!(code, 13, "{out}");
    assert!(
        out.contains("config key `var` is required (Environment variable to read) but not set"),
        "{out}"
    );
    // Left unset, an optional key takes its default (big-output's 1 MiB, over the output cap).
    let (code, out) = plugin_run(&guests::component("big-output"), &[]);
    assert_eq!(code, 12, "{out}");
    assert!(out.contains("output text is 1048576 bytes"), "{out}");
    // A 0.1.0 plugin declares nothing, so any key is accepted and reaches it.
    let (code, out) = plugin_run(
        &guests::component("contract-v0-1"),
        &["--config", "greeting=hello", "--config", "anything=goes"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("output:  0.1.0 says hello"), "{out}");
}

#[test]
fn a_huge_manifest_is_refused_without_reading_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("noop.toml");
    // Sparse: 4 GiB of nothing on disk; read whole, it would take 4 GiB of the host's memory.
    std::fs::File::create(&manifest)
        .unwrap()
        .set_len(4 << 30)
        .unwrap();
    let started = std::time::Instant::now();
    let (code, out) = plugin_run(
        &guests::component("noop"),
        &["--manifest", manifest.to_str().unwrap()],
    );
    assert_eq!(code, 13, "{out}");
    assert!(
        out.contains("noop.toml: larger than the 64 KiB a manifest may be"),
        "{out}"
    );
    // Bounded read: refused in well under the seconds 4 GiB would take.
    println!("refused in {:?}", started.elapsed());
    // Within the limit: a manifest of 60 KiB of comments is read.
    std::fs::write(&manifest, "# padding\n".repeat(6 * 1024)).unwrap();
    let (code, out) = plugin_run(
        &guests::component("noop"),
        &["--manifest", manifest.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}");
}

/// The same run in process: the summary the command prints.
#[tokio::test]
async fn plugin_run_prints_the_result_wall_time_and_peak_memory() {
    let args = RunArgs {
        file: guests::component("noop"),
        config: vec![],
        allow_http: vec![],
        read_dir: vec![],
        env: vec![],
        datasource: vec![],
        manifest: None,
        timeout: Some(Duration::from_secs(1)),
        memory: Some(ByteSize::mib(16)),
        cache_dir: None,
        no_cache: true,
    };
    let summary = run_once(&args).await.unwrap();
    assert_eq!(summary.outcome.status, Status::Pass);
    assert!(summary.peak_memory > 0);
    let text = summary.to_string();
    assert!(
        text.contains("status:  pass")
            && text.contains("wall time:")
            && text.contains("peak memory:")
            && text.contains("load:    compiled in"),
        "{text}"
    );
}

#[tokio::test]
async fn plugin_inspect_lists_the_world_exports_and_imports() {
    let info = inspect(&InspectArgs {
        file: guests::component("noop"),
    })
    .await
    .unwrap();
    assert!(
        info.exports.iter().any(|e| e == "check"),
        "{:?}",
        info.exports
    );
    assert!(
        info.exports.iter().any(|e| e == "describe"),
        "{:?}",
        info.exports
    );
    assert!(
        info.imports.iter().any(|i| i.starts_with("vitals:check/")),
        "{:?}",
        info.imports
    );
    assert!(info.to_string().contains("exports:"));
}
