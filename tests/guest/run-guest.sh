#!/usr/bin/env bash
# Boots the test guest (Linux 7.3 with virtio_can) under QEMU 11.1 with TCG and runs one
# scenario from tests/guest/scenarios/. The serial console goes to stdout (and the log file).
# Exit status: 0 only if the console showed "VDC-RESULT: PASS"; 1 on "VDC-RESULT: FAIL";
# 2 if the guest ended without a result (crash, timeout, QEMU error).
#
# Guest RAM is a shared memfd: a vhost-user back-end has to map it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DIE_STATUS=2   # status 1 means the scenario reported FAIL

usage() {
    cat <<USAGE
Usage: run-guest.sh [options] [-- extra qemu arguments]
  -s, --scenario NAME    scenario to run (scenarios/NAME.sh; default: boot)
  -S, --socket PATH      attach a virtio-can device (vhost-user-test-device-pci,
                         virtio-id=36, 3 queues of 64, 16-byte config) to the back-end
                         listening on PATH
  -a, --append ARGS      extra kernel command-line arguments
  -l, --log FILE         also write the console output to FILE
  -t, --timeout SECONDS  kill the guest after this long (default: 180)
  -m, --mem SIZE         guest RAM, QEMU syntax (default: 256M)
  -q, --quiet            do not copy the console to stdout (the log file still gets it)
      --print-env        only prepare QEMU, kernel and initramfs and print them as
                         VDC_QEMU=... VDC_KERNEL=... VDC_INITRD=... lines; a harness that
                         boots many guests evals this once and skips the cache checks
Environment: VDC_KERNEL, VDC_INITRD, VDC_QEMU override the cached kernel, initramfs, QEMU.
USAGE
}

SCENARIO=boot SOCKET="" APPEND="" LOGFILE="" TIMEOUT=180 MEM=256M QUIET=0 PRINT_ENV=0
EXTRA_QEMU=()
while (($#)); do
    case "$1" in
        -s|--scenario) SCENARIO=${2:?}; shift 2 ;;
        -S|--socket)   SOCKET=${2:?}; shift 2 ;;
        -a|--append)   APPEND=${2:?}; shift 2 ;;
        -l|--log)      LOGFILE=${2:?}; shift 2 ;;
        -t|--timeout)  TIMEOUT=${2:?}; shift 2 ;;
        -m|--mem)      MEM=${2:?}; shift 2 ;;
        -q|--quiet)    QUIET=1; shift ;;
        --print-env)   PRINT_ENV=1; shift ;;
        -h|--help)     usage; exit 0 ;;
        --)            shift; EXTRA_QEMU=("$@"); break ;;
        *)             usage >&2; die "unknown argument: $1" ;;
    esac
done
[[ -f "$GUEST_DIR/scenarios/$SCENARIO.sh" ]] || die "no scenario $GUEST_DIR/scenarios/$SCENARIO.sh"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "--timeout needs whole seconds"
if [[ -n "$SOCKET" ]]; then
    [[ -S "$SOCKET" ]] || die "no listening vhost-user socket at $SOCKET (QEMU connects at start)"
fi

# Missing pieces are built on demand; each script is a no-op when its cache is warm. The lock
# keeps parallel test runs on a cold cache from building the same thing twice.
mkdir -p "$CACHE_ROOT"
exec 9> "$CACHE_ROOT/.prepare.lock"
flock 9
QEMU=${VDC_QEMU:-$("$GUEST_DIR/get-qemu.sh" --print-path)} || die "get-qemu.sh failed"
KERNEL=${VDC_KERNEL:-$("$GUEST_DIR/build-kernel.sh" --print-path)} || die "build-kernel.sh failed"
INITRD=${VDC_INITRD:-$("$GUEST_DIR/build-initramfs.sh" --print-path)} || die "build-initramfs.sh failed"
flock -u 9
exec 9>&-
if ((PRINT_ENV)); then
    printf 'VDC_QEMU=%q\nVDC_KERNEL=%q\nVDC_INITRD=%q\n' "$QEMU" "$KERNEL" "$INITRD"
    exit 0
fi

CMDLINE="console=ttyS0 panic=-1 vdc.scenario=$SCENARIO${APPEND:+ $APPEND}"
ARGS=(
    -machine pc -accel tcg -cpu max -smp 1
    -object "memory-backend-memfd,id=mem,size=$MEM,share=on" -numa node,memdev=mem -m "$MEM"
    -kernel "$KERNEL" -initrd "$INITRD" -append "$CMDLINE"
    -display none -vga none -monitor none -serial stdio -nic none
    -no-reboot
)
if [[ -n "$SOCKET" ]]; then
    ARGS+=(-chardev "socket,id=c0,path=$SOCKET"
           -device "vhost-user-test-device-pci,chardev=c0,virtio-id=36,num_vqs=3,vq_size=64,config_size=16")
fi
ARGS+=("${EXTRA_QEMU[@]}")

CONSOLE=$(mktemp "${TMPDIR:-/tmp}/vdc-guest.XXXXXX")
trap 'rm -f "$CONSOLE"' EXIT
log "scenario $SCENARIO${SOCKET:+, socket $SOCKET}, timeout ${TIMEOUT}s"
START=$(date +%s%N)
set +e
# stdin from /dev/null: QEMU must not grab a terminal, and nothing is typed into the guest.
if ((QUIET)); then
    timeout -k 5 "$TIMEOUT" "$QEMU" "${ARGS[@]}" < /dev/null > "$CONSOLE" 2>&1
    QEMU_RC=$?
else
    timeout -k 5 "$TIMEOUT" "$QEMU" "${ARGS[@]}" < /dev/null 2>&1 | tee "$CONSOLE"
    QEMU_RC=${PIPESTATUS[0]}
fi
set -e
ELAPSED_MS=$(( ($(date +%s%N) - START) / 1000000 ))
[[ -n "$LOGFILE" ]] && cp "$CONSOLE" "$LOGFILE"

# Console lines end in \r\n; the result is matched anywhere on a line.
RESULT=$(tr -d '\r' < "$CONSOLE" | grep -o 'VDC-RESULT: .*' | tail -n1 || true)
if [[ $QEMU_RC -eq 124 || $QEMU_RC -eq 137 ]]; then
    log "guest timed out after ${TIMEOUT}s${RESULT:+ (last result: $RESULT)}"
    # QEMU talks to the back-end before the guest starts and waits for each reply without a
    # time limit, so a silent back-end shows as a timeout with an empty console.
    if [[ -n "$SOCKET" && ! -s "$CONSOLE" ]]; then
        log "no console output at all: QEMU was most likely waiting for the vhost-user back-end"
    fi
    exit 2
fi
case "$RESULT" in
    "VDC-RESULT: PASS")
        log "PASS in ${ELAPSED_MS} ms (qemu exit $QEMU_RC)"; exit 0 ;;
    "VDC-RESULT: FAIL"*)
        log "${RESULT#VDC-RESULT: } (${ELAPSED_MS} ms)"; exit 1 ;;
    *)
        log "no VDC-RESULT line; qemu exited with $QEMU_RC after ${ELAPSED_MS} ms"
        ((QUIET)) && tail -n 20 "$CONSOLE" >&2
        exit 2 ;;
esac
