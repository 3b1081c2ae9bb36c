#!/usr/bin/env bash
# Plugin host benchmark: one enricher call on a pre-instantiated component, median/p99:
# direct (`enrich_blocking`, goal < 10 µs), through the async path the server uses (goal
# <= 2x direct), and the same logic as a native Rust function (ratio printed); then the
# time to stop an infinite loop (goal < deadline + 20 ms).
#
# Usage: bench/plugins.sh [calls]
# Runs the release build of the bench ($CARGO_TARGET_DIR or target/, release/examples/
# plugin_bench) when there is one, without invoking cargo; REBUILD=1 (or no binary) builds
# it first with `cargo build --release`. Builds the plugins first only if they are missing.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if [ ! -f plugins/dist/filename-tagger/filename-tagger.wasm ] || [ ! -f plugins/target/test-plugins/hostile-enricher/hostile-enricher.wasm ]; then
    plugins/build.sh
fi
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/plugin_bench"
if [ "${REBUILD:-0}" = 1 ] || [ ! -x "$BIN" ]; then
    cargo build --release --quiet -p chillfi-plugin-host --example plugin_bench
fi
echo "bench/plugins.sh: $BIN (built $(date -r "$BIN" -u +%FT%TZ))" >&2
exec "$BIN" "$@"
