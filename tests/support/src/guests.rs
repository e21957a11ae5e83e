//! Guest components for host tests: `component("noop")` is the path of
//! `target/components/noop.wasm`. Tests do not build guests: the test command does it first
//! (`cargo xtask guests`), and a missing component fails the test with that command.

use std::path::PathBuf;

/// The workspace root, two levels above this crate (`tests/support`).
pub fn workspace_root() -> PathBuf {
    let krate = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    krate
        .ancestors()
        .nth(2)
        .expect("tests/support is two levels below the workspace root")
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
