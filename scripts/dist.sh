#!/usr/bin/env bash
# Builds the release artifact fit for a sidecar image: target/dist/vitals, stripped of debug info
# (symbols kept: backtraces name functions), and target/dist/vitals.debug with the line tables,
# linked by gnu-debuglink so gdb and `addr2line -e vitals.debug ADDR` find file:line.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"

# profile.dist strips debug info for `cargo install`; here it is kept, to be split out below.
cargo build -p vitals-daemon --bin vitals --locked --profile dist --config 'profile.dist.strip="none"'
bin="$target/dist/vitals"
objcopy --only-keep-debug "$bin" "$bin.debug"
objcopy --strip-debug --add-gnu-debuglink="$bin.debug" "$bin"
ls -l "$bin" "$bin.debug" | awk '{ printf "%s %.1f MiB\n", $NF, $5 / 1048576 }'
