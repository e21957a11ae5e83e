#!/usr/bin/env bash
# Installs the tools the deployment tests use (idempotent):
# - tools/deploy/.venv: grpcio-health-checking and kubernetes-validate, pinned in
#   tools/deploy/requirements.txt (PyPI);
# - promtool, from Debian's `prometheus` package, when it is not on PATH.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

venv="$root/tools/deploy/.venv"
reqs="$root/tools/deploy/requirements.txt"
if [[ ! -f "$venv/.installed" || "$reqs" -nt "$venv/.installed" ]]; then
    echo "deploy-tools: installing grpcio-health-checking and kubernetes-validate (tools/deploy)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$reqs"
    touch "$venv/.installed"
fi

if ! command -v promtool >/dev/null; then
    echo "deploy-tools: installing promtool (Debian package prometheus)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
    # The package starts a Prometheus server we do not want: only promtool is used.
    systemctl disable --now prometheus >/dev/null 2>&1 || service prometheus stop >/dev/null 2>&1 || true
fi
