#!/usr/bin/env bash
# Builds ChillFi's plugins to WASM components.
#
#   plugins/dist/<name>/{plugin.toml,<name>.wasm}          installable plugins
#   plugins/target/test-plugins/<name>/{plugin.toml,...}    the template and the hostile
#                                                          plugins used by core/plugin-host's tests
#
# Two toolchains are supported:
#  1. rustup with the wasm32-wasip2 target installed: plain `cargo build --target wasm32-wasip2`
#     (rustc links the component itself).
#  2. Otherwise (e.g. a fresh Debian 12 machine, or rustup without wasm targets): Debian's
#     rustc-web 1.96 (bookworm-security) builds std for wasm32-unknown-unknown with
#     -Zbuild-std, and wasm-component-ld (crates.io) + wasm-ld-22 link the component.
#     Missing packages/tools are installed (apt-get needs root or sudo); the cargo-installed
#     linker goes to $CHILLFI_TOOLS (default /var/tmp/chillfi-tools) so later runs reuse it.
#
# Idempotent: a second run only re-links what changed (a few seconds).
# Env: CHILLFI_TOOLS, CHILLFI_WASM_PATH=wasip2|debian (force a path), QUIET=1.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOLS=${CHILLFI_TOOLS:-/var/tmp/chillfi-tools}
WCL_VERSION=0.5.31
DEBIAN_PKGS=(rustc-web cargo-web libstd-rust-web-dev rust-web-src lld-22)
DIST="$HERE/dist"
TEST_DIST="$HERE/target/test-plugins"
# The plugins are their own workspace: never build into a caller's CARGO_TARGET_DIR (CI sets one
# for the server), or the outputs land where this script does not look.
export CARGO_TARGET_DIR="$HERE/target"

log() { [ "${QUIET:-0}" = 1 ] || echo "build.sh: $*" >&2; }
QUIET_FLAG=()
[ "${QUIET:-0}" = 1 ] && QUIET_FLAG=(--quiet)
die() { echo "build.sh: error: $*" >&2; exit 1; }
# Installs into $TOOLS are shared by every clone on the machine: one at a time (flock).
lock_tools() { mkdir -p "$TOOLS"; exec 8>"$TOOLS/.install.lock"; flock 8; }
unlock_tools() { exec 8>&-; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "need root (or sudo) to run: $*"; fi
}

choose_path() {
    if [ -n "${CHILLFI_WASM_PATH:-}" ]; then echo "$CHILLFI_WASM_PATH"; return; fi
    if command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
        echo wasip2
    else
        echo debian
    fi
}

ensure_debian_toolchain() {
    local missing=()
    for p in "${DEBIAN_PKGS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing Debian packages: ${missing[*]}"
        # The 1.96 rustc-web and lld-22 come from bookworm-security.
        if ! grep -rqs "bookworm-security" /etc/apt/sources.list /etc/apt/sources.list.d/; then
            log "adding bookworm-security to apt sources"
            echo "deb http://deb.debian.org/debian-security bookworm-security main" |
                as_root tee /etc/apt/sources.list.d/chillfi-security.list >/dev/null
        fi
        as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
            "${missing[@]}" >/dev/null
    fi
    [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] || die "Debian's rustc/cargo (rustc-web, cargo-web) missing in /usr/bin"
    [ -x /usr/bin/wasm-ld-22 ] || die "/usr/bin/wasm-ld-22 missing (package lld-22)"

    WCL="$TOOLS/cargo/bin/wasm-component-ld"
    # Another run (a second clone, CI next to a developer) may be installing it right now.
    lock_tools
    if ! { [ -x "$WCL" ] && "$WCL" --version 2>/dev/null | grep -q "$WCL_VERSION"; }; then
        log "installing wasm-component-ld $WCL_VERSION into $TOOLS/cargo (about 80 s, once)"
        mkdir -p "$TOOLS/cargo"
        # Debian's cargo + rustc: works on a machine without rustup too.
        RUSTC=/usr/bin/rustc /usr/bin/cargo install wasm-component-ld --version "$WCL_VERSION" \
            --locked --root "$TOOLS/cargo" --quiet
    fi
    unlock_tools
}

build_debian() {
    ensure_debian_toolchain
    log "building with Debian rustc $(/usr/bin/rustc --version | cut -d' ' -f2) + build-std (wasm32-unknown-unknown)"
    # /usr/bin/cargo explicitly: ~/.cargo/bin/cargo (rustup) would shadow it on PATH, and
    # only Debian's 1.96 rustc matches the library sources in its sysroot (rust-web-src).
    (
        cd "$HERE"
        unset RUSTUP_TOOLCHAIN RUSTFLAGS CARGO_BUILD_TARGET
        export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
        export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$WCL"
        export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C link-arg=--wasm-ld-path=/usr/bin/wasm-ld-22"
        /usr/bin/cargo build --release --workspace "${QUIET_FLAG[@]}" \
            --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort
    )
    OUT="$HERE/target/wasm32-unknown-unknown/release"
}

build_wasip2() {
    log "building with $(rustc --version) for wasm32-wasip2"
    (cd "$HERE" && cargo build --release --workspace "${QUIET_FLAG[@]}" --target wasm32-wasip2)
    OUT="$HERE/target/wasm32-wasip2/release"
}

manifest_name() { sed -n 's/^name *= *"\([^"]*\)".*/\1/p' "$1" | head -n1; }

is_component() {
    # A component starts with "\0asm" then version 0x0d, layer 0x01 (a core module has 01 00 00 00).
    [ "$(od -An -tx1 -N8 "$1" | tr -d ' \n')" = "0061736d0d000100" ]
}

install_plugin() { # <crate dir> <destination root>
    local dir=$1 dest_root=$2 name crate wasm
    name=$(manifest_name "$dir/plugin.toml")
    [ -n "$name" ] || die "$dir/plugin.toml has no name"
    crate=$(sed -n 's/^name *= *"\([^"]*\)".*/\1/p' "$dir/Cargo.toml" | head -n1)
    wasm="$OUT/${crate//-/_}.wasm"
    [ -f "$wasm" ] || die "expected $wasm after the build"
    is_component "$wasm" || die "$wasm is not a WASM component (header $(od -An -tx1 -N8 "$wasm"))"
    mkdir -p "$dest_root/$name"
    cp -p "$dir/plugin.toml" "$dest_root/$name/plugin.toml"
    cmp -s "$wasm" "$dest_root/$name/$name.wasm" || cp -p "$wasm" "$dest_root/$name/$name.wasm"
    log "  $dest_root/$name/$name.wasm ($(stat -c %s "$wasm") bytes)"
}

main() {
    local path start=$SECONDS
    path=$(choose_path)
    case "$path" in
        wasip2) build_wasip2 ;;
        debian) build_debian ;;
        *) die "CHILLFI_WASM_PATH must be wasip2 or debian" ;;
    esac
    mkdir -p "$DIST" "$TEST_DIST"
    for manifest in "$HERE"/*/plugin.toml; do
        dir=$(dirname "$manifest")
        case "$(basename "$dir")" in
            template) install_plugin "$dir" "$TEST_DIST" ;;
            *) install_plugin "$dir" "$DIST" ;;
        esac
    done
    for manifest in "$HERE"/test/*/plugin.toml; do
        install_plugin "$(dirname "$manifest")" "$TEST_DIST"
    done
    log "done in $((SECONDS - start)) s"
}

main "$@"
