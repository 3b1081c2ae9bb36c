#!/usr/bin/env bash
# Builds ChillFi from this checkout and runs it on its embedded defaults (data in ./chillfi-data,
# local blob storage, listening on 0.0.0.0:8080). Extra arguments go to `chillfi serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup.sh
(cd web && npm ci --no-audit --no-fund --silent && npm run build --silent)
cargo build --release -p chillfi
bin="${CARGO_TARGET_DIR:-target}/release/chillfi"
exec "$bin" serve "$@"
