#!/usr/bin/env bash
# Installs the pinned JavaScript and Python component toolchains into tools/ (idempotent: a
# no-op when the installed versions match the lock files).
#
# - tools/js: componentize-js (StarlingMonkey), jco and componentize-qjs (QuickJS), from
#   package-lock.json with `npm ci`: exactly the locked versions, and the lock file left as it is
#   (it lists every platform's optional binding, as npm writes it, so neither `npm ci` nor
#   `npm install` rewrites it and the guests built with it stay fresh).
# - tools/python/.venv: componentize-py from requirements.txt.
# - tools/schemathesis/.venv: schemathesis (fuzzes the live daemon's OpenAPI document,
#   host/vitals-daemon/tests/it/api_fuzz.rs) from requirements.txt.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

js="$root/tools/js"
if [[ ! -f "$js/node_modules/.installed" || "$js/package-lock.json" -nt "$js/node_modules/.installed" ]]; then
    echo "toolchains: installing the JavaScript component toolchain (tools/js)" >&2
    (cd "$js" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
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
