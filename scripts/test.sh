#!/usr/bin/env bash
# The whole test suite, as CI runs it: toolchain targets, local services, formatting, lints,
# guest components, every test. Works on a fresh machine of this kind.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== toolchain"
rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2
rustup component add rustfmt clippy >/dev/null 2>&1 || true

echo "== services (PostgreSQL, MariaDB, Redis)"
bash scripts/services.sh

echo "== browser (Chromium and chromedriver, for the status page test)"
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
fi

echo "== schemathesis (fuzzes the live daemon's API)"
bash scripts/toolchains.sh

echo "== tools (promtool checks /metrics in host/tests/metrics_promtool.rs)"
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v promtool >/dev/null; then
    as_root apt-get update -qq
    # Recommends would add node-exporter; only the promtool binary is needed.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus
fi

echo "== fmt"
cargo fmt --all -- --check

echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== guest components"
bash scripts/build-guests.sh

echo "== plugin unit tests (JavaScript, Python)"
bash scripts/plugin-unit-tests.sh

echo "== deployment tools (grpcio-health-checking, kubernetes-validate, promtool)"
bash scripts/deploy-tools.sh

echo "== tests"
cargo test --workspace --locked --no-fail-fast

echo "== deployment files (kubernetes-validate, systemd-analyze)"
bash scripts/deploy-checks.sh
