#!/usr/bin/env bash
# Checks the deployment files under deploy/ with the tools their platforms use (installed by
# scripts/deploy-tools.sh): kubernetes-validate for the manifests, systemd-analyze for the unit.
# The alert rules' promtool tests and the metric names run as Rust tests (host/vitals-daemon/tests/it/deploy_files.rs).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# The Kubernetes version the manifests are validated against (kubernetes-validate's schemas).
k8s_version=1.34.0
echo "deploy-checks: kubernetes-validate --strict against Kubernetes $k8s_version"
tools/deploy/.venv/bin/kubernetes-validate -k "$k8s_version" --strict --quiet deploy/kubernetes/*.yaml

if command -v systemd-analyze >/dev/null; then
    echo "deploy-checks: systemd-analyze verify deploy/systemd/vitals.service"
    target="${CARGO_TARGET_DIR:-$root/target}"
    # scripts/test.sh passes the daemon its test build made (VITALS_BIN): `cargo build -p
    # vitals-daemon` alone resolves other dependency features and would rebuild for 7 minutes.
    bin="${VITALS_BIN:-}"
    if [ -z "$bin" ]; then
        cargo build -p vitals-daemon --locked --bin vitals --quiet
        bin="$target/debug/vitals"
    fi
    [ -x "$bin" ] || { echo "deploy-checks: no daemon binary at $bin" >&2; exit 1; }
    # Verified as installed, with ExecStart pointing at that binary (verify requires the
    # executable to exist).
    unit_dir="$(mktemp -d)"
    trap 'rm -rf "$unit_dir"' EXIT
    sed "s|/usr/local/bin/vitals|$bin|" deploy/systemd/vitals.service >"$unit_dir/vitals.service"
    out="$(systemd-analyze verify "$unit_dir/vitals.service" 2>&1)" || { echo "$out"; exit 1; }
    # verify reports problems in the unit on stderr without always failing: any line naming it is one.
    if grep -q "vitals.service" <<<"$out"; then
        echo "$out"
        exit 1
    fi
else
    echo "deploy-checks: systemd-analyze verify NOT run: systemd-analyze is not installed on this machine (no systemd)"
fi
