#!/usr/bin/env bash
# Installs the pinned JavaScript and Python component toolchains into tools/ (idempotent: a
# no-op when the installed versions match the lock files).
#
# - tools/js: componentize-js (StarlingMonkey), jco and componentize-qjs (QuickJS), from
#   package-lock.json (`npm install`, which keeps a matching lock file as it is: npm 11's `npm ci` rejects this lock file for
#   platform packages it lists without versions).
# - tools/python/.venv: componentize-py from requirements.txt.
# - tools/schemathesis/.venv: schemathesis (fuzzes the live daemon's OpenAPI document,
#   host/vitals-daemon/tests/api_fuzz.rs) from requirements.txt.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

js="$root/tools/js"
if [[ ! -f "$js/node_modules/.installed" || "$js/package-lock.json" -nt "$js/node_modules/.installed" ]]; then
    echo "toolchains: installing the JavaScript component toolchain (tools/js)" >&2
    (cd "$js" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
    touch "$js/node_modules/.installed"
fi

venv() { # DIR WHAT: a venv in DIR/.venv with DIR/requirements.txt installed
    local dir="$root/tools/$1"
    if [[ ! -f "$dir/.venv/.installed" || "$dir/requirements.txt" -nt "$dir/.venv/.installed" ]]; then
        echo "toolchains: installing $2 (tools/$1)" >&2
        python3 -m venv "$dir/.venv"
        "$dir/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$dir/requirements.txt"
        touch "$dir/.venv/.installed"
    fi
}
venv python "the Python component toolchain"
venv schemathesis "schemathesis"
