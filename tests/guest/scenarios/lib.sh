# Helpers for guest scenarios: `. /scenarios/lib.sh` at the top of a scenario.
# A scenario passes by exiting 0; `fail REASON` ends it with that reason in VDC-RESULT.

fail() {
    echo "$*" > /tmp/vdc-fail-reason
    echo "scenario failed: $*" >&2
    exit 1
}

# Waits up to $2 seconds (default 10) for a path to appear; TCG guests are slow.
wait_for() {
    local path=$1 tries=$(( ${2:-10} * 10 ))
    while [ ! -e "$path" ] && [ "$tries" -gt 0 ]; do
        sleep 0.1
        tries=$((tries - 1))
    done
    [ -e "$path" ]
}

# Debian's static busybox runs its own applets before searching PATH (FEATURE_SH_STANDALONE),
# so a bare `ip` would be busybox's reduced one, which knows nothing of CAN. A shell function
# wins over applets: route `ip` to iproute2.
ip() { /bin/ip "$@"; }
