#!/usr/bin/env bash
# Benchmarks the whole ingest pipeline (hash, duplicate check, probe, convert or remux, blob
# store, sled, fsyncs) through the real binary, `chillfi import DIR`, against the ffmpeg CLI and cp.
#
#   bench/pipeline.sh                          # 60 s stereo files, best of 3 runs each
#   SECONDS_LONG=30 RUNS=1 bench/pipeline.sh   # quicker
#   TEST_CHILLFI_BIN=/path/to/chillfi bench/pipeline.sh   # use that binary, do not build
#   (an existing $CARGO_TARGET_DIR/release/chillfi is used as it is; BUILD=1 rebuilds it)
#   SECTIONS=4 bench/pipeline.sh               # only the inbox drop (sections 0-4, comma-separated)
# (CHILLFI_* variables are configuration keys of chillfi, hence the TEST_ prefix.)
#
# Each run imports into a fresh data dir (local blob store) with plugins off. Prints wall and CPU
# (user+sys) seconds and the ratio against its target:
#   0. fixed cost of a `chillfi import` process (an empty folder: open sled, blob store, FFmpeg),
#      subtracted below; also shown: importing 1 file vs K files
#   1. FLAC -> MP3 320k CBR per file: (import of K FLACs - fixed cost) / K vs
#      `ffmpeg -i in.flac -map 0:a -c:a libmp3lame -b:a 320k out.mp3` per file  target CPU <= 1.0
#   2. MP3 320k (stored as it is, remuxed) per file: (import of R MP3s - fixed cost) / R vs `cp`
#      of the same bytes per file                                           target wall <= 3
#      and vs a durable copy, cp + fsync (the pipeline fsyncs what it stores) target wall <= 2;
#      then the time per stage (hash, probe and remux with the output's fsync and hash, all at
#      once; intent fsync, blob rename, index commit, commit fsync) from the pipeline's timing log
#   3. P FLACs with ingest.workers = 2 vs 1: throughput ratio (fixed cost subtracted)
#                                                                   target >= 1.8 on 2 cores
#      (control: two independent 1-worker processes on half the files each, i.e. what the
#      machine delivers at that moment)
#   4. the inbox of a running server: D FLACs of INBOX_SECONDS (180) dropped with `cp`, wall time
#      from the start of the drop until all are songs vs the ffmpeg CLI converting the same files
#      two at a time                                                       target wall <= 1.0
#      (also shown: from the end of copying an MP3 into the inbox until it is a song, which
#      bounds how soon a closed file is taken                              target < 100 ms)
# Needs ffmpeg, cargo (unless TEST_CHILLFI_BIN), awk and GNU time (/usr/bin/time). Numbers are noisy on
# a busy machine: the load average is printed at the end.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SECONDS_LONG="${SECONDS_LONG:-60}"
RUNS="${RUNS:-3}"
K="${K:-5}"
R="${R:-20}"
P="${P:-8}"
D="${D:-4}"
INBOX_SECONDS="${INBOX_SECONDS:-180}"
SECTIONS="${SECTIONS:-0,1,2,3,4}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

