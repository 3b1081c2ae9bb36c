#!/usr/bin/env bash
# Package test (CI): builds the .deb and .rpm (packaging/build.sh), inspects both, then installs
# the .deb on THIS machine and walks it through its life: install -> service up -> first admin
# -> login -> upgrade (data and a changed config kept) -> remove (service stopped, data kept) ->
# purge (data and config gone). Leaves the machine as it found it. Needs root and Debian.
#
#   packaging/test.sh                  full run (builds the release binary if needed)
#   PKG_TEST_NO_BUILD=1 packaging/test.sh    use the release binary already built
#   PKG_TEST_NO_BUILD=1 PKG_BIN=path packaging/test.sh    package and test that binary instead
#   PKG_TEST_INBOX=0 packaging/test.sh       skip the inbox import check
#
# No systemd runs here (nor in CI), so the test runs in a private mount namespace where
# /run/systemd/system exists and /usr/bin/systemctl is a small stand-in that runs the installed
# unit's ExecStart= as its User=/Group= with its Environment=, UMask= and WorkingDirectory=
# (plus CHILLFI_SERVER__LISTEN on a free loopback port). The maintainer scripts therefore take
# their "systemd is running" paths, and every start/stop/restart they ask for is checked.
# The last line is "N passed, M failed".
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/packaging/out
MARK=/var/tmp/chillfi-pkg-test.state   # what this test changed, for cleanup after a crash
UNIT=chillfi.service

PASSED=0
FAILED=0
say() { printf '==> %s\n' "$*"; }
ok() { PASSED=$((PASSED + 1)); printf '  ok    %s\n' "$1"; }
fail() {
    FAILED=$((FAILED + 1))
    printf '  FAIL  %s\n' "$1" >&2
    [ $# -ge 2 ] && printf '%s\n' "$2" | sed 's/^/        /' >&2
    exit 1 # the EXIT trap cleans up and prints the summary
}
# check DESCRIPTION COMMAND...: passes when COMMAND succeeds.
check() {
    local desc=$1 out
    shift
    if out=$("$@" 2>&1); then ok "$desc"; else fail "$desc" "$out"; fi
}

[ "$(id -u)" = 0 ] || { echo "test.sh: must run as root (it installs packages)" >&2; echo "0 passed, 1 failed"; exit 1; }
command -v apt-get >/dev/null && command -v dpkg >/dev/null \
    || { echo "test.sh: needs a Debian-like system (apt, dpkg)" >&2; echo "0 passed, 1 failed"; exit 1; }

# --- a private mount namespace with a stand-in systemd ----------------------------------------
if [ -z "${CHILLFI_PKG_TEST_NS:-}" ]; then
    if unshare --mount --propagation private true 2>/dev/null; then
        CHILLFI_PKG_TEST_NS=1 exec unshare --mount --propagation private "$0" "$@"
    fi
    echo "test.sh: cannot create a mount namespace (unshare --mount); needs root with CAP_SYS_ADMIN" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

WORK=$(mktemp -d /tmp/chillfi-pkg-test.XXXXXX)
chmod 0755 "$WORK"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT

# --- cleanup -----------------------------------------------------------------------------------
# Undo everything this run (or a crashed earlier run, per $MARK) did.
cleanup_machine() {
    local pid CREATED_USER CREATED_GROUP CREATED_DATA CREATED_ETC NEW_PACKAGES OLD_WORK PORTS=""
    # shellcheck disable=SC1090
    [ -f "$MARK" ] && . "$MARK"
    if [ -f "$WORK/state/pid" ] && pid=$(cat "$WORK/state/pid") && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null; sleep 1; kill -KILL "$pid" 2>/dev/null
    fi
    pkill_chillfi_ours $PORT $PORTS
    if dpkg-query -W -f='${Status}' chillfi 2>/dev/null | grep -qv 'not-installed'; then
        DEBIAN_FRONTEND=noninteractive dpkg --purge chillfi >/dev/null 2>&1 || true
    fi
    if [ -f "$MARK" ]; then
        if [ "${CREATED_USER:-0}" = 1 ] && getent passwd chillfi >/dev/null; then
            deluser --system --quiet chillfi >/dev/null 2>&1 || userdel chillfi 2>/dev/null || true
        fi
        if [ "${CREATED_GROUP:-0}" = 1 ] && getent group chillfi >/dev/null; then
            delgroup --system --quiet chillfi >/dev/null 2>&1 || groupdel chillfi 2>/dev/null || true
        fi
        if [ -n "${NEW_PACKAGES:-}" ]; then
            # shellcheck disable=SC2086
            DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq $NEW_PACKAGES >/dev/null 2>&1 || true
        fi
        [ "${CREATED_DATA:-0}" = 1 ] && rm -rf /var/lib/chillfi
        [ "${CREATED_ETC:-0}" = 1 ] && rm -rf /etc/chillfi
        case "${OLD_WORK:-}" in /tmp/chillfi-pkg-test.?*) [ "$OLD_WORK" != "$WORK" ] && rm -rf "$OLD_WORK" ;; esac
        rm -f "$MARK"
    fi
}
# Only servers this test started: /usr/bin/chillfi as user chillfi, on one of the test's ports.
pkill_chillfi_ours() {
    local p port
    getent passwd chillfi >/dev/null || return 0
    for p in $(pgrep -u chillfi -x chillfi 2>/dev/null); do
        case "$(readlink "/proc/$p/exe" 2>/dev/null)" in /usr/bin/chillfi*) ;; *) continue ;; esac
        for port in "$@"; do
            if tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "CHILLFI_SERVER__LISTEN=127.0.0.1:$port"; then
                kill -TERM "$p" 2>/dev/null
            fi
        done
    done
}
on_exit() {
    local rc=$?
    [ "$FAILED" -gt 0 ] && [ -f "$WORK/state/server.log" ] && {
        echo "--- server log (last 30 lines) ---" >&2; tail -n 30 "$WORK/state/server.log" >&2; }
    [ "$FAILED" -gt 0 ] && [ -f "$WORK/state/systemctl.log" ] && {
        echo "--- systemctl calls ---" >&2; cat "$WORK/state/systemctl.log" >&2; }
    cleanup_machine
    umount /usr/bin/systemctl "$WORK/systemctl.real" /usr/sbin/policy-rc.d /run/systemd 2>/dev/null
    rm -rf "$WORK"
    [ "$rc" != 0 ] && [ "$FAILED" = 0 ] && FAILED=1 && echo "test.sh: aborted (exit $rc)" >&2
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" = 0 ] && exit 0 || exit 1
}
trap on_exit EXIT
trap 'exit 130' INT TERM

