#!/usr/bin/env bash
# Builds misbehave-py.wasm (or $VITALS_OUT) with componentize-py against the contract in ../../../wit, as a
# project made by `vitals plugin new --lang python` builds (`cargo xtask guests` runs it with the
# pinned toolchain, tools/python, first on PATH).
set -euo pipefail
cd "$(dirname "$0")"
componentize_py=componentize-py
if [[ -x .venv/bin/componentize-py ]]; then
    componentize_py=.venv/bin/componentize-py
fi
# A failed build leaves no component behind, so the previous one is never installed by mistake.
out="${VITALS_OUT:-misbehave-py.wasm}"
rm -f "$out"
# The current contract alone: wit/deps/ holds 0.1.0 of the same package, for the host.
"$componentize_py" -d ../../../wit/check.wit -w plugin componentize app -o "$out"
