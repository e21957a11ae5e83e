//! The workspace's build tasks, run as `cargo xtask TASK` (an alias in `.cargo/config.toml`).
//!
//! - `cargo xtask guests` builds every guest (`plugins/*`, `tests/guests/*`) into
//!   `target/components/NAME.wasm`, and copies the shipped plugins to `target/plugins/`, where
//!   the daemon's embedded default finds them. The test command runs it before the tests; tests
//!   never build guests.
//! - `cargo xtask guests --embedded-default` builds only the shipped plugins that the daemon's
//!   embedded default loads (the `target/plugins/NAME.wasm` files its config names; Rust ones),
//!   without the JavaScript and Python toolchains: what `scripts/serve.sh` needs.

mod guests;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask guests [--embedded-default]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["guests"] => guests::build(&workspace_root(), guests::Selection::All),
        ["guests", "--embedded-default"] => {
            guests::build(&workspace_root(), guests::Selection::EmbeddedDefault)
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: this crate's parent directory.
fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map_or(manifest.clone(), PathBuf::from)
}