if [ -f "$MARK" ]; then
    say "an earlier run did not finish: cleaning up after it"
    cleanup_machine
fi
if dpkg-query -W -f='${Status}' chillfi 2>/dev/null | grep -q 'installed'; then
    echo "test.sh: chillfi is installed on this machine; the test would purge it. Remove it first." >&2
    trap - EXIT; echo "0 passed, 1 failed"; exit 1
fi
{
    getent passwd chillfi >/dev/null && echo CREATED_USER=0 || echo CREATED_USER=1
    getent group chillfi >/dev/null && echo CREATED_GROUP=0 || echo CREATED_GROUP=1
    [ -e /var/lib/chillfi ] && echo CREATED_DATA=0 || echo CREATED_DATA=1
    [ -e /etc/chillfi ] && echo CREATED_ETC=0 || echo CREATED_ETC=1
    echo "PORTS=$PORT"
    echo "OLD_WORK=$WORK"
} > "$MARK"
if [ -e /var/lib/chillfi ] || [ -e /etc/chillfi ]; then
    echo "test.sh: /var/lib/chillfi or /etc/chillfi exists without the package; refusing to touch it" >&2
    trap - EXIT; rm -f "$MARK"; echo "0 passed, 1 failed"; exit 1
fi

# Tools the test itself uses (not the packages' dependencies).
need=()
command -v rpm >/dev/null || need+=(rpm)
command -v cpio >/dev/null || need+=(cpio)
command -v curl >/dev/null || need+=(curl)
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v systemd-analyze >/dev/null || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
    say "installing test tools: ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; } \
        || fail "install test tools ${need[*]}"
fi

# The stand-in systemd: /run/systemd/system exists, systemctl runs the unit by hand.
mkdir -p "$WORK/state"
mount -t tmpfs -o mode=0755 tmpfs /run/systemd || fail "mount a private /run/systemd"
mkdir /run/systemd/system
cat > "$WORK/systemctl" <<EOF
#!/bin/bash
# Stand-in systemctl for packaging/test.sh (its mount namespace only).
STATE=$WORK/state
PORT=$PORT
EOF
cat >> "$WORK/systemctl" <<'EOF'
args=(); for a in "$@"; do case "$a" in -*) ;; *) args+=("$a") ;; esac; done
verb=${args[0]:-}; unit=${args[1]:-}
echo "$verb $unit" >> "$STATE/systemctl.log"
unitfile=/lib/systemd/system/$unit
key() { sed -n "s/^$1=//p" "$unitfile"; }
active() { [ -f "$STATE/pid" ] && kill -0 "$(cat "$STATE/pid")" 2>/dev/null; }
start() {
    active && return 0
    [ -f "$unitfile" ] || { echo "Unit $unit not found." >&2; return 5; }
    local user group umask wd exec envs=()
    user=$(key User); group=$(key Group); umask=$(key UMask); wd=$(key WorkingDirectory)
    exec=$(key ExecStart)
    while IFS= read -r e; do envs+=("$e"); done < <(key Environment)
    sd=$(key StateDirectory)
    [ -n "$sd" ] && [ ! -d "/var/lib/$sd" ] && install -d -o "$user" -g "$group" -m 0755 "/var/lib/$sd"
    ls -A "/var/lib/$sd" > "$STATE/datadir-before-start"
    (
        cd "${wd:-/}" && umask "${umask:-0022}" &&
        exec setpriv --reuid="$user" --regid="$group" --init-groups --no-new-privs \
            --inh-caps=-all --bounding-set=-all \
            env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "${envs[@]}" \
            CHILLFI_SERVER__LISTEN=127.0.0.1:$PORT $exec
    ) >> "$STATE/server.log" 2>&1 < /dev/null &
    echo $! > "$STATE/pid"
    echo "$exec" > "$STATE/execstart"
}
stop() {
    active || { rm -f "$STATE/pid"; return 0; }
    local pid; pid=$(cat "$STATE/pid")
    kill -TERM "$pid"
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { kill -KILL "$pid"; echo "killed after 15 s" >> "$STATE/systemctl.log"; }
    rm -f "$STATE/pid"
}
case "$verb" in
    # Unit-file operations work without a running systemd: the real systemctl does them.
    # (--root=/ keeps it off D-Bus: /run/systemd/system exists in here but no systemd runs.)
    preset|enable|disable|reenable|is-enabled|mask|unmask)
        case " $* " in *" --root="*) ;; *) set -- --root=/ "$@" ;; esac
        exec "$STATE/../systemctl.real" "$@" ;;
    daemon-reload) ;;
    is-active) active && { echo active; exit 0; }; echo inactive; exit 3 ;;
    start) start ;;
    stop) stop ;;
    restart) stop; start ;;
    try-restart) active && { stop; start; }; exit 0 ;;
    --version|"") echo "systemd 252 (stand-in)" ;;
    *) echo "stand-in systemctl: '$verb' not supported" >&2; exit 1 ;;
