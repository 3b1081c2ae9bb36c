#!/usr/bin/env bash
# Builds the ChillFi packages: packaging/out/chillfi_<version>-1_<arch>.deb (cargo-deb) and
# packaging/out/chillfi-<version>-1.<arch>.rpm (cargo-generate-rpm).
#
#   packaging/build.sh             cargo build --release -p chillfi (a no-op when up to date), package
#   packaging/build.sh --no-build  package the release binary already in the target dir
#   VERSION=0.1.1 packaging/build.sh --no-build   same binary, another package version
#
# Environment:
#   VERSION           package version (default: the workspace version in Cargo.toml)
#   CARGO_TARGET_DIR  where the release binary is (default: ./target)
#   PKG_BIN           with --no-build: package this binary instead (CI packages the binary its
#                     tests ran, built with the `ci` profile, rather than building twice)
#   CHILLFI_TOOLS     cache for the packaging tools (default: /var/tmp/chillfi-tools)
#   PKG_FORMATS       "deb rpm" (default), or one of them
#   PKG_FAST=1        lighter compression (quicker; for test builds)
#
# Every packaged file is first laid out under packaging/out/stage/ exactly as it is installed;
# the deb metadata (core/server/Cargo.toml) and the rpm asset list both take that tree.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/packaging/out
STAGE=$OUT/stage
TOOLS=${CHILLFI_TOOLS:-/var/tmp/chillfi-tools}
CARGO_DEB_VERSION=3.8.0
CARGO_GENERATE_RPM_VERSION=0.21.1
FORMATS=${PKG_FORMATS:-deb rpm}

die() { echo "build.sh: $*" >&2; exit 1; }
say() { echo "==> $*" >&2; }

NO_BUILD=0
for arg in "$@"; do
    case "$arg" in
        --no-build) NO_BUILD=1 ;;
        -h|--help) sed -n "2,18p" "$0"; exit 0 ;;
        *) die "unknown argument '$arg' (try --help)" ;;
    esac
done

cd "$ROOT"

if [ -z "${VERSION:-}" ]; then
    VERSION=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -1)
    [ -n "$VERSION" ] || die "cannot read the workspace version from Cargo.toml"
fi
case "$VERSION" in
    *[!0-9A-Za-z.+~]*|"") die "VERSION '$VERSION' is not a plain version (digits, letters, . + ~)" ;;
esac

# --- tools -------------------------------------------------------------------------------------

# Installs a cargo subcommand at an exact version into $TOOLS/cargo once; later runs reuse it.
ensure_cargo_tool() {
    local crate=$1 version=$2 bin=$3
    local path=$TOOLS/cargo/bin/$bin
    # $TOOLS is shared by every clone on the machine: one install at a time (flock on fd 8),
    # and the check is repeated under the lock (another run may have just installed it).
    mkdir -p "$TOOLS/cargo"
    exec 8>"$TOOLS/.install.lock"
    flock 8
    if ! { [ -x "$path" ] && grep -q "\"$crate $version " "$TOOLS/cargo/.crates.toml" 2>/dev/null; }; then
        say "installing $crate $version into $TOOLS/cargo (once)"
        CARGO_TARGET_DIR=$TOOLS/build cargo install --locked --quiet --root "$TOOLS/cargo" \
            "$crate@$version"
        rm -rf "$TOOLS/build"
    fi
    exec 8>&-
}

apt_install() {
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
        || die "missing $*: install it with your package manager"
    say "apt-get install $*"
    local apt=(apt-get -o DPkg::Lock::Timeout=600)
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq "$@" >/dev/null \
        || { "${apt[@]}" update -qq && DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq "$@" >/dev/null; } \
        || die "apt-get install $* failed"
}

command -v help2man >/dev/null || apt_install help2man
case " $FORMATS " in *" deb "*)
    command -v dpkg-shlibdeps >/dev/null || apt_install dpkg-dev
    ensure_cargo_tool cargo-deb "$CARGO_DEB_VERSION" cargo-deb ;;
esac
case " $FORMATS " in *" rpm "*)
    ensure_cargo_tool cargo-generate-rpm "$CARGO_GENERATE_RPM_VERSION" cargo-generate-rpm ;;
esac
export PATH=$TOOLS/cargo/bin:$PATH

# --- binary ------------------------------------------------------------------------------------

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release/chillfi
[ "$NO_BUILD" = 1 ] && [ -n "${PKG_BIN:-}" ] && BIN=$PKG_BIN
if [ "$NO_BUILD" = 0 ]; then
    # The web UI is embedded into the binary at compile time.
    [ -f web/dist/index.html ] || die "web/dist is missing: build the web UI first (cd web && npm ci && npm run build)"
    say "cargo build --release -p chillfi"
    cargo build --release -p chillfi
fi
[ -x "$BIN" ] || die "no release binary at $BIN (run without --no-build, or set CARGO_TARGET_DIR)"

# --- stage -------------------------------------------------------------------------------------

say "staging chillfi $VERSION in $STAGE"
rm -rf "$STAGE"
mkdir -p "$STAGE"
install -D -m 0755 "$BIN" "$STAGE/usr/bin/chillfi"
strip --strip-unneeded "$STAGE/usr/bin/chillfi"

install -D -m 0644 systemd/chillfi.service "$STAGE/lib/systemd/system/chillfi.service"
# 0640 root:chillfi once installed (dpkg-statoverride in postinst; the rpm file list).
install -D -m 0640 packaging/config.toml "$STAGE/etc/chillfi/config.toml"

