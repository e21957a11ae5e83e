#!/usr/bin/env bash
# Run the daemon on its embedded default (SQLite in ./data, the shipped plugins it names): no
# services needed. Extra arguments go to `vitals serve`, e.g. --config vitals.toml --listen
# 0.0.0.0:9000. The first run builds the daemon and two plugins (about 4 minutes on 2 cores);
# later runs start in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"

step() { echo "serve.sh [$((SECONDS / 60))m$((SECONDS % 60))s] $*" >&2; }

step "adding the wasm32-wasip2 target (rustup), if missing"
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

# The two builds use different target directories, so they run side by side.
mkdir -p "$target"
step "building the shipped plugins the embedded default loads, in the background (log: $target/serve-plugins.log)"
cargo xtask guests --embedded-default >"$target/serve-plugins.log" 2>&1 &
plugins=$!

step "building the daemon (cargo build -p vitals-daemon --bin vitals; about 4 minutes the first time)"
cargo build --locked -p vitals-daemon --bin vitals

step "waiting for the plugins"
if ! wait "$plugins"; then
    cat "$target/serve-plugins.log" >&2
    step "building the plugins failed (above)"
    exit 1
fi

step "starting vitals serve; try: curl -s localhost:9000/health/ready?verbose"
exec "$target/debug/vitals" serve "$@"
