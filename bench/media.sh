#!/usr/bin/env bash
# Benchmarks chillfi-media against the ffmpeg CLI on the same files.
#
#   bench/media.sh            # 3-minute stereo FLAC and 320k MP3, best of 3 runs each
#   SECONDS_LONG=60 RUNS=1 bench/media.sh   # quicker
#   BUILD=1 bench/media.sh                  # rebuild the example first (default: use the existing one)
#
# Prints, for each comparison, wall and CPU (user+sys) seconds and the ratio against its target:
#   1. FLAC -> MP3 320k CBR: in-process (core/media/examples/convert.rs, --release) vs
#      `ffmpeg -i in.flac -map 0:a -c:a libmp3lame -b:a 320k out.mp3`   target CPU ratio <= 1.0
#   2. MP3 320k remux (in-process, mean of 20) vs `cp` of the same file target wall ratio <= 3
#      (also shown: vs std::fs::copy, and the whole example process including library loading)
#   3. N = nproc FLAC encodes in parallel vs one: throughput ratio      target >= 1.8 on 2 cores
#   4. MP3 -> Opus 96k (on-the-fly streaming variant) in-process vs `ffmpeg -c:a libopus -b:a 96k`
# Also prints peak RSS of the in-process convert (memory must not grow with the file size).
# Needs ffmpeg, cargo (only without a release build), awk and GNU time (/usr/bin/time). Numbers are noisy on a busy machine.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SECONDS_LONG="${SECONDS_LONG:-180}"
RUNS="${RUNS:-3}"
N="${N:-$(nproc)}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/release/examples/convert"

