//! `vitals plugin install`, `list` and `remove` as an author runs them, from a directory outside
//! the checkout, against a real `vitals serve`: validated manifest, both files in place
//! atomically, the daemon's first result (or its rejection) and an exit code for each; what is
//! installed, and taking it out again.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use vitals_test_support::http::{free_port, request, wait_for};
use vitals_test_support::{guests, wait};

use crate::support::process;
use crate::support::process::{plugin_dir_config, serve_config};

const TOKEN: &str = "install-secret";

/// `vitals plugin install ARGS...` run from `cwd`: exit code, stdout, stderr.
fn install(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    plugin(cwd, "install", args)
}

/// `vitals plugin install hog_check.wasm --manifest hog-check.toml --dir DIR EXTRA...` in the
/// author's project made by [`project`].
fn install_hog(cwd: &Path, dir: &str, extra: &[&str]) -> (i32, String, String) {
    let args = [
        "hog_check.wasm",
        "--manifest",
        "hog-check.toml",
        "--dir",
        dir,
    ];
    install(cwd, &[&args[..], extra].concat())
}

/// `vitals plugin COMMAND ARGS...` run from `cwd`: exit code, stdout, stderr. Its compile cache
/// (`install` checks the component before copying) is under `cwd`, never the real home's.
fn plugin(cwd: &Path, command: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vitals"))
        .current_dir(cwd)
        .args(["plugin", command])
        .args(args)
        .env("XDG_CACHE_HOME", cwd.join(".cache"))
        .env("VITALS_TOKEN", TOKEN)
        .output()
        .unwrap();
    (
        out.status.code().expect("exited, not killed"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An author's project directory holding `memory-hog` as `hog_check.wasm` (as cargo names a
/// Rust build) and the manifest `hog-check.toml`.
fn project(manifest: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        guests::component("memory-hog"),
        dir.path().join("hog_check.wasm"),
    )
    .unwrap();
    std::fs::write(dir.path().join("hog-check.toml"), manifest).unwrap();
    dir
}

/// A ready `vitals serve` with an empty plugin directory: its temp dir, the daemon, the plugin
/// directory and the address.
fn ready_daemon() -> (tempfile::TempDir, process::Daemon, PathBuf, SocketAddr) {
    let dir = tempfile::tempdir().unwrap();
    let (config, plugins) = plugin_dir_config(dir.path());
    let addr = free_port();
    let daemon = serve_config(&config, addr, ("START_TOKEN", TOKEN));
    wait_for(addr, "/health/ready", 200, wait::START);
    (dir, daemon, plugins, addr)
}

#[test]
fn install_puts_both_files_in_place_and_prints_the_daemon_s_first_result_of_that_exact_file() {
    let (_dir, _daemon, plugins, addr) = ready_daemon();
    let url = format!("http://{addr}");
    let dir_arg = plugins.to_str().unwrap();

    let author = project("[config]\nmib = \"4\"\n");
    let args = ["--daemon", &url];
    let (code, out, err) = install_hog(author.path(), dir_arg, &args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("first result: pass: allocated 4 MiB"),
        "{out}{err}"
    );
    assert!(plugins.join("hog-check.wasm").is_file());
    assert_eq!(
        std::fs::read_to_string(plugins.join("hog-check.toml")).unwrap(),
        "[config]\nmib = \"4\"\n"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&plugins)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // A new manifest over the same component: the daemon reloads it, and the result printed is
    // the one under the new settings, not the previous version's.
    std::fs::write(
        author.path().join("hog-check.toml"),
        "memory_limit = \"16MiB\"\n[config]\nmib = \"64\"\n",
    )
    .unwrap();
    let (code, out, err) = install_hog(author.path(), dir_arg, &args);
    assert_eq!(code, 11, "{out}{err}");
    assert!(
        out.contains("first result: fail: memory limit 16 MiB exceeded"),
        "{out}{err}"
    );
    let (_, _, status) = request(addr, "GET", "/health/checks/hog-check", Some(TOKEN)).unwrap();
    assert!(status.contains("memory limit 16 MiB exceeded"), "{status}");
}

#[test]
fn a_component_that_would_not_load_is_refused_with_exit_13_before_anything_is_copied() {
    let plugins = tempfile::tempdir().unwrap();
    let author = tempfile::tempdir().unwrap();
    // A core module, not a component: WebAssembly, but not a plugin.
    std::fs::write(author.path().join("core.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let (code, out, err) = install(
        author.path(),
        &["core.wasm", "--dir", plugins.path().to_str().unwrap()],
    );
    assert_eq!(code, 13, "{out}{err}");
    assert!(
        err.contains("error: refused before copying: ") && err.contains("component"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(plugins.path()).unwrap().count(), 0);
}

#[test]
fn a_bad_manifest_or_a_file_that_is_not_webassembly_is_refused_before_anything_is_copied() {
    let plugins = tempfile::tempdir().unwrap();
    let dir_arg = plugins.path().to_str().unwrap();
    let author = project("memory_limit = \"16MiB\"\nmemry = 3\n");
    let (code, out, err) = install_hog(author.path(), dir_arg, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("plugin manifest hog-check.toml:2:1") && err.contains("unknown field `memry`"),
        "{err}"
    );

    std::fs::write(author.path().join("notes.wasm"), "not wasm").unwrap();
    let (code, _, err) = install(author.path(), &["notes.wasm", "--dir", dir_arg]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("notes.wasm: not a WebAssembly file"), "{err}");
    let (code, _, err) = install(
        author.path(),
        &["hog_check.wasm", "--name", "no/slash", "--dir", dir_arg],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("check name \"no/slash\""), "{err}");

    assert_eq!(std::fs::read_dir(plugins.path()).unwrap().count(), 0);
}

/// The rejection of check `name` as `/plugins`, the status notes and the metrics show it.
fn rejection_everywhere(addr: SocketAddr, name: &str) -> (bool, bool, bool) {
    let (_, _, plugins) = request(addr, "GET", "/plugins", Some(TOKEN)).unwrap();
    let plugins: serde_json::Value = serde_json::from_str(&plugins).unwrap();
    let entry = plugins
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .cloned()
        .unwrap_or_default();
    let (_, _, status) = request(addr, "GET", "/health/status", Some(TOKEN)).unwrap();
    let (_, _, metrics) = request(addr, "GET", "/metrics", Some(TOKEN)).unwrap();
    (
        !entry["rejected"].is_null(),
        status.contains(&format!("plugin '{name}': ")) && status.contains("rejected at"),
        metrics.contains(&format!("vitals_plugin_rejected{{plugin=\"{name}\"}} 1")),
    )
}

#[test]
fn reinstalling_the_running_version_after_a_bad_manifest_answers_at_once_and_withdraws_any_rejection()
 {
    let (_dir, _daemon, plugins, addr) = ready_daemon();
    let url = format!("http://{addr}");
    let dir_arg = plugins.to_str().unwrap();
    let good = "[config]\nmib = \"4\"\n";
    let author = project(good);
    // A hang fails this test after a minute, not after the 5-minute default.
    let args = ["--daemon", &url, "--wait", "60s"];
    let (code, out, err) = install_hog(author.path(), dir_arg, &args);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        rejection_everywhere(addr, "hog-check"),
        (false, false, false)
    );

    // The author's first ordinary mistake: a config key the plugin does not declare. Refused
    // before anything is copied, naming the key meant; the directory keeps the good files.
    std::fs::write(
        author.path().join("hog-check.toml"),
        "[config]\nmib = \"4\"\nmibs = \"8\"\n",
    )
    .unwrap();
    let (code, out, err) = install_hog(author.path(), dir_arg, &args);
    assert_eq!(code, 13, "{out}{err}");
    assert!(
        err.contains("refused before copying: hog_check.wasm: unknown config key `mibs` (did you mean `mib`?)"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(plugins.join("hog-check.toml")).unwrap(),
        good
    );

    // Fixed: the same files as the running version. The daemon loads nothing and says so.
    std::fs::write(author.path().join("hog-check.toml"), good).unwrap();
    let (code, out, err) = install_hog(author.path(), dir_arg, &args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("already running: the daemon runs these files (version ")
            && out.contains("last result: pass: allocated 4 MiB"),
        "{out}{err}"
    );

    // The same mistake copied by hand into the directory: the daemon rejects it, and installing
    // the good files again answers at once and withdraws the rejection everywhere it was shown.
    std::fs::write(
        plugins.join("hog-check.toml"),
        "[config]\nmib = \"4\"\nmibs = \"8\"\n",
    )
    .unwrap();
    wait::until(
        "the daemon rejects the copied manifest",
        wait::START,
        || match rejection_everywhere(addr, "hog-check") {
            (true, true, true) => Ok(()),
            shown => Err(format!("{shown:?}")),
        },
    );
    let (code, out, err) = install_hog(author.path(), dir_arg, &args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("already running"), "{out}{err}");
    assert_eq!(
        rejection_everywhere(addr, "hog-check"),
        (false, false, false)
    );

    // The same files once more: still an immediate answer, nothing reloaded.
    let (code, out, err) = install_hog(author.path(), dir_arg, &args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("already running"), "{out}{err}");
}

#[test]
fn list_shows_what_is_installed_and_remove_takes_it_out_of_the_directory_and_the_daemon() {
    let (_dir, _daemon, plugins, addr) = ready_daemon();
    let url = format!("http://{addr}");
    let dir_arg = plugins.to_str().unwrap();
    let author = project("[config]\nmib = \"4\"\n");
    let (code, out, err) = install_hog(author.path(), dir_arg, &["--daemon", &url]);
    assert_eq!(code, 0, "{out}{err}");

    let (code, out, err) = plugin(author.path(), "list", &["--dir", dir_arg]);
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{out}");
    assert!(
        lines[1].starts_with("hog-check") && lines[1].contains("installed"),
        "{out}"
    );
    assert!(err.is_empty(), "no log lines unless asked: {err}");

    let (code, out, err) = plugin(author.path(), "list", &["--daemon", &url]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("running") && out.contains("pass: allocated 4 MiB"),
        "{out}"
    );
    let (code, out, err) = plugin(author.path(), "list", &["--daemon", &url, "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows[0]["name"], "hog-check", "{out}");
    assert_eq!(rows[0]["state"], "running", "{out}");
    assert!(rows[0]["version"].is_string(), "{out}");
    assert!(
        rows[0]["manifest"]
            .as_str()
            .is_some_and(|m| m.ends_with("hog-check.toml")),
        "{out}"
    );

    // Durations as people read them: whole microseconds, no float noise.
    let (_, _, check) = request(addr, "GET", "/health/checks/hog-check", Some(TOKEN)).unwrap();
    let check: serde_json::Value = serde_json::from_str(&check).unwrap();
    for value in [&check["durationMs"], &check["details"]["run_ms"]] {
        let text = value.to_string();
        let decimals = text.split_once('.').map_or(0, |(_, d)| d.len());
        assert!(value.is_f64() && decimals <= 3, "{text} in {check}");
    }

    // A typo is refused, naming the plugin meant; nothing is removed.
    let (code, out, err) = plugin(author.path(), "remove", &["hog-chek", "--dir", dir_arg]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("did you mean \"hog-check\"?"), "{err}");
    assert!(plugins.join("hog-check.wasm").is_file());

    let (code, out, err) = plugin(
        author.path(),
        "remove",
        &["hog-check", "--dir", dir_arg, "--daemon", &url],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("hog-check.wasm and ") && out.contains("the daemon no longer runs it"),
        "{out}"
    );
    assert_eq!(std::fs::read_dir(&plugins).unwrap().count(), 0);
    let (_, _, listed) = request(addr, "GET", "/plugins", Some(TOKEN)).unwrap();
    assert!(!listed.contains("hog-check"), "{listed}");
    let (code, out, _) = plugin(author.path(), "list", &["--dir", dir_arg]);
    assert_eq!((code, out.trim()), (0, "no plugins"));
}

#[test]
fn a_manifest_named_unlike_its_component_is_refused_with_the_fix_unless_name_chooses() {
    let plugins = tempfile::tempdir().unwrap();
    let dir_arg = plugins.path().to_str().unwrap();
    let author = project("[config]\nmib = \"4\"\n");
    std::fs::rename(
        author.path().join("hog-check.toml"),
        author.path().join("hog.toml"),
    )
    .unwrap();
    let args = ["hog_check.wasm", "--manifest", "hog.toml", "--dir", dir_arg];
    let (code, out, err) = install(author.path(), &args);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("the manifest hog.toml names check \"hog\", the component hog_check.wasm names check \"hog-check\"")
            && err.contains("--name hog"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(plugins.path()).unwrap().count(), 0);

    let (code, out, err) = install(author.path(), &[&args[..], &["--name", "hog"]].concat());
    assert_eq!(code, 0, "{out}{err}");
    assert!(plugins.path().join("hog.wasm").is_file());
    assert!(plugins.path().join("hog.toml").is_file());
}
