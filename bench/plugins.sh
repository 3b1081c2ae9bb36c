#!/usr/bin/env bash
# Plugin host benchmark: median/p99 of one enricher call on a pre-instantiated component
# (target < 50 µs median) and the time to stop an infinite loop (target < deadline + 20 ms).
# Usage: bench/plugins.sh [calls]   (builds the plugins first if needed)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if [ ! -f plugins/dist/filename-tagger/filename-tagger.wasm ] || [ ! -f plugins/target/test-plugins/hostile-enricher/hostile-enricher.wasm ]; then
    plugins/build.sh
fi
# Dependencies are optimised in the dev profile already (see the root Cargo.toml); optimise
# this crate too so the timing is not that of unoptimised glue code.
exec cargo run --quiet -p chillfi-plugin-host --example plugin_bench \
    --config 'profile.dev.package.chillfi-plugin-host.opt-level=3' -- "$@"
