//! Guest components for host tests: `component("noop")` builds every guest once per test process
//! (scripts/build-guests.sh; a no-op taking about a second when nothing changed) and returns the
//! path of `target/components/noop.wasm`.
//!
//! Use it from a test file with `#[path = "support/guests.rs"] mod guests;`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root (the host crate's parent directory).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host crate has a parent directory")
        .to_path_buf()
}

/// The component built from the guest package `name` (e.g. "noop", "http-endpoint"), building
/// all guests first if this process has not done so yet. Panics with the build's output if the
/// build fails or there is no such guest.
pub fn component(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(output) = BUILT.get_or_init(build_all) {
        panic!("scripts/build-guests.sh failed:\n{output}");
    }
    let path = workspace_root()
        .join("target/components")
        .join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "no guest component {name:?} at {} (package names under plugins/ and tests/guests/)",
        path.display()
    );
    path
}

fn build_all() -> Result<(), String> {
    let root = workspace_root();
    let output = Command::new(root.join("scripts/build-guests.sh"))
        .current_dir(&root)
        // Cargo sets these for the test binary; they must not leak into the guest build.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .map_err(|error| format!("could not run scripts/build-guests.sh: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// The bytes of guest component `name` with a custom section appended: `nonce` makes the file's
/// hash unique (a new "version" of the same code, so a compile cache cannot serve it), and
/// `padding` bytes make it as large as needed. The result is still a valid component.
pub fn variant(name: &str, nonce: &str, padding: usize) -> Vec<u8> {
    let mut bytes = std::fs::read(component(name)).unwrap();
    let section_name = b"vitals-test";
    let mut payload = Vec::new();
    leb128(&mut payload, section_name.len());
    payload.extend_from_slice(section_name);
    payload.extend_from_slice(nonce.as_bytes());
    payload.resize(payload.len() + padding, 0);
    bytes.push(0); // custom section id
    leb128(&mut bytes, payload.len());
    bytes.extend_from_slice(&payload);
    bytes
}

fn leb128(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Write `bytes` to `dir/name` the recommended way: into a hidden temporary file in the same
/// directory, then an atomic rename.
pub fn install(dir: &std::path::Path, name: &str, bytes: &[u8]) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

/// A compile cache shared by every test process (`target/test-plugin-cache`). The JavaScript and
/// Python components take 5-30 s each to compile; from the cache they load in milliseconds.
/// Entries are keyed by the component's sha256 and the engine configuration, so sharing is safe;
/// tests that use it must not prune it.
pub fn shared_cache_dir() -> PathBuf {
    workspace_root().join("target/test-plugin-cache")
}

/// A plugin runtime with default settings and the shared compile cache.
pub fn cached_runtime() -> vitals_daemon::plugin::PluginRuntime {
    vitals_daemon::plugin::PluginRuntime::new(vitals_daemon::plugin::RuntimeConfig {
        cache_dir: Some(shared_cache_dir()),
        ..vitals_daemon::plugin::RuntimeConfig::default()
    })
    .expect("plugin runtime")
}

/// Load guest `name` into `rt`, one load at a time in this process: parallel tests then compile
/// a big component once, and the others hit the cache.
pub async fn load_serialized(
    rt: &vitals_daemon::plugin::PluginRuntime,
    name: &str,
    grants: vitals_daemon::plugin::PluginGrants,
) -> vitals_daemon::plugin::LoadedPlugin {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let path = component(name);
    let _turn = ONE_AT_A_TIME.lock().await;
    rt.load(&path, grants)
        .await
        .unwrap_or_else(|e| panic!("{name} loads: {e}"))
}

/// Plugin config values from `(key, value)` pairs.
pub fn config(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Grants with config values and nothing else.
pub fn grants(pairs: &[(&str, &str)]) -> vitals_daemon::plugin::PluginGrants {
    vitals_daemon::plugin::PluginGrants {
        config: config(pairs),
        ..vitals_daemon::plugin::PluginGrants::default()
    }
}

/// Grants with config values and outgoing HTTP to any port on 127.0.0.1.
pub fn http_grants(pairs: &[(&str, &str)]) -> vitals_daemon::plugin::PluginGrants {
    vitals_daemon::plugin::PluginGrants {
        allow_http: vec!["http://127.0.0.1:*".to_owned()],
        ..grants(pairs)
    }
}

/// Serves `app` on a free port of 127.0.0.1 for the rest of the test; returns `http://ADDR`.
pub async fn serve_local(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}
