#!/usr/bin/env bash
# Installs what building and testing ChillFi needs on Debian 12: FFmpeg development files and
# CLI, clang (bindgen), Chromium (UI tests), rpm (package inspection); with --tests also the
# odd-audio corpus (.ci/fetch-corpus.sh, cached in /var/tmp/chillfi-tools/corpus). Idempotent and
# quiet when everything is already there. Rust (rustup, stable >= 1.95) and Node.js >= 20 must
# exist.
set -euo pipefail

need=(pkg-config clang libclang-dev libavcodec-dev libavformat-dev libavutil-dev libavfilter-dev
      libswresample-dev libswscale-dev ffmpeg python3-venv libxml2-utils)
[ "${1:-}" = --tests ] && need+=(chromium rpm)
missing=()
for pkg in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Another run may hold dpkg's lock: wait for it instead of failing.
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
    echo "setup: Rust is missing; install it with rustup (stable 1.95 or newer)" >&2
    exit 1
fi
if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    echo "setup: Node.js 20 or newer is needed to build the web UI" >&2
    exit 1
fi

if [ "${1:-}" = --tests ]; then
    bash "$(dirname "$0")/fetch-corpus.sh" >/dev/null
fi