command -v ffmpeg >/dev/null || { echo "ffmpeg CLI is required (apt-get install ffmpeg)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "GNU time is required (apt-get install time)" >&2; exit 1; }

if [ -n "${TEST_CHILLFI_BIN:-}" ]; then
    BIN="$TEST_CHILLFI_BIN"
elif [ -x "$TARGET_DIR/release/chillfi" ] && [ "${BUILD:-0}" != 1 ]; then
    BIN="$TARGET_DIR/release/chillfi"
    echo "using $BIN (built $(date -r "$BIN" '+%F %T'); BUILD=1 rebuilds)" >&2
else
    echo "building chillfi (release)..." >&2
    (cd "$ROOT" && cargo build --quiet --release -p chillfi --bins)
    BIN="$TARGET_DIR/release/chillfi"
fi
[ -x "$BIN" ] || { echo "no chillfi binary at $BIN" >&2; exit 1; }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
COUNT=$(( K > P ? K : P ))

on() { [[ ",$SECTIONS," == *",$1,"* ]]; }
if on 0 || on 1 || on 2 || on 3; then
echo "generating $COUNT distinct ${SECONDS_LONG}s stereo FLACs (tagged) and $R MP3s 320k..." >&2
mkdir -p "$WORK/flac" "$WORK/empty" "$WORK/one" "$WORK/par"
for i in $(seq 1 "$COUNT"); do
    # Two tones plus a little noise (different per file: every file is a new song, no duplicate).
    ffmpeg -hide_banner -nostdin -v error -y -f lavfi \
      -i "aevalsrc=0.3*sin(2*PI*$((300 + i * 20))*t)+0.05*(random($i)-0.5)|0.3*sin(2*PI*$((500 + i * 30))*t)+0.05*(random($((i + 100)))-0.5):s=44100:d=${SECONDS_LONG}" \
      -metadata title="Bench $i" -metadata artist="Bench Artist" -metadata album="Bench Album" \
      -metadata track="$i" -metadata date=2024 -c:a flac "$WORK/flac/$i.flac"
done
mkdir -p "$WORK/flacK" "$WORK/mp3R"
for i in $(seq 1 "$K"); do cp "$WORK/flac/$i.flac" "$WORK/flacK/"; done
# R distinct MP3s of SECONDS_LONG s cut (stream copy, no re-encode) at 1 s steps from one longer one.
ffmpeg -hide_banner -nostdin -v error -y -f lavfi \
  -i "aevalsrc=0.3*sin(2*PI*440*t)+0.05*(random(0)-0.5)|0.3*sin(2*PI*660*t)+0.05*(random(1)-0.5):s=44100:d=$((SECONDS_LONG + R))" \
  -metadata title="Bench MP3" -metadata artist="Bench Artist" -c:a libmp3lame -b:a 320k "$WORK/long.mp3"
for i in $(seq 1 "$R"); do
    ffmpeg -hide_banner -nostdin -v error -y -ss "$i" -i "$WORK/long.mp3" -t "$SECONDS_LONG" -c copy \
      -metadata title="Bench MP3 $i" "$WORK/mp3R/$i.mp3"
done
mkdir -p "$WORK/half1" "$WORK/half2"
for i in $(seq 1 "$P"); do
    cp "$WORK/flac/$i.flac" "$WORK/par/"
    cp "$WORK/flac/$i.flac" "$WORK/half$(( i % 2 + 1 ))/"
done
cp "$WORK/flac/1.flac" "$WORK/one/"
fi

# A fresh data dir with an administrator (not timed: argon2 is meant to be slow).
fresh_data() {
    local d; d="$(mktemp -d "$WORK/data.XXXX")"
    printf 'bench-pass-1\n' >"$d/.pw"
    "$BIN" --data-dir "$d" user add bench --admin --password-file "$d/.pw" >/dev/null
    echo "$d"
}

# best_of "wall cpu" "wall user sys": the faster of the two, as "wall cpu".
best_of() {
    local wall user sys cpu
    read -r wall user sys <<<"$2"
    cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
    if [ -z "$1" ] || awk -v a="$wall" -v b="${1%% *}" 'BEGIN { exit !(a < b) }'; then
        echo "$wall $cpu"
    else
        echo "$1"
    fi
}

# import DIR WORKERS EXPECTED_ADDED: best of RUNS (fresh data dir each), prints "wall cpu".
run_import() {
    local dir="$1" workers="$2" expect="$3" best="" line data out
    for _ in $(seq 1 "$RUNS"); do
        data="$(fresh_data)"
        out="$WORK/import.out"
        line=$(CHILLFI_INGEST__WORKERS="$workers" CHILLFI_PLUGINS__ENABLED=false CHILLFI_LOG__LEVEL=warn \
            /usr/bin/time -f "%e %U %S" "$BIN" --data-dir "$data" import "$dir" 2>&1 >"$out" | tail -n 1)
        if [ "$expect" -gt 0 ] && ! grep -q "^$expect added, 0 already in the library, 0 failed" "$out"; then
            echo "import of $dir did not add $expect songs:" >&2; cat "$out" >&2; exit 1
        fi
        rm -rf "$data"
        best=$(best_of "$best" "$line")
    done
    echo "$best"
}

# measure_sh 'snippet': best of RUNS, prints "wall cpu".
measure_sh() {
    local best="" line
    for _ in $(seq 1 "$RUNS"); do
        line=$(/usr/bin/time -f "%e %U %S" bash -c "$1" 2>&1 >/dev/null | tail -n 1)
        best=$(best_of "$best" "$line")
    done
    echo "$best"
}

calc() { awk "BEGIN { printf \"%.4f\", $1 }"; }
# ratio A B: A / B, or 999 when B is not positive (too small to measure).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print 999 }'; }
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = (op == "<=") ? v <= t : v >= t; print ok ? "ok" : "MISSED" }'; }

