//! `vitals plugin install` as an author runs it, from a directory outside the checkout, against
//! a real `vitals serve`: validated manifest, both files in place atomically, the daemon's first
//! result (or its rejection) and an exit code for each.

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
    let out = Command::new(env!("CARGO_BIN_EXE_vitals"))
        .current_dir(cwd)
        .args(["plugin", "install"])
        .args(args)
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
    let args = [
        "hog_check.wasm",
        "--manifest",
        "hog-check.toml",
        "--dir",
        dir_arg,
        "--daemon",
        &url,
    ];
    let (code, out, err) = install(author.path(), &args);
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
    let (code, out, err) = install(author.path(), &args);
    assert_eq!(code, 11, "{out}{err}");
    assert!(
        out.contains("first result: fail: memory limit 16 MiB exceeded"),
        "{out}{err}"
    );
    let (_, _, status) = request(addr, "GET", "/health/checks/hog-check", Some(TOKEN)).unwrap();
    assert!(status.contains("memory limit 16 MiB exceeded"), "{status}");
}

#[test]
fn a_component_the_daemon_rejects_exits_13_with_the_daemon_s_reason() {
    let (_dir, _daemon, plugins, addr) = ready_daemon();

    let author = tempfile::tempdir().unwrap();
    // A core module, not a component: WebAssembly, but not a plugin.
    std::fs::write(author.path().join("core.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let url = format!("http://{addr}");
    let (code, out, err) = install(
        author.path(),
        &[
            "core.wasm",
            "--dir",
            plugins.to_str().unwrap(),
            "--daemon",
            &url,
        ],
    );
    assert_eq!(code, 13, "{out}{err}");
    assert!(err.contains("error: rejected by the daemon: "), "{err}");
}

#[test]
fn a_bad_manifest_or_a_file_that_is_not_webassembly_is_refused_before_anything_is_copied() {
    let plugins = tempfile::tempdir().unwrap();
    let dir_arg = plugins.path().to_str().unwrap();
    let author = project("memory_limit = \"16MiB\"\nmemry = 3\n");
    let (code, out, err) = install(
        author.path(),
        &[
            "hog_check.wasm",
            "--manifest",
            "hog-check.toml",
            "--dir",
            dir_arg,
        ],
    );
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
