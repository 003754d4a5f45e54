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

# Value of vdc.NAME=VALUE on the kernel command line (empty if absent): the host test passes
# each scenario its parameters this way.
arg() {
    local a
    for a in $(cat /proc/cmdline); do
        case "$a" in "vdc.$1="*) echo "${a#vdc.$1=}"; return 0 ;; esac
    done
}

# One line the host test waits for ("VDC-MARK: WHAT"). The leading newline keeps it on a line
# of its own when a kernel message left a partial line on the console.
mark() { printf '\nVDC-MARK: %s\n' "$*"; }

# Waits up to $2 seconds (default 20) until can0 exists, then brings it up. With a classic-only
# device the driver has no FD mode; with FD it is fixed on (can_set_static_ctrlmode), and the
# bitrate is "unknown", so a plain "up" is all ip needs.
can0_up() {
    wait_for /sys/class/net/can0 "${1:-20}" || fail "no can0: virtio_can did not bind"
    ip link set can0 up || fail "ip link set can0 up failed"
    # Raw CAN sockets get ENOBUFS when the qdisc is full; the default of 10 frames is quickly
    # reached under TCG. A longer queue keeps cansend/cangen from failing on bursts.
    ip link set can0 txqueuelen 1000
}

# Waits until a candump started in the background has its socket bound to can0, so that a
# frame sent after this returns is seen. /proc/net/can/rcvlist_* list every receiver by device
# (unfiltered ones in _all, filtered ones in _fil, _inv, _sff, _eff); polling them is the only
# readiness signal candump gives.
wait_receivers() { # $1 = receivers expected on can0, $2 = seconds (default 60: TCG guests on a busy host are slow)
    local want=$1 tries=$(( ${2:-60} * 20 ))
    while [ "$(cat /proc/net/can/rcvlist_* 2>/dev/null | grep -c '^ *can0 ')" -lt "$want" ]; do
        tries=$((tries - 1))
        [ "$tries" -gt 0 ] || fail "candump did not bind to can0"
        sleep 0.05
    done
}

# Polls a command until it succeeds, up to $1 seconds.
wait_until() {
    local tries=$(( $1 * 10 )); shift
    until "$@"; do
        tries=$((tries - 1))
        [ "$tries" -gt 0 ] || return 1
        sleep 0.1
    done
}

# candump -L lines without the timestamp: "can0 123#DEADBEEF".
strip_ts() { sed 's/^([0-9.]*) //' "$@"; }

# True while process $1 runs. kill -0 is not enough: a finished background job stays a zombie
# (and kill -0 succeeds) until the shell waits for it.
alive() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat"; }
