#!/usr/bin/env bash
# Fetches the odd-audio corpus for core/server/tests/socket/corpus.test.mjs: the source
# distribution of mutagen 1.47.0 from PyPI (its tests/data/ holds ~100 real, odd and broken audio
# files), with pip, hash-pinned. Idempotent: does nothing when the archive is already there.
# Prints the archive's path.
set -euo pipefail

DIR="${CHILLFI_CORPUS_DIR:-/var/tmp/chillfi-tools/corpus}"
VENV="${CHILLFI_TOOLS_VENV:-/var/tmp/chillfi-tools/venv}"
NAME=mutagen-1.47.0.tar.gz
SHA256=719fadef0a978c31b4cf3c956261b3c58b6948b32023078a2117b1de09f0fc99
ARCHIVE="$DIR/$NAME"

# The cache and the venv are shared by every clone on the machine: one fetch at a time (the
# lock is released when this script exits).
mkdir -p "$DIR" "$(dirname "$VENV")"
exec 8>"$(dirname "$VENV")/.install.lock"
flock 8
if [ -f "$ARCHIVE" ] && echo "$SHA256  $ARCHIVE" | sha256sum --check --status; then
    echo "$ARCHIVE"
    exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" >&2
fi
requirements="$(mktemp)"
trap 'rm -f "$requirements"' EXIT
echo "mutagen==1.47.0 --hash=sha256:$SHA256" >"$requirements"
"$VENV/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps \
    --no-binary :all: --require-hashes -r "$requirements" -d "$DIR" >&2
if ! echo "$SHA256  $ARCHIVE" | sha256sum --check --status; then
    echo "fetch-corpus.sh: $ARCHIVE is missing or does not match its pinned SHA-256" >&2
    exit 1
fi
echo "$ARCHIVE"
