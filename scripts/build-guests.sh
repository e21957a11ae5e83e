#!/usr/bin/env bash
# Builds every guest (plugins/* and tests/guests/*) as a WebAssembly component into
# target/components/NAME.wasm; the shipped plugins also go to target/plugins/ for the daemon.
#
# - Rust: a directory with Cargo.toml; NAME is the Cargo package name (with dashes: cargo itself
#   writes <package_name>.wasm with underscores).
# - JavaScript: a directory with package.json; NAME is the directory. Its `vitals.engine` is
#   "starlingmonkey" (componentize-js; fetch and the web APIs, ~12 MB) or "quickjs" (jco +
#   componentize-qjs; ~1.6 MB, no fetch). Entry: its `main`.
# - Python: a directory with app.py; NAME is the directory (componentize-py).
#
# The JavaScript and Python toolchains are pinned in tools/js (package-lock.json) and
# tools/python (requirements.txt) and installed there on first use. A JS or Python guest is
# rebuilt only when a file in it, the WIT contract or its toolchain is newer than its component.
#
# Uses its own target dir (target/guests) so it never waits on, or blocks, a `cargo test` holding
# the main target dir's lock, and the `guest` profile (release, opt-level "s", stripped).
# Idempotent: when nothing changed it only asks cargo (well under a second) and copies nothing.
#
# `--rust-only` builds the Rust guests alone, without installing the JavaScript and Python
# toolchains (what the daemon's embedded default needs).
set -euo pipefail
rust_only=false
[[ "${1:-}" == "--rust-only" ]] && rust_only=true

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# scripts/test.sh builds the host with clippy-driver as the workspace wrapper; guests are built
# by plain rustc, the same whether this runs from test.sh or from a test.
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS

target=wasm32-wasip2
if ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target"
fi

packages=()
for manifest in plugins/*/Cargo.toml tests/guests/*/Cargo.toml; do
    [[ -f "$manifest" ]] || continue
    name="$(sed -n 's/^name = "\(.*\)"$/\1/p' "$manifest" | head -n 1)"
    packages+=("$name")
done
if [[ ${#packages[@]} -eq 0 ]]; then
    echo "build-guests: no guest crates found" >&2
    exit 1
fi

package_args=()
for name in "${packages[@]}"; do
    package_args+=(-p "$name")
done
CARGO_TARGET_DIR="$root/target/guests" cargo build --quiet --profile guest --target "$target" \
    "${package_args[@]}"

out="$root/target/components"
mkdir -p "$out"

# Copy $1 to $2 unless equal; atomic, so a reader never sees half a file.
install_atomically() {
    if ! cmp -s "$1" "$2"; then
        cp "$1" "$2.$$.tmp"
        mv "$2.$$.tmp" "$2"
    fi
}

for name in "${packages[@]}"; do
    built="$root/target/guests/$target/guest/${name//-/_}.wasm"
    copy="$out/$name.wasm"
    install_atomically "$built" "$copy"
    # The shipped plugins also go to target/plugins, where the daemon's embedded default finds them.
    if [[ -f "plugins/$name/Cargo.toml" ]]; then
        mkdir -p "$root/target/plugins"
        install_atomically "$copy" "$root/target/plugins/$name.wasm"
    fi
done

$rust_only && exit 0

bash "$root/scripts/toolchains.sh"
js_bin="$root/tools/js/node_modules/.bin"
# The current contract alone: wit/deps/ holds 0.1.0 of the same package, for the host.
wit="$root/wit/check.wit"
py_bin="$root/tools/python/.venv/bin"

# True when $1 (a component) is missing or older than anything it is built from in $2.
stale() {
    [[ ! -f "$1" ]] && return 0
    [[ -n "$(find "$2" "$root/wit" "$root/tools/js/package-lock.json" "$root/tools/python/requirements.txt" \
        -newer "$1" -type f -not -path '*/node_modules/*' -not -path '*/__pycache__/*' \
        -not -path '*/.venv/*' -print -quit)" ]]
}

for dir in plugins/* tests/guests/*; do
    name="$(basename "$dir")"
    if [[ -f "$dir/package.json" ]]; then
        kind=js
    elif [[ -f "$dir/app.py" ]]; then
        kind=python
    else
        continue
    fi
    copy="$out/$name.wasm"
    if stale "$copy" "$dir"; then
        tmp="$out/.$name.$$.wasm"
        case "$kind" in
        js)
            read -r engine main < <(cd "$dir" && node -e \
                'const p = require("./package.json"); console.log((p.vitals && p.vitals.engine) || "starlingmonkey", p.main || "plugin.js")')
            case "$engine" in
            starlingmonkey)
                # fetch-event is the incoming-handler export, which a check does not have.
                (cd "$dir" && "$js_bin/componentize-js" "$main" --wit "$wit" --world-name plugin \
                    -d fetch-event -o "$tmp") >/dev/null
                ;;
            quickjs)
                (cd "$dir" && "$js_bin/jco" componentize "$main" --wit "$wit" --world-name plugin \
                    --backend qjs -o "$tmp") >/dev/null
                ;;
            *)
                echo "build-guests: $dir: unknown vitals.engine \"$engine\" (starlingmonkey or quickjs)" >&2
                exit 1
                ;;
            esac
            ;;
        python)
            (cd "$dir" && "$py_bin/componentize-py" -d "$wit" -w plugin componentize app -o "$tmp") \
                >/dev/null
            ;;
        esac
        mv "$tmp" "$copy"
        echo "build-guests: built $copy ($kind)"
    fi
    if [[ "$dir" == plugins/* ]]; then
        mkdir -p "$root/target/plugins"
        install_atomically "$copy" "$root/target/plugins/$name.wasm"
    fi
done
