#!/usr/bin/env bash
# vhost-can-sim bench over real SocketCAN, to run inside UML:
#
#   tests/uml/uml-run.sh tests/uml/bench.sh [FRAMES] [SAMPLES]
#
# The bench needs two guests on one bus. Two daemons each serve one guest on vcan0, so that the
# CPU figures are the sending side's alone (one daemon with -c 2 -d "vcan0 vcan0" would mix both
# sides): guest A -> daemon A -> vcan0 -> daemon B -> guest B. vcan hands every frame to every other socket on
# it, so each daemon hears the other's frames and its own only as confirmations.
# Prints the bench's report (CPU figures are daemon A's, the sending side) and both daemons' CPU
# over the whole run.
set -euo pipefail
cd "$(dirname "$0")/../.."
frames=${1:-100000}
samples=${2:-2000}
bin=artifacts/bin
dir=$(mktemp -d "${TMPDIR:-/tmp}/bench.XXXXXX")
pids=()
cleanup() { for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

start() { # $1: name; waits for the "listening on" line
  "$bin/vhost-device-can" -s "$dir/$1" -c 1 -d vcan0 -l warn >"$dir/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do [ -S "$dir/${1}0" ] && return; sleep 0.05; done
  echo "daemon $1 did not start:" >&2; cat "$dir/$1.log" >&2; exit 1
}
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime in clock ticks
start a
start b
a_before=$(cpu "${pids[0]}"); b_before=$(cpu "${pids[1]}"); t0=$(date +%s.%N)
"$bin/vhost-can-sim" bench "$dir/a0" "$dir/b0" --frames "$frames" --samples "$samples" \
  --daemon-pid "${pids[0]}" --idle-seconds 2
a_after=$(cpu "${pids[0]}"); b_after=$(cpu "${pids[1]}"); t1=$(date +%s.%N)
hz=$(getconf CLK_TCK)
awk -v a="$((a_after - a_before))" -v b="$((b_after - b_before))" -v hz="$hz" -v t="$(echo "$t1 - $t0" | bc)" \
  'BEGIN { printf "%-28s A %.2f s, B %.2f s of CPU over %.1f s (whole bench)\n", "daemons CPU", a / hz, b / hz, t }'
