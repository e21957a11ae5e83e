#!/usr/bin/env bash
# Builds every guest crate (plugins/* and tests/guests/*) as a WebAssembly component and copies
# each to target/components/<package-name>.wasm (the Cargo package name, with dashes: cargo
# itself writes <package_name>.wasm with underscores).
#
# Uses its own target dir (target/guests) so it never waits on, or blocks, a `cargo test` holding
# the main target dir's lock, and the `guest` profile (release, opt-level "s", stripped).
# Idempotent: when nothing changed it only asks cargo (well under a second) and copies nothing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

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
for name in "${packages[@]}"; do
    built="$root/target/guests/$target/guest/${name//-/_}.wasm"
    copy="$out/$name.wasm"
    if ! cmp -s "$built" "$copy"; then
        cp "$built" "$copy.$$.tmp"
        mv "$copy.$$.tmp" "$copy" # atomic: a reader never sees half a file
    fi
    # The shipped plugins also go to target/plugins, where the daemon's embedded default finds them.
    if [[ -f "plugins/$name/Cargo.toml" ]]; then
        mkdir -p "$root/target/plugins"
        if ! cmp -s "$copy" "$root/target/plugins/$name.wasm"; then
            cp "$copy" "$root/target/plugins/$name.wasm.$$.tmp"
            mv "$root/target/plugins/$name.wasm.$$.tmp" "$root/target/plugins/$name.wasm"
        fi
    fi
done
