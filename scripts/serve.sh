#!/usr/bin/env bash
# Run the daemon on its embedded default (SQLite in ./data, the shipped plugins): no services
# needed. Extra arguments go to `vitals serve`, e.g. --config vitals.toml --listen 0.0.0.0:9000.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2
cargo xtask guests --rust-only  # the embedded default runs the Rust shipped plugins
exec cargo run --locked -p vitals-daemon --bin vitals -- serve "$@"
