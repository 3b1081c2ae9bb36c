#!/usr/bin/env bash
# Builds ChillFi from this checkout and runs it on its embedded defaults (data in ./chillfi-data,
# local blob storage, listening on 0.0.0.0:8080). Extra arguments go to `chillfi serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup.sh
(cd web && npm ci --no-audit --no-fund --silent && npm run build --silent)
# The same target directory, profile and command as the test command (.ci/run): running one
# after the other compiles nothing twice.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/chillfi-target}"
cargo build --profile ci --workspace --bins
bin="$CARGO_TARGET_DIR/ci/chillfi"
exec "$bin" serve "$@"