if on 0 || on 1 || on 2 || on 3; then
printf '\n== 0. fixed cost of a chillfi import process ==\n'
res="$(run_import "$WORK/empty" 1 0)"; read -r w0 c0 <<<"$res"
res="$(run_import "$WORK/one" 1 1)"; read -r w1 c1 <<<"$res"
printf '  empty folder (start-up, open, exit) : wall %6.3fs  cpu %6.3fs\n' "$w0" "$c0"
printf '  1 FLAC (%ss)                        : wall %6.3fs  cpu %6.3fs\n' "$SECONDS_LONG" "$w1" "$c1"

fi

if on 1; then
printf '\n== 1. FLAC (%ss, tagged) -> MP3 320k CBR, per file (%s files, 1 worker) ==\n' "$SECONDS_LONG" "$K"
res="$(run_import "$WORK/flacK" 1 "$K")"; read -r wk ck <<<"$res"
res="$(measure_sh "for f in '$WORK'/flacK/*.flac; do ffmpeg -nostdin -v error -y -i \"\$f\" -map 0:a -c:a libmp3lame -b:a 320k '$WORK/out_cli.mp3'; done")"; read -r wf cf <<<"$res"
pw=$(calc "($wk - $w0) / $K"); pc=$(calc "($ck - $c0) / $K")
fw=$(calc "$wf / $K"); fc=$(calc "$cf / $K")
printf '  chillfi import, %s files      : wall %6.2fs  cpu %6.2fs\n' "$K" "$wk" "$ck"
printf '  per file, fixed cost removed : wall %6.3fs  cpu %6.3fs\n' "$pw" "$pc"
printf '  1 file vs K files, per file  : %6.3fs (1 file, with start-up) vs %6.3fs\n' "$w1" "$(calc "$wk / $K")"
printf '  ffmpeg CLI per file          : wall %6.3fs  cpu %6.3fs\n' "$fw" "$fc"
r1c=$(ratio "$pc" "$fc"); r1w=$(ratio "$pw" "$fw")
printf '  ratio chillfi/CLI: cpu %s  wall %s   (target cpu <= 1.0) %s\n' "$r1c" "$r1w" "$(verdict "$r1c" 1.0 '<=')"
printf '  ratio incl. start-up (1 file import / 1 ffmpeg run): cpu %s\n' "$(ratio "$c1" "$fc")"

fi

if on 2; then
printf '\n== 2. MP3 320k remux vs cp, per file (%s files of about %s bytes, 1 worker) ==\n' "$R" "$(stat -c %s "$WORK/mp3R/1.mp3")"
res="$(run_import "$WORK/mp3R" 1 "$R")"; read -r wm cm <<<"$res"
res="$(measure_sh "for f in '$WORK'/mp3R/*.mp3; do cp \"\$f\" '$WORK/out_cp.mp3'; done")"; read -r wc cc <<<"$res"
mw=$(calc "($wm - $w0) / $R"); mc=$(calc "($cm - $c0) / $R")
cw=$(calc "$wc / $R")
printf '  chillfi import, %s files     : wall %6.3fs  cpu %6.3fs\n' "$R" "$wm" "$cm"
printf '  per file, fixed cost removed : wall %6.4fs  cpu %6.4fs\n' "$mw" "$mc"
printf '  cp per file                  : wall %6.4fs\n' "$cw"
# The pipeline is crash-safe: it fsyncs the blob, its folder and sled (intent, song) per file.
# A durable copy (cp, then fsync of the copy) shows what that costs on this disk.
res="$(measure_sh "for f in '$WORK'/mp3R/*.mp3; do dd if=\"\$f\" of='$WORK/out_dd.mp3' bs=4M conv=fsync status=none; done")"; read -r wd _ <<<"$res"
dw=$(calc "$wd / $R")
printf '  cp + fsync per file          : wall %6.4fs\n' "$dw"
r2=$(ratio "$mw" "$cw")
printf '  ratio remux/cp: wall %s   (target <= 3) %s\n' "$r2" "$(verdict "$r2" 3 '<=')"
r2d=$(ratio "$mw" "$dw")
printf '  ratio remux/(cp + fsync): wall %s   (target <= 2) %s\n' "$r2d" "$(verdict "$r2d" 2 '<=')"
# Where the time goes: the pipeline's own stage timings (its debug log, which `chillfi import`
# does not print), mean per file, from a running server taking the same files one by one through
# its inbox (the inbox adds nothing to these stages).
if command -v node >/dev/null && [ -d "$ROOT/bench/node_modules/socket.io-client" ]; then
    printf '  per stage, mean of %s files (server inbox, one file at a time, timing log):\n' "$R"
    node "$ROOT/bench/inbox_drop.mjs" --stages "$BIN" "$WORK/mp3R"
else
    echo "  (per stage: needs node and npm ci in bench/)"
fi

fi

if on 3; then
printf '\n== 3. %s FLACs, ingest.workers = 2 vs 1 ==\n' "$P"
res="$(run_import "$WORK/par" 1 "$P")"; read -r wp1 cp1 <<<"$res"
res="$(run_import "$WORK/par" 2 "$P")"; read -r wp2 cp2 <<<"$res"
printf '  1 worker  : wall %6.2fs  cpu %6.2fs\n' "$wp1" "$cp1"
printf '  2 workers : wall %6.2fs  cpu %6.2fs\n' "$wp2" "$cp2"
r3=$(ratio "$(calc "$wp1 - $w0")" "$(calc "$wp2 - $w0")")
printf '  throughput ratio (fixed cost removed): %s   (target >= 1.8 on 2 cores) %s\n' "$r3" "$(verdict "$r3" 1.8 '>=')"
printf '  throughput ratio (whole processes)   : %s\n' "$(ratio "$wp1" "$wp2")"
# Control: what this machine gives two independent single-worker processes right now (each
# imports half the files). A pool ratio close to this one means the pool is not the limit.
best=""
for _ in $(seq 1 "$RUNS"); do
    d1="$(fresh_data)"; d2="$(fresh_data)"
    line=$(/usr/bin/time -f "%e" bash -c "export CHILLFI_INGEST__WORKERS=1 CHILLFI_PLUGINS__ENABLED=false CHILLFI_LOG__LEVEL=warn
        '$BIN' --data-dir '$d1' import '$WORK/half1' >/dev/null & '$BIN' --data-dir '$d2' import '$WORK/half2' >/dev/null & wait" 2>&1 | tail -n 1)
    rm -rf "$d1" "$d2"
    if [ -z "$best" ] || awk -v a="$line" -v b="$best" 'BEGIN { exit !(a < b) }'; then best="$line"; fi
done
printf '  control, 2 processes x 1 worker x %s files: wall %6.2fs, ratio %s\n' "$(( P / 2 ))" "$best" "$(ratio "$(calc "$wp1 - $w0")" "$(calc "$best - $w0")")"

fi

if on 4; then
    printf '\n== 4. the inbox of a running server: %s FLACs (%ss) dropped with cp vs the ffmpeg CLI two at a time ==\n' "$D" "$INBOX_SECONDS"
    command -v node >/dev/null || { echo "node is required for section 4" >&2; exit 1; }
    [ -d "$ROOT/bench/node_modules/socket.io-client" ] || { echo "run npm ci in bench/ first (section 4)" >&2; exit 1; }
    mkdir -p "$WORK/drop"
    for i in $(seq 1 "$D"); do
        ffmpeg -hide_banner -nostdin -v error -y -f lavfi \
          -i "aevalsrc=0.3*sin(2*PI*$((320 + i * 20))*t)+0.05*(random($((i + 200)))-0.5)|0.3*sin(2*PI*$((520 + i * 30))*t)+0.05*(random($((i + 300)))-0.5):s=44100:d=${INBOX_SECONDS}" \
          -metadata title="Drop $i" -metadata artist="Bench Artist" -c:a flac "$WORK/drop/$i.flac"
    done
    ffmpeg -hide_banner -nostdin -v error -y -f lavfi -i "sine=f=550:d=60" -ac 2 -c:a libmp3lame -b:a 320k "$WORK/probe.mp3"
    node "$ROOT/bench/inbox_drop.mjs" "$BIN" "$WORK/drop" "$WORK/probe.mp3" "$RUNS"
fi

printf '\nload average during the run: %s  (cores: %s)\n' "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)"