command -v ffmpeg >/dev/null || { echo "ffmpeg CLI is required (apt-get install ffmpeg)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "GNU time is required (apt-get install time)" >&2; exit 1; }

# An existing release build is used as it is (BUILD=1 rebuilds it first).
if [ -x "$BIN" ] && [ "${BUILD:-0}" != 1 ]; then
  echo "using $BIN (built $(date -r "$BIN" '+%F %T'); BUILD=1 rebuilds)" >&2
else
  echo "building the example (release)..." >&2
  (cd "$ROOT" && cargo build --quiet --release -p chillfi-media --example convert)
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "generating ${SECONDS_LONG}s stereo test media..." >&2
# Two tones plus a little noise: enough spectral content that the encoder does real work.
ffmpeg -hide_banner -nostdin -v error -y -f lavfi \
  -i "aevalsrc=0.3*sin(2*PI*440*t)+0.05*(random(0)-0.5)|0.3*sin(2*PI*660*t)+0.05*(random(1)-0.5):s=44100:d=${SECONDS_LONG}" \
  -c:a flac "$WORK/in.flac"
ffmpeg -hide_banner -nostdin -v error -y -i "$WORK/in.flac" -c:a libmp3lame -b:a 320k "$WORK/in.mp3"
for i in $(seq 1 "$N"); do cp "$WORK/in.flac" "$WORK/p$i.flac"; done

# measure CMD...: runs it RUNS times, prints "wall cpu maxrss_kb" of the fastest run.
measure() {
  local best="" line
  for _ in $(seq 1 "$RUNS"); do
    line=$(/usr/bin/time -f "%e %U %S %M" "$@" 2>&1 >/dev/null | tail -n 1)
    read -r wall user sys rss <<<"$line"
    local cpu; cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
    if [ -z "$best" ] || awk -v a="$wall" -v b="${best%% *}" 'BEGIN { exit !(a < b) }'; then
      best="$wall $cpu $rss"
    fi
  done
  echo "$best"
}

# measure_sh 'shell snippet': like measure, for a pipeline or a parallel batch.
measure_sh() { measure bash -c "$1"; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

printf '\n== 1. FLAC (%ss) -> MP3 320k CBR ==\n' "$SECONDS_LONG"
read -r w_in c_in rss_in <<<"$(measure "$BIN" "$WORK/in.flac" "$WORK/out_inproc.mp3")"
read -r w_cli c_cli _ <<<"$(measure ffmpeg -nostdin -v error -y -i "$WORK/in.flac" -map 0:a -c:a libmp3lame -b:a 320k "$WORK/out_cli.mp3")"
printf '  in-process : wall %6.2fs  cpu %6.2fs  peak RSS %s KiB\n' "$w_in" "$c_in" "$rss_in"
printf '  ffmpeg CLI : wall %6.2fs  cpu %6.2fs\n' "$w_cli" "$c_cli"
printf '  ratio in-process/CLI: wall %s  cpu %s   (target <= 1.0)\n' "$(ratio "$w_in" "$w_cli")" "$(ratio "$c_in" "$c_cli")"

printf '\n== 2. MP3 320k remux vs cp (%s bytes) ==\n' "$(stat -c %s "$WORK/in.mp3")"
REP=20
# In-process (what the server pays): mean of REP remuxes inside one process.
read -r _ _ w_rx _ c_rx <<<"$("$BIN" "$WORK/in.mp3" "$WORK/out_remux.mp3" --repeat $REP)"
read -r _ _ w_fc _ c_fc <<<"$("$BIN" "$WORK/in.mp3" "$WORK/out_copy.mp3" --copy 1 --repeat $REP)"
# The cp command, REP times, per copy (includes its process start, as `cp` always does).
read -r w_cpl c_cpl _ <<<"$(measure_sh "for i in \$(seq $REP); do cp '$WORK/in.mp3' '$WORK/out_cp.mp3'; done")"
w_cp=$(awk -v t="$w_cpl" -v n=$REP 'BEGIN { printf "%.2f", t * 1000 / n }')
# Whole process, once (includes loading FFmpeg's shared libraries).
read -r w_rxp c_rxp rss_rx <<<"$(measure "$BIN" "$WORK/in.mp3" "$WORK/out_remux.mp3")"
printf '  remux in-process      : wall %7.2f ms  cpu %7.2f ms (mean of %s)\n' "$w_rx" "$c_rx" "$REP"
printf '  std::fs::copy         : wall %7.2f ms  cpu %7.2f ms (mean of %s)\n' "$w_fc" "$c_fc" "$REP"
printf '  cp command            : wall %7.2f ms per copy (mean of %s)\n' "$w_cp" "$REP"
printf '  remux, whole process  : wall %7.3f s   cpu %6.3f s  peak RSS %s KiB\n' "$w_rxp" "$c_rxp" "$rss_rx"
printf '  ratio remux in-process / cp command: %s   (target <= 3)\n' "$(ratio "$w_rx" "$w_cp")"
printf '  ratio remux in-process / std::fs::copy: %s\n' "$(ratio "$w_rx" "$w_fc")"

printf '\n== 3. %s FLAC encodes in parallel vs one ==\n' "$N"
read -r w_one _ _ <<<"$(measure "$BIN" "$WORK/p1.flac" "$WORK/p1.mp3")"
batch=""
for i in $(seq 1 "$N"); do batch+="\"$BIN\" \"$WORK/p$i.flac\" \"$WORK/p$i.mp3\" >/dev/null & "; done
batch+="wait"
read -r w_par c_par _ <<<"$(measure_sh "$batch")"
printf '  one file   : wall %6.2fs\n' "$w_one"
printf '  %s parallel : wall %6.2fs  cpu %6.2fs\n' "$N" "$w_par" "$c_par"
printf '  throughput ratio (N*one/parallel): %s   (target >= 1.8 on 2 cores)\n' \
  "$(awk -v n="$N" -v a="$w_one" -v b="$w_par" 'BEGIN { printf "%.2f", n * a / b }')"
printf '\n== 4. On-the-fly Opus 96k (what a "mobile" transcode profile asks for) ==\n'
read -r w_op c_op _ <<<"$(measure "$BIN" "$WORK/in.mp3" "$WORK/out_inproc.ogg" --opus 96)"
read -r w_opc c_opc _ <<<"$(measure ffmpeg -nostdin -v error -y -i "$WORK/in.mp3" -map 0:a -c:a libopus -b:a 96k -vbr constrained "$WORK/out_cli.ogg")"
printf '  in-process : wall %6.2fs  cpu %6.2fs\n' "$w_op" "$c_op"
printf '  ffmpeg CLI : wall %6.2fs  cpu %6.2fs\n' "$w_opc" "$c_opc"
printf '  ratio in-process/CLI: wall %s  cpu %s   (target <= 1.0)\n' "$(ratio "$w_op" "$w_opc")" "$(ratio "$c_op" "$c_opc")"
printf '  speed: %sx real time\n' "$(awk -v d="$SECONDS_LONG" -v w="$w_op" 'BEGIN { printf "%.0f", d / w }')"

printf '\nload average during the run: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
