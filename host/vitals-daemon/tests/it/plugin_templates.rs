//! `vitals plugin new` for every language, the way the README walks a newcomer through it, from a
//! directory outside the checkout: create the project, run its own tests (the check and its glue
//! against a fake host), build the component, run it once with `vitals plugin run --manifest`,
//! then install it into a running daemon with `vitals plugin install --daemon` and see it live.
//! Then the mistakes a newcomer makes: a misspelled config key (refused by name), an exception
//! in Python (its traceback line in the reason), a build that fails (no component left).
//!
//! No package manager runs here: the JavaScript and Python projects use the checkout's pinned
//! toolchains (tools/js, tools/python, installed by the test command), linked in as their
//! `node_modules` and `.venv` after checking that the project pins the same versions; the Rust
//! project builds against this checkout's guest SDK with the workspace's lock file, into
//! `target/templates/cargo`.

use std::path::{Path, PathBuf};
use std::process::Command;

use vitals_test_support::http::{free_port, wait_for};
use vitals_test_support::{guests, wait};

use crate::support::process::serve_config;

const VITALS: &str = env!("CARGO_BIN_EXE_vitals");

/// Run `cmd` in `dir`; panic with its output unless it succeeds. Returns stdout.
fn run(dir: &Path, cmd: &mut Command) -> String {
    run_exiting(dir, cmd, 0)
}

/// Run `cmd` in `dir`; panic with its output unless it exits with `code`. Returns stdout.
fn run_exiting(dir: &Path, cmd: &mut Command, code: i32) -> String {
    let out = cmd
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{cmd:?} in {}:\n{stdout}\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A fresh project directory outside the checkout; `vitals plugin new` creates it.
fn new_project(lang: &str, name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    assert!(
        !tmp.path().starts_with(guests::workspace_root()),
        "the temp dir is inside the checkout"
    );
    let dir = tmp.path().join(name);
    let printed = run(
        tmp.path(),
        Command::new(VITALS)
            .args(["plugin", "new", "--lang", lang, name, "--dir"])
            .arg(&dir),
    );
    assert!(printed.contains("next:"), "{printed}");
    (tmp, dir)
}

/// `vitals plugin run FILE --manifest NAME.toml ARGS...` in the project, as the README shows.
/// Compiles into the project's cache, which the daemon then uses, so a big component is compiled
/// once. Returns what it printed (stdout and stderr).
fn plugin_run(wasm: &Path, name: &str, args: &[&str], code: i32) -> String {
    let project = wasm.parent().unwrap();
    let out = Command::new(VITALS)
        .current_dir(project)
        .args(["plugin", "run", "--manifest", &format!("{name}.toml")])
        .args(["--timeout", "10s", "--cache-dir"])
        .arg(cache_dir(project))
        .args(args)
        .arg(wasm)
        .output()
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(code),
        "plugin run {args:?}: {printed}"
    );
    printed
}

/// The template's check with its manifest and `--config value=90` warns above 80 (exit 10); a
/// misspelled key is refused before the run, naming it and the keys that exist (exit 13).
fn run_once_warns_and_refuses_a_typo(wasm: &Path, name: &str) {
    let printed = plugin_run(wasm, name, &["--config", "value=90"], 10);
    assert!(printed.contains("status:  warn"), "{printed}");
    assert!(printed.contains("90 is above 80"), "{printed}");
    let printed = plugin_run(wasm, name, &["--config", "vaule=90"], 13);
    assert!(
        printed.contains(
            "unknown config key `vaule` (did you mean `value`?); the plugin reads: value, warn_above, fail_above"
        ),
        "{printed}"
    );
}

/// The compile cache of a project's runs. Not the shared test cache: the daemon prunes its cache
/// of components it no longer has.
fn cache_dir(project: &Path) -> PathBuf {
    xdg_cache_home(project).join("vitals/plugin-cache")
}

/// The `XDG_CACHE_HOME` the project's commands run with: `vitals plugin install` checks the
/// component in `$XDG_CACHE_HOME/vitals/plugin-cache`, which is [`cache_dir`], so it finds what
/// `plugin run` compiled (and never touches the real home's cache).
fn xdg_cache_home(project: &Path) -> PathBuf {
    project.join(".cache")
}

/// Install `wasm` and its manifest into a running daemon with `vitals plugin install`, as the
/// README shows: the first result is the manifest's config (value 42: pass).
fn goes_live_in_the_daemon(project: &Path, name: &str, wasm: &Path) {
    let work = tempfile::tempdir_in(project).unwrap();
    let plugins = work.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let config = work.path().join("vitals.toml");
    std::fs::write(
        &config,
        format!(
            "[service]\ndata_dir = {data:?}\n\n[plugins]\ndir = {plugins:?}\ncache_dir = {cache:?}\n",
            data = work.path().join("data"),
            cache = cache_dir(project),
        ),
    )
    .unwrap();
    let addr = free_port();
    let _daemon = serve_config(&config, addr, ("RUST_LOG", "warn"));
    wait_for(addr, "/health/live", 200, wait::START);

    // As the README says: one command, which waits for the compile (12 MB for JavaScript and
    // Python) and prints the first result.
    let url = format!("http://{addr}");
    let out = run(
        project,
        Command::new(VITALS)
            .env("XDG_CACHE_HOME", xdg_cache_home(project))
            .args(["plugin", "install"])
            .arg(wasm)
            .args(["--manifest", &format!("{name}.toml"), "--dir"])
            .arg(&plugins)
            .args(["--daemon", &url]),
    );
    assert!(out.contains("first result: pass: 42 is fine"), "{out}");
}

