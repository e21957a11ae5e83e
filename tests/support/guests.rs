//! Guest components for host tests: `component("noop")` is the path of
//! `target/components/noop.wasm`. Tests do not build guests: the test command does it first
//! (`cargo xtask guests`), and a missing component fails the test with that command.
//!
//! Use it from a test file with `#[path = "../../../tests/support/guests.rs"] mod guests;`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

/// The workspace root: two levels above the crate whose tests include this file (`host/NAME`).
pub fn workspace_root() -> PathBuf {
    let krate = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    krate
        .ancestors()
        .nth(2)
        .expect("a host crate is two levels below the workspace root")
        .to_path_buf()
}

/// The command that builds every guest component (`scripts/test.sh` runs it before the tests).
pub const BUILD_GUESTS: &str = "cargo xtask guests";

/// The component built from the guest package `name` (e.g. "noop", "http-endpoint"). Panics,
/// naming the command that builds it, when it has not been built.
pub fn component(name: &str) -> PathBuf {
    let path = workspace_root()
        .join("target/components")
        .join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "no guest component {name:?} at {}: build the guests with `{BUILD_GUESTS}` in {} \
         (the test command does; names are the packages under plugins/ and tests/guests/)",
        path.display(),
        workspace_root().display()
    );
    path
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
pub fn cached_runtime() -> vitals_wasm::PluginRuntime {
    vitals_wasm::PluginRuntime::new(vitals_wasm::RuntimeConfig {
        cache_dir: Some(shared_cache_dir()),
        ..vitals_wasm::RuntimeConfig::default()
    })
    .expect("plugin runtime")
}

/// Load guest `name` into `rt`, one load at a time in this process: parallel tests then compile
/// a big component once, and the others hit the cache.
pub async fn load_serialized(
    rt: &vitals_wasm::PluginRuntime,
    name: &str,
    grants: vitals_wasm::PluginGrants,
) -> vitals_wasm::LoadedPlugin {
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
pub fn grants(pairs: &[(&str, &str)]) -> vitals_wasm::PluginGrants {
    vitals_wasm::PluginGrants {
        config: config(pairs),
        ..vitals_wasm::PluginGrants::default()
    }
}

/// Grants with config values and outgoing HTTP to any port on 127.0.0.1.
pub fn http_grants(pairs: &[(&str, &str)]) -> vitals_wasm::PluginGrants {
    vitals_wasm::PluginGrants {
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
