#!/usr/bin/env bash
# Runs the JavaScript and Python plugins' own unit tests natively (node --test, unittest): their
# pure logic (conditions, thresholds) is tested here, the components in the host's tests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

for dir in plugins/*; do
    if [[ -f "$dir/package.json" ]] && compgen -G "$dir/*.test.js" >/dev/null; then
        echo "plugin-unit-tests: $dir (node --test)"
        (cd "$dir" && node --test)
    elif [[ -f "$dir/app.py" ]] && compgen -G "$dir/test_*.py" >/dev/null; then
        echo "plugin-unit-tests: $dir (unittest)"
        (cd "$dir" && python3 -m unittest --quiet)
    fi
done