esac
EOF
chmod 0755 "$WORK/systemctl"
# A policy-rc.d that forbids starting services (usual in containers) is lifted in here.
if [ -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 0\n' > "$WORK/policy-rc.d"
    chmod 0755 "$WORK/policy-rc.d"
    mount --bind "$WORK/policy-rc.d" /usr/sbin/policy-rc.d || fail "lift policy-rc.d"
fi
touch "$WORK/systemctl.real"
mount --bind "$(readlink -f /usr/bin/systemctl)" "$WORK/systemctl.real" \
    && mount --bind "$WORK/systemctl" /usr/bin/systemctl || fail "bind the stand-in systemctl"

# --- helpers -----------------------------------------------------------------------------------
as_chillfi() { setpriv --reuid=chillfi --regid=chillfi --init-groups env -i PATH=/usr/bin:/bin \
    CHILLFI_DATA_DIR=/var/lib/chillfi "$@"; }
wait_health() {
    local i
    for i in $(seq 1 100); do
        curl -fsS "$BASE/api/health" 2>/dev/null && return 0
        sleep 0.2
    done
    return 1
}
server_pid() { cat "$WORK/state/pid" 2>/dev/null; }
login() { # login USER PASSWORD -> prints the HTTP status, body in $WORK/login.json
    curl -sS -o "$WORK/login.json" -w '%{http_code}' -H 'content-type: application/json' \
        --data "{\"username\":\"$1\",\"password\":\"$2\"}" "$BASE/api/auth/login"
}
ctl_log_has() { grep -qx "$1" "$WORK/state/systemctl.log"; }
deb_field() { dpkg-deb -f "$1" "$2"; }
apt_install_file() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades "$1" > "$WORK/apt.log" 2>&1
}
installed_packages() { dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | awk '$1 ~ /^ii/ {print $2}' | sort; }

# --- build -------------------------------------------------------------------------------------
say "build (packaging/build.sh)"
BUILD_ARGS=()
[ "${PKG_TEST_NO_BUILD:-0}" = 1 ] && BUILD_ARGS+=(--no-build)
VERSION=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)
NEXT=$VERSION.1   # the "newer build" for the upgrade: same binary, higher package version
ARCH=$(dpkg --print-architecture)
RARCH=$(uname -m)
"$ROOT/packaging/build.sh" "${BUILD_ARGS[@]}" > "$WORK/build.log" 2>&1 \
    || fail "packaging/build.sh" "$(tail -n 30 "$WORK/build.log")"
PKG_FAST=1 VERSION=$NEXT "$ROOT/packaging/build.sh" --no-build > "$WORK/build2.log" 2>&1 \
    || fail "packaging/build.sh (version $NEXT)" "$(tail -n 30 "$WORK/build2.log")"
DEB=$OUT/chillfi_${VERSION}-1_${ARCH}.deb
DEB2=$OUT/chillfi_${NEXT}-1_${ARCH}.deb
RPM=$OUT/chillfi-${VERSION}-1.${RARCH}.rpm
check "build.sh made $(basename "$DEB"), $(basename "$DEB2") and $(basename "$RPM")" \
    test -s "$DEB" -a -s "$DEB2" -a -s "$RPM"

