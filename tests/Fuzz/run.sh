#!/usr/bin/env bash
# Fuzzes one target with afl-fuzz for a bounded time, starting from its committed seed corpus.
# Usage: [FUZZ_EXECS=N] [FUZZ_NO_BUILD=1] tests/Fuzz/run.sh TARGET SECONDS [OUTPUT_DIR]
#   TARGET: vhost-user | tx-request | chain-walk
#   FUZZ_EXECS: also stop after about N executions, and fail if SECONDS ran out before them
#   FUZZ_NO_BUILD=1: fuzz the build output as it is (the caller has just built the solution)
#   OUTPUT_DIR defaults to artifacts/fuzz/TARGET (emptied first); afl-fuzz's queue, crashes,
#   hangs and fuzzer_stats end up in OUTPUT_DIR/default.
# Exits 0 when the run found no crash and no hang; otherwise 1, naming each offending input
# (reproduce one with: artifacts/build/bin/VhostDeviceCan.Fuzz/release/vhost-device-can-fuzz TARGET FILE).
# The product assemblies are instrumented with sharpfuzz in a private copy of the build output,
# so the ordinary build stays uninstrumented.
set -euo pipefail
# Braces: bash reads the whole script before running it, so editing it during a long run is safe.
{
if [ $# -lt 2 ]; then sed -n '2,8p' "$0" >&2; exit 2; fi
target=$1 seconds=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${3:-$root/artifacts/fuzz/$target}
corpus=$root/tests/Fuzz/corpus/$target
[ -d "$corpus" ] || { echo "fuzz: no seed corpus $corpus" >&2; exit 2; }
command -v afl-fuzz >/dev/null || { echo "fuzz: afl-fuzz not found (Debian package afl++)" >&2; exit 2; }

cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
# FUZZ_NO_BUILD=1: the caller has just built tests/Fuzz (test.sh builds the whole solution).
if [ "${FUZZ_NO_BUILD:-0}" != 1 ]; then
  dotnet build tests/Fuzz/VhostDeviceCan.Fuzz.csproj -c Release -v quiet -nologo >/dev/null \
    || { echo "fuzz: building tests/Fuzz failed" >&2; exit 1; }
fi

# Instrumenting takes a few seconds per assembly, so the instrumented copy is kept and redone
# only when the build output changed; each run then works on its own copy of it.
build=artifacts/build/bin/VhostDeviceCan.Fuzz/release
instrumented=artifacts/fuzz/instrumented
products=(Virtqueue Can VirtioCanWire VhostUser Backend Device)
stamp=$(cd "$build" && md5sum vhost-device-can-fuzz.dll $(printf 'VhostDeviceCan.%s.dll ' "${products[@]}"))
# Runs of two targets at once share that copy: one instruments, the other waits for it.
mkdir -p artifacts/fuzz
exec 9>artifacts/fuzz/.lock
flock 9
if [ "$(cat "$instrumented/.stamp" 2>/dev/null)" != "$stamp" ]; then
  dotnet tool restore >/dev/null
  rm -rf "$instrumented"
  mkdir -p "$instrumented"
  cp -r "$build/." "$instrumented/"
  for assembly in "${products[@]}"; do
    dotnet sharpfuzz "$instrumented/VhostDeviceCan.$assembly.dll" >/dev/null \
      || { echo "fuzz: instrumenting VhostDeviceCan.$assembly.dll failed" >&2; rm -rf "$instrumented"; exit 1; }
  done
  echo "$stamp" >"$instrumented/.stamp"
fi
flock -u 9
rm -rf "$out"
mkdir -p "$out/bin"
cp -r "$instrumented/." "$out/bin/"

# The target is a .NET program, not an afl-instrumented binary (AFL_SKIP_BIN_CHECK); a shared
# machine may have no idle core to pin to or run a frequency governor (AFL_NO_AFFINITY,
# AFL_SKIP_CPUFREQ); and when core dumps are piped to a helper (core_pattern starting with |)
# afl-fuzz refuses to start unless told that delayed crash reports do not matter here, which they
# do not, since a crash is a managed exception reported at once.
export AFL_SKIP_BIN_CHECK=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
       AFL_NO_UI=1 AFL_FAST_CAL=1 AFL_NO_CRASH_README=1
# 2 s per input: the first ones include JIT compilation, and the machine may be busy; a real hang
# (an endless loop) still shows up.
status=0
limits=(-V "$seconds")
# -E is approximate: ask for 1% more so the count reached is not just short of it.
if [ -n "${FUZZ_EXECS:-}" ]; then limits+=(-E "$((FUZZ_EXECS + FUZZ_EXECS / 100))"); fi
afl-fuzz -i "$corpus" -o "$out" -t 2000 -m none "${limits[@]}" -- "$out/bin/vhost-device-can-fuzz" "$target" \
  >"$out/afl-fuzz.log" 2>&1 || status=$?

stats=$out/default/fuzzer_stats
if [ ! -f "$stats" ]; then
  echo "fuzz: afl-fuzz did not run (exit $status); its log:" >&2
  tail -30 "$out/afl-fuzz.log" >&2
  exit 1
fi
stat() { sed -n "s/^$1 *: *//p" "$stats"; }
echo "fuzz $target: $(stat execs_done) executions in $(stat run_time) s ($(stat execs_per_sec) exec/s)," \
     "$(stat corpus_count) paths, $(stat saved_crashes) crashes, $(stat saved_hangs) hangs, stability $(stat stability)"
findings=$(find "$out/default/crashes" "$out/default/hangs" -type f -name 'id:*' 2>/dev/null | sort)
if [ -n "$findings" ]; then
  echo "fuzz $target: FAILED, inputs that crash or hang:" >&2
  echo "$findings" >&2
  exit 1
fi
if [ -n "${FUZZ_EXECS:-}" ] && [ "$(stat execs_done)" -lt "$FUZZ_EXECS" ]; then
  echo "fuzz $target: FAILED, only $(stat execs_done) of $FUZZ_EXECS executions in $seconds s" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "fuzz $target: afl-fuzz exited with $status; see $out/afl-fuzz.log" >&2
  exit 1
fi
exit 0
}
