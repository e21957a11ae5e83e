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