# --- inspect the .deb --------------------------------------------------------------------------
say "inspect the .deb"
dpkg-deb -c "$DEB" | awk '{print $1, $2, $NF}' > "$WORK/deb.list"
has_file() { # has_file MODE OWNER PATH
    grep -qxF -- "$1 $2 .$3" "$WORK/deb.list" || { echo "not in the package as $1 $2: $3"; cat "$WORK/deb.list"; return 1; }
}
check "deb: /usr/bin/chillfi (0755)" has_file -rwxr-xr-x 0/0 /usr/bin/chillfi
check "deb: /lib/systemd/system/chillfi.service" has_file -rw-r--r-- 0/0 /lib/systemd/system/chillfi.service
check "deb: /etc/chillfi/config.toml (0640)" has_file -rw-r----- 0/0 /etc/chillfi/config.toml
check "deb: man page /usr/share/man/man1/chillfi.1.gz" has_file -rw-r--r-- 0/0 /usr/share/man/man1/chillfi.1.gz
check "deb: /usr/share/doc/chillfi/copyright" has_file -rw-r--r-- 0/0 /usr/share/doc/chillfi/copyright
docs_ok() {
    local f
    for f in "$ROOT"/README.md "$ROOT"/docs/*.md; do
        [ -f "$f" ] || continue
        has_file -rw-r--r-- 0/0 "/usr/share/doc/chillfi/$(basename "$f")" || return 1
    done
}
check "deb: README.md and docs/*.md in /usr/share/doc/chillfi" docs_ok
plugins_ok() {
    local f n=0
    [ -d "$ROOT/plugins/dist" ] || { echo "(no plugins/dist: none expected)"; return 0; }
    while IFS= read -r f; do
        n=$((n + 1))
        has_file -rw-r--r-- 0/0 "/usr/share/chillfi/plugins/${f#"$ROOT"/plugins/dist/}" || return 1
    done < <(find "$ROOT/plugins/dist" -type f)
    [ "$(grep -c ' ./usr/share/chillfi/plugins/.*[^/]$' "$WORK/deb.list")" = "$n" ]
}
check "deb: example plugins from plugins/dist in /usr/share/chillfi/plugins" plugins_ok
mkdir -p "$WORK/deb-root" "$WORK/deb-ctrl"
dpkg-deb -x "$DEB" "$WORK/deb-root" && dpkg-deb -e "$DEB" "$WORK/deb-ctrl"
check "deb: the unit is systemd/chillfi.service" cmp "$ROOT/systemd/chillfi.service" "$WORK/deb-root/lib/systemd/system/chillfi.service"
check "deb: the config template is packaging/config.toml" cmp "$ROOT/packaging/config.toml" "$WORK/deb-root/etc/chillfi/config.toml"
check "deb: conffiles lists /etc/chillfi/config.toml" grep -qx /etc/chillfi/config.toml "$WORK/deb-ctrl/conffiles"
scripts_ok() {
    local s
    for s in postinst prerm postrm; do
        [ -x "$WORK/deb-ctrl/$s" ] && cmp -s "$ROOT/packaging/deb/$s" "$WORK/deb-ctrl/$s" || { echo "$s differs or missing"; return 1; }
    done
    [ ! -e "$WORK/deb-ctrl/preinst" ]
}
check "deb: maintainer scripts postinst, prerm, postrm are packaging/deb/*" scripts_ok
check "deb: Version $VERSION-1, Package chillfi" test "$(deb_field "$DEB" Package) $(deb_field "$DEB" Version)" = "chillfi $VERSION-1"
check "deb: $(basename "$DEB2") has Version $NEXT-1" test "$(deb_field "$DEB2" Version)" = "$NEXT-1"
check "deb: man page documents the subcommands" sh -c "zcat '$WORK/deb-root/usr/share/man/man1/chillfi.1.gz' | grep -q 'chillfi user add'"
check "deb: the binary is stripped" sh -c "! readelf -S '$WORK/deb-root/usr/bin/chillfi' | grep -q '\.symtab'"
DEPENDS=$(deb_field "$DEB" Depends)
echo "        Depends: $DEPENDS"
depends_has() { # depends_has PACKAGE
    echo "$DEPENDS" | tr ',' '\n' | sed 's/^ *//; s/ .*//' | grep -qx "$1" || { echo "Depends lacks $1: $DEPENDS"; return 1; }
}
check "deb: Depends on adduser" depends_has adduser
check "deb: Depends on libc6" depends_has libc6
# Every shared library the binary needs must come from a package it depends on.
libs_ok() {
    local lib path pkg
    for lib in $(readelf -d "$WORK/deb-root/usr/bin/chillfi" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
        path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64|AArch64|64bit/ {print $NF; exit}')
        [ -n "$path" ] || path=$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')
        [ -n "$path" ] || { echo "$lib: not installed here"; return 1; }
        pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1) \
            || pkg=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1)
        [ -n "$pkg" ] || { echo "$lib ($path) belongs to no package"; return 1; }
        # Essential and protected packages (libgcc-s1) are on every system; dpkg-shlibdeps skips them.
        if ! dpkg-query -W -f='${Essential} ${Protected}' "$pkg" | grep -q yes || [ "$pkg" = libc6 ]; then
            depends_has "$pkg" || return 1
        fi
        echo "$lib -> $pkg"
    done
}
check "deb: Depends covers every NEEDED shared library" libs_ok
NEEDED=$(readelf -d "$WORK/deb-root/usr/bin/chillfi" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p')
if echo "$NEEDED" | grep -q '^libav'; then
    for pair in libavcodec.so.59:libavcodec59 libavformat.so.59:libavformat59 libavutil.so.57:libavutil57 \
        libavfilter.so.8:libavfilter8 libswresample.so.4:libswresample4; do
        echo "$NEEDED" | grep -qx "${pair%%:*}" && check "deb: Depends on ${pair#*:} (FFmpeg)" depends_has "${pair#*:}"
    done
else
    say "note: this chillfi binary does not link FFmpeg yet; the libav* dependencies appear when it does"
fi

# --- inspect the .rpm --------------------------------------------------------------------------
say "inspect the .rpm"
rpmq() { rpm -qp --nosignature "$@" "$RPM" 2>/dev/null; }
check "rpm: name-version-release chillfi-$VERSION-1" test "$(rpmq --qf '%{NAME}-%{VERSION}-%{RELEASE}')" = "chillfi-$VERSION-1"
rpmq --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]' > "$WORK/rpm.list"
rpm_has() { grep -qxF -- "$1" "$WORK/rpm.list" || { echo "missing: $1"; cat "$WORK/rpm.list"; return 1; }; }
check "rpm: /usr/bin/chillfi (0755)" rpm_has "-rwxr-xr-x root:root /usr/bin/chillfi"
check "rpm: /usr/lib/systemd/system/chillfi.service" rpm_has "-rw-r--r-- root:root /usr/lib/systemd/system/chillfi.service"
check "rpm: /etc/chillfi/config.toml 0640 root:chillfi" rpm_has "-rw-r----- root:chillfi /etc/chillfi/config.toml"
check "rpm: man page" rpm_has "-rw-r--r-- root:root /usr/share/man/man1/chillfi.1.gz"
check "rpm: docs/packaging.md" rpm_has "-rw-r--r-- root:root /usr/share/doc/chillfi/packaging.md"
same_files() {
    diff <(sed -n 's|^[^ ]* [^ ]* \./\(.*[^/]\)$|/\1|p' "$WORK/deb.list" \
               | sed 's|^/lib/systemd|/usr/lib/systemd|; \|^/usr/share/doc/chillfi/copyright$|d' | sort) \
         <(awk '{print $3}' "$WORK/rpm.list" | sort)
}
check "rpm: the same files as the .deb (but the generated copyright)" same_files
rpm_config_ok() { [ "$(rpmq -c)" = /etc/chillfi/config.toml ] || { rpmq -c; return 1; }
    rpmq --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' | grep -qx 'cn /etc/chillfi/config.toml'; }
check "rpm: /etc/chillfi/config.toml is %config(noreplace)" rpm_config_ok
rpmq -R > "$WORK/rpm.requires"
echo "        Requires: $(tr '\n' ' ' < "$WORK/rpm.requires")"
rpm_requires() { grep -q "^$1" "$WORK/rpm.requires" || { echo "Requires lacks $1"; return 1; }; }
check "rpm: Requires /bin/sh" rpm_requires /bin/sh
check "rpm: Requires shadow-utils (useradd)" rpm_requires shadow-utils
check "rpm: Requires libc.so.6" rpm_requires 'libc.so.6'
for lib in $(echo "$NEEDED" | grep '^lib\(av\|sw\)'); do
    check "rpm: Requires $lib (FFmpeg)" rpm_requires "$lib"
done
rpmq --scripts > "$WORK/rpm.scripts"
rpm_scripts_ok() {
    local s
    for s in 'preinstall scriptlet' 'postinstall scriptlet' 'preuninstall scriptlet' 'postuninstall scriptlet'; do
        grep -q "^$s" "$WORK/rpm.scripts" || { echo "no $s"; return 1; }
    done
    grep -q 'useradd --system --gid chillfi --home-dir /var/lib/chillfi' "$WORK/rpm.scripts" \
        && grep -q 'install -d -o chillfi -g chillfi -m 2775 /var/lib/chillfi/inbox' "$WORK/rpm.scripts" \
        && grep -q 'systemctl enable --now chillfi.service' "$WORK/rpm.scripts" \
        && grep -q 'systemctl disable --now chillfi.service' "$WORK/rpm.scripts" \
        && grep -q 'systemctl try-restart chillfi.service' "$WORK/rpm.scripts"
}
check "rpm: scriptlets create the user and inbox, enable+start, stop on erase, restart on upgrade" rpm_scripts_ok
rpm_sh_ok() { local f; for f in "$ROOT"/packaging/rpm/*.sh; do sh -n "$f" || return 1; done; }
check "rpm: scriptlets are valid sh" rpm_sh_ok
# Unpacks the payload as rpm would, without touching this machine's rpm database.
check "rpm: payload unpacks (rpm2cpio)" sh -c "mkdir -p '$WORK/rpm-root' && cd '$WORK/rpm-root' && rpm2cpio '$RPM' | cpio -idm --quiet && cmp usr/bin/chillfi '$WORK/deb-root/usr/bin/chillfi'"

# --- the unit ----------------------------------------------------------------------------------
say "systemd unit"
sa_out=$(cd "$WORK" && systemd-analyze security --offline=true --no-pager "$ROOT/systemd/chillfi.service" 2>&1)
EXPOSURE=$(echo "$sa_out" | sed -n 's/.*Overall exposure level for chillfi.service: \([0-9.]*\).*/\1/p')
check "systemd-analyze security: exposure ${EXPOSURE:-?} <= 2.5" \
    awk -v e="${EXPOSURE:-99}" 'BEGIN { exit !(e + 0 <= 2.5) }'
unit_has() { grep -qx "$1" "$ROOT/systemd/chillfi.service" || { echo "missing: $1"; return 1; }; }
unit_ok() {
    local l
    for l in 'User=chillfi' 'Group=chillfi' 'ExecStart=/usr/bin/chillfi serve' \
        'Environment=CHILLFI_DATA_DIR=/var/lib/chillfi' 'StateDirectory=chillfi' 'ProtectSystem=strict' \
        'NoNewPrivileges=yes' 'CapabilityBoundingSet=' 'Restart=on-failure' 'UMask=0027' 'LimitNOFILE=65536'; do
        unit_has "$l" || return 1
    done
    ! grep -q '^MemoryDenyWriteExecute' "$ROOT/systemd/chillfi.service"
}
check "unit: user, data dir, sandbox, no MemoryDenyWriteExecute (wasmtime JIT)" unit_ok

# --- install -----------------------------------------------------------------------------------
say "install $(basename "$DEB")"
installed_packages > "$WORK/packages.before"
apt_install_file "$DEB" || fail "apt-get install ./$(basename "$DEB")" "$(tail -n 20 "$WORK/apt.log")"
installed_packages > "$WORK/packages.after"
NEW=$(comm -13 "$WORK/packages.before" "$WORK/packages.after" | grep -vx chillfi | tr '\n' ' ')
echo "NEW_PACKAGES='$NEW'" >> "$MARK"
[ -n "$NEW" ] && echo "        apt also installed: $NEW"
check "dpkg: chillfi $VERSION-1 installed" test "$(dpkg-query -W -f='${Status} ${Version}' chillfi)" = "install ok installed $VERSION-1"
user_ok() {
    local uid home shell
    IFS=: read -r _ _ uid _ _ home shell < <(getent passwd chillfi) || { echo "no user chillfi"; return 1; }
    [ "$uid" -lt 1000 ] && [ "$home" = /var/lib/chillfi ] && [ "$shell" = /usr/sbin/nologin ] \
        && [ "$(id -gn chillfi)" = chillfi ] || { getent passwd chillfi; return 1; }
}
check "postinst: system user chillfi (group chillfi, home /var/lib/chillfi, no login)" user_ok
stat_is() { [ "$(stat -c '%a %U:%G' "$2")" = "$1" ] || { stat -c '%a %U:%G %n' "$2"; return 1; }; }
check "postinst: /var/lib/chillfi 750 chillfi:chillfi" stat_is "750 chillfi:chillfi" /var/lib/chillfi
check "postinst: /var/lib/chillfi/inbox 2775 chillfi:chillfi (setgid, group-writable)" stat_is "2775 chillfi:chillfi" /var/lib/chillfi/inbox
check "postinst: inbox/failed and inbox/done 2775 chillfi:chillfi" sh -c \
    "[ \"\$(stat -c '%a %U:%G' /var/lib/chillfi/inbox/failed /var/lib/chillfi/inbox/done | sort -u)\" = '2775 chillfi:chillfi' ]"
check "postinst: /etc/chillfi/config.toml 640 root:chillfi" stat_is "640 root:chillfi" /etc/chillfi/config.toml
check "postinst: enabled (multi-user.target.wants symlink)" \
    test "$(readlink /etc/systemd/system/multi-user.target.wants/$UNIT)" = /lib/systemd/system/$UNIT
check "postinst: started the service (systemctl start)" ctl_log_has "start $UNIT"
check "postinst: generated no secret (data dir held only the inbox at first start)" \
    test "$(cat "$WORK/state/datadir-before-start" 2>/dev/null)" = inbox
check "systemd-analyze verify of the installed unit" systemd-analyze verify --man=no /lib/systemd/system/$UNIT
check "man chillfi finds the page" sh -c "man -w chillfi | grep -q /usr/share/man/man1/chillfi.1.gz"

say "service"
wait_health > "$WORK/health.json" || fail "GET $BASE/api/health" "$(tail -n 20 "$WORK/state/server.log")"
check "health: status ok, version $VERSION" grep -q "\"status\":\"ok\".*\"version\":\"$VERSION\"\|\"version\":\"$VERSION\".*\"status\":\"ok\"" "$WORK/health.json"
check "the server runs as user chillfi" test "$(ps -o user= -p "$(server_pid)")" = chillfi
check "the server created its signing secret itself, private to chillfi" sh -c \
    "f=\$(find /var/lib/chillfi -maxdepth 2 -type f -iname '*secret*' | head -1); [ -n \"\$f\" ] && [ \"\$(stat -c %U \"\$f\")\" = chillfi ] && [ \$(( 0\$(stat -c %a \"\$f\") & 7 )) = 0 ]"
SECRET_FILE=$(find /var/lib/chillfi -maxdepth 2 -type f -iname '*secret*' | head -1)
SECRET_SUM=$(sha256sum "$SECRET_FILE" | cut -d' ' -f1)

# A member of the group chillfi (not the user) can drop a file into the inbox.
drop_as_member() { # drop_as_member SRC NAME
    setpriv --reuid=nobody --regid=nogroup --groups="$(getent group chillfi | cut -d: -f3)" \
        sh -c "cat > '/var/lib/chillfi/inbox/$2'" < "$1"
}
echo "test" > "$WORK/drop.txt"
check "inbox: a member of group chillfi can write a file there" drop_as_member "$WORK/drop.txt" .pkg-test-drop
check "inbox: the dropped file belongs to group chillfi (setgid)" test "$(stat -c %G /var/lib/chillfi/inbox/.pkg-test-drop)" = chillfi
rm -f /var/lib/chillfi/inbox/.pkg-test-drop

say "first administrator"
check "a setup code waits for the first administrator, readable by chillfi only" sh -c \
    "[ \"\$(stat -c '%U %a' /var/lib/chillfi/setup-code)\" = 'chillfi 600' ]"
check "the server log names the setup code's file, never the code" sh -c \
    "grep -q 'paste the setup code from /var/lib/chillfi/setup-code' '$WORK/state/server.log' && ! grep -qF \"\$(cat /var/lib/chillfi/setup-code)\" '$WORK/state/server.log'"
printf 'pkg-test-pass-1\n' > "$WORK/password"
chmod 0644 "$WORK/password"
# While the service runs: the CLI goes through its control socket, as a member of group chillfi.
check "while the service runs, a member of group chillfi adds the administrator" \
    setpriv --reuid=nobody --regid=nogroup --groups="$(getent group chillfi | cut -d: -f3)" env -i PATH=/usr/bin:/bin \
    chillfi --data-dir /var/lib/chillfi user add admin --admin --password-file "$WORK/password"
shipped_listed() {
    local out dir
    [ -d "$ROOT/plugins/dist" ] || return 0
    out=$(setpriv --reuid=nobody --regid=nogroup --groups="$(getent group chillfi | cut -d: -f3)" env -i PATH=/usr/bin:/bin \
        chillfi --data-dir /var/lib/chillfi plugin list) || { echo "$out"; return 1; }
    for dir in "$ROOT"/plugins/dist/*/; do
        printf '%s\n' "$out" | grep -q "^$(basename "$dir")"$'\t.*\tdisabled\t(ships with ChillFi)$' || { echo "$out"; return 1; }
    done
}
check "the example plugins load from /usr/share/chillfi/plugins, disabled until enabled" shipped_listed
check "someone outside group chillfi is refused" sh -c \
    "! setpriv --reuid=nobody --regid=nogroup --clear-groups env -i PATH=/usr/bin:/bin chillfi --data-dir /var/lib/chillfi user list"
check "POST /api/auth/login admin at once: 200" test "$(login admin pkg-test-pass-1)" = 200
check "systemctl stop chillfi" systemctl stop $UNIT
check "the service stopped" sh -c "! systemctl is-active --quiet $UNIT"
check "with the service stopped, the CLI opens the database itself (as chillfi)" sh -c \
    "setpriv --reuid=chillfi --regid=chillfi --init-groups env -i PATH=/usr/bin:/bin chillfi --data-dir /var/lib/chillfi user list | grep -q 'admin.admin'"
check "no file in /var/lib/chillfi belongs to root" test -z "$(find /var/lib/chillfi -user root)"
check "systemctl start chillfi" systemctl start $UNIT
wait_health > /dev/null || fail "health after restart" "$(tail -n 20 "$WORK/state/server.log")"
check "POST /api/auth/login admin: 200" test "$(login admin pkg-test-pass-1)" = 200
check "login answer carries a token for an admin" sh -c "grep -q '\"ok\":true' '$WORK/login.json' && grep -q '\"token\":\"' '$WORK/login.json' && grep -q '\"isAdmin\":true' '$WORK/login.json'"
wrong_refused() { local code; code=$(login admin wrong-password)
    [ "${code:0:1}" = 4 ] && grep -q '"ok":false' "$WORK/login.json" || { echo "HTTP $code: $(cat "$WORK/login.json")"; return 1; }; }
check "POST /api/auth/login with a wrong password is refused (4xx, ok:false)" wrong_refused

# Inbox ingest (after the first administrator: inbox imports are credited to them).
# On by default; PKG_TEST_INBOX=0 skips it (for a server without inbox import).
inbox_ingest() {
    local flac=$WORK/pkg-test-tone.flac i
    ffmpeg -nostdin -loglevel error -f lavfi -i "sine=frequency=440:duration=2" \
        -metadata title="Package Test Tone" -metadata artist="ChillFi CI" "$flac" \
        || fail "ffmpeg: generate a FLAC"
    drop_as_member "$flac" pkg-test-tone.flac || fail "drop the FLAC into the inbox"
    ok "inbox: dropped pkg-test-tone.flac"
    for i in $(seq 1 300); do
        [ -e /var/lib/chillfi/inbox/pkg-test-tone.flac ] || break
        sleep 0.2
    done
    check "inbox: the server took pkg-test-tone.flac out of the inbox within 60 s" \
        test ! -e /var/lib/chillfi/inbox/pkg-test-tone.flac
    check "inbox: the file was imported, not rejected (nothing in inbox/failed)" \
        test -z "$(find /var/lib/chillfi/inbox/failed -type f)"
    check "inbox: the server is still healthy" sh -c "curl -fsS '$BASE/api/health' | grep -q '\"status\":\"ok\"'"
}
if [ "${PKG_TEST_INBOX:-1}" = 1 ]; then
    say "inbox ingest"
    inbox_ingest
else
    say "inbox ingest: skipped (PKG_TEST_INBOX=0)"
fi

say "change the configuration"
sed -i 's/^# shutdown_grace_secs = 10$/shutdown_grace_secs = 7/' /etc/chillfi/config.toml
echo "# changed by packaging/test.sh" >> /etc/chillfi/config.toml
cp /etc/chillfi/config.toml "$WORK/config.changed"
check "chillfi config check (as chillfi) reads the changed /etc/chillfi/config.toml" sh -c \
    "setpriv --reuid=chillfi --regid=chillfi --init-groups env -i PATH=/usr/bin:/bin CHILLFI_DATA_DIR=/var/lib/chillfi chillfi config check 2>/dev/null | grep -q 'shutdown_grace_secs = 7'"

# --- upgrade -----------------------------------------------------------------------------------
say "upgrade to $(basename "$DEB2")"
OLD_PID=$(server_pid)
: > "$WORK/state/systemctl.log"
apt_install_file "$DEB2" || fail "apt-get install ./$(basename "$DEB2")" "$(tail -n 20 "$WORK/apt.log")"
check "dpkg: chillfi $NEXT-1 installed" test "$(dpkg-query -W -f='${Status} ${Version}' chillfi)" = "install ok installed $NEXT-1"
check "upgrade: the service was restarted (not stopped by prerm)" sh -c \
    "grep -qx 'restart $UNIT' '$WORK/state/systemctl.log' && ! grep -qx 'stop $UNIT' '$WORK/state/systemctl.log'"
check "upgrade: a new server process" test "$(server_pid)" != "$OLD_PID"
wait_health > /dev/null || fail "health after upgrade" "$(tail -n 20 "$WORK/state/server.log")"
check "upgrade: the changed config.toml is kept" cmp "$WORK/config.changed" /etc/chillfi/config.toml
check "upgrade: no config.toml.dpkg-* left" sh -c "! ls /etc/chillfi/config.toml.dpkg-* 2>/dev/null"
check "upgrade: config.toml still 640 root:chillfi" stat_is "640 root:chillfi" /etc/chillfi/config.toml
check "upgrade: inbox still 2775 chillfi:chillfi" stat_is "2775 chillfi:chillfi" /var/lib/chillfi/inbox
check "upgrade: the signing secret is unchanged" test "$(sha256sum "$SECRET_FILE" | cut -d' ' -f1)" = "$SECRET_SUM"
check "upgrade: admin still logs in (data kept)" test "$(login admin pkg-test-pass-1)" = 200

# --- remove ------------------------------------------------------------------------------------
say "remove"
OLD_PID=$(server_pid)
: > "$WORK/state/systemctl.log"
DEBIAN_FRONTEND=noninteractive apt-get remove -y -q chillfi > "$WORK/apt.log" 2>&1 \
    || fail "apt-get remove chillfi" "$(tail -n 20 "$WORK/apt.log")"
check "remove: prerm stopped the service" ctl_log_has "stop $UNIT"
check "remove: the server process is gone" sh -c "! kill -0 '$OLD_PID' 2>/dev/null"
check "remove: nothing answers on the port" sh -c "! curl -fsS --max-time 2 '$BASE/api/health' >/dev/null 2>&1"
check "remove: /usr/bin/chillfi and the unit are gone" test ! -e /usr/bin/chillfi -a ! -e /lib/systemd/system/$UNIT
check "remove: dpkg keeps only config files" test "$(dpkg-query -W -f='${Status}' chillfi)" = "deinstall ok config-files"
check "remove: /etc/chillfi/config.toml kept, as changed" cmp "$WORK/config.changed" /etc/chillfi/config.toml
check "remove: data kept (/var/lib/chillfi with the database, inbox and secret)" \
    test -d /var/lib/chillfi/inbox -a -f "$SECRET_FILE" -a -n "$(ls -A /var/lib/chillfi | grep -vx inbox)"
check "remove: user chillfi kept" getent passwd chillfi

# --- purge -------------------------------------------------------------------------------------
say "purge"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q chillfi > "$WORK/apt.log" 2>&1 \
    || fail "apt-get purge chillfi" "$(tail -n 20 "$WORK/apt.log")"
check "purge: dpkg no longer knows chillfi" sh -c "! dpkg-query -W -f='\${Status}' chillfi 2>/dev/null | grep -q 'ok'"
check "purge: /var/lib/chillfi is gone" test ! -e /var/lib/chillfi
check "purge: /etc/chillfi is gone" test ! -e /etc/chillfi
check "purge: the statoverride is gone" sh -c "! dpkg-statoverride --list /etc/chillfi/config.toml"
check "purge: the enable symlink is gone" test ! -e /etc/systemd/system/multi-user.target.wants/$UNIT -a ! -L /etc/systemd/system/multi-user.target.wants/$UNIT
check "purge: user and group chillfi stay (as documented)" sh -c "getent passwd chillfi && getent group chillfi"

say "done; cleaning up"
exit 0
