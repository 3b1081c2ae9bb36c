#!/usr/bin/env bash
# Creates the virtual environment the Subsonic API tests run in (py-opensonic, an independent
# client library, and pytest, pinned in core/server/tests/subsonic/requirements.txt). Idempotent:
# reinstalls only when the requirements change. Prints the venv's python.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${CHILLFI_SUBSONIC_VENV:-/var/tmp/chillfi-tools/subsonic-venv}"
REQ=core/server/tests/subsonic/requirements.txt
STAMP="$VENV/.requirements"

if [ ! -x "$VENV/bin/python" ]; then
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV" >&2
fi
if ! cmp -s "$REQ" "$STAMP"; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ" >&2
    cp "$REQ" "$STAMP"
fi
echo "$VENV/bin/python"