DOC=$STAGE/usr/share/doc/chillfi
mkdir -p "$DOC"
[ -f README.md ] && install -m 0644 README.md "$DOC/"
for f in docs/*.md; do
    [ -f "$f" ] && install -m 0644 "$f" "$DOC/"
done

# Example plugins, when plugins/build.sh has built them: plugins/dist/<name>/{<name>.wasm,plugin.toml}
if [ -d plugins/dist ] && [ -n "$(ls -A plugins/dist 2>/dev/null)" ]; then
    mkdir -p "$STAGE/usr/share/chillfi/plugins"
    cp -R plugins/dist/. "$STAGE/usr/share/chillfi/plugins/"
    find "$STAGE/usr/share/chillfi/plugins" -type d -exec chmod 0755 {} +
    find "$STAGE/usr/share/chillfi/plugins" -type f -exec chmod 0644 {} +
else
    say "no plugins/dist: packaging without example plugins (run plugins/build.sh first)"
fi

# Man page from the binary's own --help, with every subcommand's help appended.
MANDIR=$STAGE/usr/share/man/man1
mkdir -p "$MANDIR"
INCLUDE=$OUT/chillfi.h2m
# Leaf subcommands, found by walking the "Commands:" lists of --help ("user add", "serve", ...).
subcommands() {
    local cmd
    # shellcheck disable=SC2086 # word splitting of the subcommand path is intended
    for cmd in $("$STAGE/usr/bin/chillfi" $1 --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z0-9-]*\) .*/\1/p'); do
        [ "$cmd" = help ] && continue
        # shellcheck disable=SC2086
        if [ -n "$("$STAGE/usr/bin/chillfi" $1 "$cmd" --help | sed -n '/^Commands:/p')" ]; then
            subcommands "${1:+$1 }$cmd"
        else
            echo "${1:+$1 }$cmd"
        fi
    done
}
{
    echo "[COMMANDS]"
    subcommands "" | while IFS= read -r cmd; do
        echo ".SS \"chillfi $cmd\""
        echo ".nf"
        # shellcheck disable=SC2086 # word splitting of the subcommand is intended
        "$STAGE/usr/bin/chillfi" $cmd --help | sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
        echo ".fi"
    done
    cat <<'EOF'
[FILES]
.TP
.I /etc/chillfi/config.toml
The configuration, every key listed with its default. CHILLFI_* environment variables override it.
.TP
.I /var/lib/chillfi
Data directory of the packaged service: database, signing secret, local music, the inbox.
.TP
.I /var/lib/chillfi/inbox
Drop music files here (members of the group chillfi may write).
.TP
.I /usr/share/doc/chillfi/packaging.md
Installing, the first administrator, the inbox on a NAS share, removing.
[SEE ALSO]
.BR systemctl (1),
.BR journalctl (1)
EOF
} > "$INCLUDE"
help2man --no-info --section=1 --name="a self-hosted music server" \
    --version-string="$VERSION" --include="$INCLUDE" \
    --output="$MANDIR/chillfi.1" "$STAGE/usr/bin/chillfi" \
    || die "help2man failed"
gzip -9n "$MANDIR/chillfi.1"

# --- packages ----------------------------------------------------------------------------------

mkdir -p "$OUT"
ARCH_DEB=$(dpkg --print-architecture 2>/dev/null || echo amd64)
ARCH_RPM=$(uname -m)

case " $FORMATS " in *" deb "*)
    rm -f "$OUT"/chillfi_"$VERSION"-1_*.deb
    say "cargo deb"
    fast=(); [ "${PKG_FAST:-0}" = 1 ] && fast=(--fast)
    cargo deb -p chillfi --no-build --no-strip "${fast[@]}" --deb-version "$VERSION-1" \
        --output "$OUT/chillfi_${VERSION}-1_${ARCH_DEB}.deb" >/dev/null
    ;;
esac

case " $FORMATS " in *" rpm "*)
    rm -f "$OUT"/chillfi-"$VERSION"-1.*.rpm
    # The staged tree as cargo-generate-rpm assets. Fedora and friends keep units in /usr/lib.
    ASSETS=$OUT/rpm-assets.toml
    {
        echo "# generated by packaging/build.sh"
        echo "assets = ["
        (cd "$STAGE" && find . -type f | LC_ALL=C sort) | while read -r f; do
            f=${f#./}
            dest=/$f
            case "$dest" in /lib/systemd/*) dest=/usr$dest ;; esac
            mode=$(stat -c %a "$STAGE/$f")
            extra=""
            case "$dest" in
                /etc/*) extra=', config = "noreplace", group = "chillfi"' ;;
                /usr/share/doc/*|/usr/share/man/*) extra=', doc = true' ;;
            esac
            printf '  { source = "%s", dest = "%s", mode = "%s"%s },\n' \
                "packaging/out/stage/$f" "$dest" "$mode" "$extra"
        done
        echo "]"
    } > "$ASSETS"
    say "cargo generate-rpm"
    cargo generate-rpm -p core/server \
        --metadata-overwrite "packaging/rpm/metadata.toml,$ASSETS" \
        --set-metadata "version = \"$VERSION\"" \
        --output "$OUT/chillfi-${VERSION}-1.${ARCH_RPM}.rpm" >/dev/null
    ;;
esac

say "done:"
for f in "$OUT"/chillfi_"$VERSION"-1_*.deb "$OUT"/chillfi-"$VERSION"-1.*.rpm; do
    [ -e "$f" ] && echo "$f"
done
exit 0
