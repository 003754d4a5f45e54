#!/usr/bin/env bash
# Runs the whole test suite and ends with one line: "N passed, N failed[, N skipped]".
# Usage: ./test.sh [extra dotnet test arguments for the host run]
#
# Three runs, all counted in the last line:
#  1. on this host, every test except Category=RealCan (the host kernel has no AF_CAN) and
#     Category=RealGuest (as root these include installing the Debian package into this system
#     with dpkg and purging it again, tests/Daemon.Tests/PackageTests.cs), then a bounded afl-fuzz run of each fuzz target (tests/Fuzz/run.sh;
#     one counted test per target, failed on any crash or hang);
#  2. inside User-Mode Linux (tests/uml/uml-run.sh), the Category=RealCan tests, which need a
#     real kernel CAN stack with vcan0/vcan1 and can-utils;
#  3. the Category=RealGuest tests: Linux 7.3 guests with the virtio_can driver under QEMU 11.1
#     (tests/guest/), against the published daemon.
set -uo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

results=artifacts/test-results
rm -rf "$results"
mkdir -p "$results/host" "$results/uml" "$results/guest"

# The end-to-end tests start the NativeAOT daemon and test host from artifacts/bin.
./build.sh || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

dotnet test VhostDeviceCan.slnx -c Release --filter "Category!=RealCan&Category!=RealGuest" \
  --logger "trx" --results-directory "$results/host" --logger "console;verbosity=normal" "$@"
host_status=$?

# FUZZ_SECONDS per target; 0 skips the fuzzing (then it is not counted).
fuzz_passed=0; fuzz_failed=0
if [ "${FUZZ_SECONDS:-60}" -gt 0 ]; then
  for target in vhost-user tx-request chain-walk; do
    echo
    if FUZZ_NO_BUILD=1 tests/Fuzz/run.sh "$target" "${FUZZ_SECONDS:-60}"; then
      fuzz_passed=$((fuzz_passed + 1))
    else
      echo "fuzzing $target failed (artifacts/fuzz/$target)"
      fuzz_failed=$((fuzz_failed + 1))
    fi
  done
fi

# Only the assemblies that declare RealCan tests go into UML: every test assembly costs
# seconds of start-up there. They were built by the host run above.
realcan_dlls=()
while IFS= read -r dir; do
  for project in "$dir"/*.csproj; do
    name=$(basename "$project" .csproj)
    realcan_dlls+=("artifacts/build/bin/$name/release/$name.dll")
  done
done < <(grep -rlE --include='*.cs' 'Trait\("Category", *"RealCan"\)' tests | cut -d/ -f1-2 | sort -u)

uml_status=0
if [ ${#realcan_dlls[@]} -gt 0 ]; then
  echo
  echo "RealCan tests inside User-Mode Linux: ${realcan_dlls[*]}"
  started=$SECONDS
  # dotnet test on the built assemblies, not the solution: MSBuild would add about 8 s inside
  # UML. The run takes well under a minute; UML_TIMEOUT ends a hung one (the console log lists
  # every finished test, so the missing one is the culprit). --blame-hang-timeout would name
  # it, but its collector process adds about 9 s to every run.
  UML_TIMEOUT=${UML_TIMEOUT:-300} tests/uml/uml-run.sh dotnet test "${realcan_dlls[@]}" \
    --filter "Category=RealCan" --logger "trx" --results-directory "$results/uml" \
    --logger "console;verbosity=normal"
  uml_status=$?
  echo "RealCan run inside UML: exit $uml_status after $((SECONDS - started)) s"
fi

# QEMU, the guest kernel (a cold build is the long part) and the initramfs come from Debian
# packages and are cached in ~/.cache/vhost-device-can; with a warm cache this takes seconds.
echo
echo "Real-guest tests: preparing QEMU, kernel and initramfs (tests/guest)"
started=$SECONDS
guest_status=0
if tests/guest/get-qemu.sh && tests/guest/build-kernel.sh && tests/guest/build-initramfs.sh; then
  echo "guest artifacts ready after $((SECONDS - started)) s"
  dotnet test tests/Guest.Tests/VhostDeviceCan.Guest.Tests.csproj -c Release --no-build \
    --filter "Category=RealGuest" --logger "trx" --results-directory "$results/guest" \
    --logger "console;verbosity=normal"
  guest_status=$?
else
  echo "preparing the guest failed"
  guest_status=1
fi
echo "RealGuest run: exit $guest_status after $((SECONDS - started)) s"

passed=0; failed=0; skipped=0
count() { # adds the .trx files in directory $1 to the totals; sets last_run_failed
  local trx counters total executed p f run_failed=0
  for trx in "$1"/*.trx; do
    [ -e "$trx" ] || continue
    counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
    get() { echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
    total=$(get total); executed=$(get executed); p=$(get passed); f=$(get failed)
    passed=$((passed + ${p:-0}))
    run_failed=$((run_failed + ${f:-0}))
    skipped=$((skipped + ${total:-0} - ${executed:-0}))
  done
  failed=$((failed + run_failed))
  last_run_failed=$run_failed
}
# A run that failed without a failing test (build error, crash, UML not starting) still counts.
count "$results/host"
if [ "$host_status" -ne 0 ] && [ "$last_run_failed" -eq 0 ]; then failed=$((failed + 1)); fi
passed=$((passed + fuzz_passed)); failed=$((failed + fuzz_failed))
count "$results/uml"
if [ "$uml_status" -ne 0 ] && [ "$last_run_failed" -eq 0 ]; then failed=$((failed + 1)); fi
count "$results/guest"
if [ "$guest_status" -ne 0 ] && [ "$last_run_failed" -eq 0 ]; then failed=$((failed + 1)); fi

echo
if [ "$skipped" -gt 0 ]; then echo "$passed passed, $failed failed, $skipped skipped"; else echo "$passed passed, $failed failed"; fi
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