#[test]
fn rust_template_tests_builds_runs_and_goes_live() {
    let (_tmp, dir) = new_project("rust", "disk-quota");
    // The workspace's lock file pins the same dependency versions the guest SDK is tested with.
    std::fs::copy(
        guests::workspace_root().join("Cargo.lock"),
        dir.join("Cargo.lock"),
    )
    .unwrap();
    let target = guests::workspace_root().join("target/templates/cargo");
    // As an author runs it: without the clippy wrapper scripts/test.sh builds this workspace with.
    let cargo = |args: &[&str]| {
        let mut c = Command::new("cargo");
        c.args(args)
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .env_remove("CLIPPY_ARGS");
        c
    };
    run(&dir, &mut cargo(&["test"]));
    run(
        &dir,
        &mut cargo(&["build", "--release", "--target", "wasm32-wasip2"]),
    );
    let wasm = dir.join("disk_quota.wasm");
    std::fs::copy(target.join("wasm32-wasip2/release/disk_quota.wasm"), &wasm).unwrap();
    run_once_warns_and_refuses_a_typo(&wasm, "disk-quota");
    goes_live_in_the_daemon(&dir, "disk-quota", &wasm);
}

/// The checkout's pinned toolchain in `tools/NAME`, after checking that it was installed.
fn pinned_toolchain(name: &str, installed: &str) -> PathBuf {
    let tools = guests::workspace_root().join("tools").join(name);
    assert!(
        tools.join(installed).exists(),
        "{} is missing: install the pinned toolchains with `bash scripts/toolchains.sh` \
         (the test command does)",
        tools.join(installed).display()
    );
    tools
}

/// Give the JavaScript project in `dir` what `npm install` would: the pinned toolchain's
/// `node_modules`, once its `devDependencies` are the same pins.
fn link_js_toolchain(dir: &Path) {
    let tools = pinned_toolchain("js", "node_modules/.bin/jco");
    let pins = |dir: &Path| {
        let text = std::fs::read_to_string(dir.join("package.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["devDependencies"].clone()
    };
    assert_eq!(
        pins(dir),
        pins(&tools),
        "the template pins other versions than tools/js"
    );
    std::os::unix::fs::symlink(tools.join("node_modules"), dir.join("node_modules")).unwrap();
}

/// Give the Python project in `dir` what a venv with its requirements would be: the pinned
/// toolchain's `.venv`, once `requirements.txt` pins the same versions.
fn link_python_toolchain(dir: &Path) {
    let tools = pinned_toolchain("python", ".venv/bin/componentize-py");
    let pins = |dir: &Path| {
        let text = std::fs::read_to_string(dir.join("requirements.txt")).unwrap();
        let mut pins: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect();
        pins.sort();
        pins
    };
    assert_eq!(
        pins(dir),
        pins(&tools),
        "the template pins other versions than tools/python"
    );
    std::os::unix::fs::symlink(tools.join(".venv"), dir.join(".venv")).unwrap();
}

#[test]
fn javascript_template_tests_builds_with_both_engines_runs_and_goes_live() {
    let (_tmp, dir) = new_project("js", "queue-lag");
    link_js_toolchain(&dir);
    run(&dir, Command::new("npm").arg("test"));
    let wasm = dir.join("queue-lag.wasm");

    run(&dir, Command::new("npm").args(["run", "build:quickjs"]));
    run_once_warns_and_refuses_a_typo(&wasm, "queue-lag");

    run(&dir, Command::new("npm").args(["run", "build"]));
    run_once_warns_and_refuses_a_typo(&wasm, "queue-lag");
    goes_live_in_the_daemon(&dir, "queue-lag", &wasm);

    // A build that fails leaves no component, so the last good one cannot be installed by
    // mistake.
    fails_to_build_leaving_no_component(
        &dir,
        "plugin.js",
        Command::new("npm").args(["run", "build:quickjs"]),
        &wasm,
    );
}

/// Break `glue` with a syntax error and build with `build`: it must fail and leave no `wasm`.
fn fails_to_build_leaving_no_component(dir: &Path, glue: &str, build: &mut Command, wasm: &Path) {
    let path = dir.join(glue);
    let good = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{good}\n)(\n")).unwrap();
    let out = build.current_dir(dir).output().unwrap();
    assert!(!out.status.success(), "{build:?} built a broken {glue}");
    assert!(
        !wasm.exists(),
        "{} is still there after a failed build",
        wasm.display()
    );
    std::fs::write(&path, good).unwrap();
}

#[test]
fn python_template_tests_builds_runs_and_goes_live() {
    let (_tmp, dir) = new_project("python", "batch-age");
    link_python_toolchain(&dir);
    run(
        &dir,
        Command::new(".venv/bin/python").args(["-m", "unittest"]),
    );
    run(&dir, &mut Command::new("./build.sh"));
    let wasm = dir.join("batch-age.wasm");
    run_once_warns_and_refuses_a_typo(&wasm, "batch-age");
    goes_live_in_the_daemon(&dir, "batch-age", &wasm);

    // A bug in the check: the run fails with the exception and the traceback line that raised it.
    let check = dir.join("check.py");
    let good = std::fs::read_to_string(&check).unwrap();
    std::fs::write(
        &check,
        good.replace(
            "    if value > fail_above:",
            "    raise RuntimeError(\"deliberate bug\")\n    if value > fail_above:",
        ),
    )
    .unwrap();
    run(&dir, &mut Command::new("./build.sh"));
    let printed = plugin_run(&wasm, "batch-age", &[], 12);
    assert!(
        printed.contains("RuntimeError: deliberate bug"),
        "{printed}"
    );
    assert!(printed.contains("check.py\", line "), "{printed}");
    assert!(printed.contains("in evaluate"), "{printed}");
    std::fs::write(&check, good).unwrap();

    fails_to_build_leaving_no_component(&dir, "app.py", &mut Command::new("./build.sh"), &wasm);
}
