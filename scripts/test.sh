#!/usr/bin/env bash
# The whole test suite, as CI runs it: toolchain targets, local services, formatting, lints,
# guest components, every test. Works on a fresh machine of this kind.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each phase's start, with the time since the script started (the target is a cold build plus
# every test in 20 minutes on 2 cores).
phase() { echo "== $1 (at $((SECONDS / 60))m$((SECONDS % 60))s)"; }

phase "toolchain"
rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2
rustup component add rustfmt clippy >/dev/null 2>&1 || true

phase "services (PostgreSQL, MariaDB, Redis)"
bash scripts/services.sh

phase "browser (Chromium and chromedriver, for the status page test)"
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
fi

phase "schemathesis (fuzzes the live daemon's API)"
bash scripts/toolchains.sh

phase "tools (promtool checks /metrics in host/vitals-daemon/tests/it/metrics_promtool.rs)"
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v promtool >/dev/null; then
    as_root apt-get update -qq
    # Recommends would add node-exporter; only the promtool binary is needed.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus
fi

phase "fmt"
cargo fmt --all -- --check

phase "build, linted (clippy is the compiler of the workspace crates)"
# `cargo clippy` followed by `cargo test` compiles every dependency twice: metadata only, then
# code (9.5 of 31 minutes on a cold 2-core machine). With clippy-driver as the wrapper of the
# workspace crates, the test build itself is linted (`-D warnings`), and dependencies build once.
# The same environment stays set for the test run below, so nothing is rebuilt there.
export RUSTC_WORKSPACE_WRAPPER="$(rustc --print sysroot)/bin/clippy-driver"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
cargo test --workspace --all-targets --locked --no-run

phase "guest SDK packages for crates.io (cargo publish --dry-run -p vitals-guest)"
# Built as a user of the published crate would get it: its own lock file, plain rustc.
env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS cargo publish --dry-run --quiet -p vitals-guest

phase "guest components"
cargo xtask guests

phase "plugin unit tests (JavaScript, Python)"
bash scripts/plugin-unit-tests.sh

phase "deployment tools (grpcio-health-checking, kubernetes-validate, promtool)"
bash scripts/deploy-tools.sh

phase "tests"
cargo test --workspace --locked --no-fail-fast

phase "deployment files (kubernetes-validate, systemd-analyze)"
# The daemon the test build made (integration tests run it), verified as the systemd unit's ExecStart.
VITALS_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/vitals" bash scripts/deploy-checks.sh

phase "done"
