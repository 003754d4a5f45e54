#!/usr/bin/env bash
# Runs one command inside User-Mode Linux, whose kernel has AF_CAN, with vcan0 and vcan1 up
# (CAN FD capable, MTU 72, echoing like real controllers) and the sch_plug queueing discipline
# available to tc.
#
#   tests/uml/uml-run.sh COMMAND [ARGS...]
#
# The host's file system is UML's root (hostfs), so the command sees the same files, tools and
# dotnet as the caller; it starts in the caller's working directory. Its stdout and stderr reach
# the caller's stdout and stderr, and this script exits with its exit status.
#
# Environment:
#   UML_TIMEOUT=SECONDS  kill the whole machine after this long (default 900); exit status 124
#   UML_MEM=SIZE         UML's RAM (default 1G)
#   UML_VERBOSE=1        also print the UML kernel log on stderr
#   UML_PASS_ENV="A B"   extra variables to pass in (besides PATH, HOME, LANG, CI, DOTNET_* ...)
# Exit status 125 means the machine could not be prepared or did not report a status.
set -uo pipefail

die() { echo "uml-run: $*" >&2; exit 125; }

[ $# -gt 0 ] || die "usage: $0 COMMAND [ARGS...]"

kernel=${UML_KERNEL:-$(command -v linux.uml || true)}
[ -n "$kernel" ] && [ -x "$kernel" ] ||
  die "linux.uml not found: install Debian's user-mode-linux package (apt-get install user-mode-linux)"
for tool in insmod ip stty timeout; do
  command -v "$tool" >/dev/null || die "'$tool' not found: it runs inside UML too (packages kmod, iproute2, coreutils)"
done
version=$("$kernel" --version 2>/dev/null) || die "$kernel --version failed"
moddir=/usr/lib/uml/modules/$version/kernel
# sch_plug is a queueing discipline that holds frames until told to release them: tests use it
# to see transmit backpressure (ENOBUFS, EAGAIN) and confirmations that wait for transmission.
modules="net/can/can.ko net/can/can-raw.ko drivers/net/can/dev/can-dev.ko drivers/net/can/vcan.ko net/sched/sch_plug.ko"
for module in $modules; do
  [ -f "$moddir/$module" ] || die "missing UML module $moddir/$module (package user-mode-linux)"
done

timeout_s=${UML_TIMEOUT:-900}
mem=${UML_MEM:-1G}

state=$(mktemp -d "${TMPDIR:-/tmp}/uml-run.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$state"' EXIT

# UML backs its RAM with an unlinked file in $TMPDIR or else /dev/shm. Docker-style 64 MB
# /dev/shm mounts would SIGBUS the kernel once the guest touches more than that, so fall back
# to the state directory's file system when /dev/shm is smaller than the guest RAM.
mem_kb=$(numfmt --from=iec "${mem}" 2>/dev/null) && mem_kb=$((mem_kb / 1024)) || mem_kb=1048576
shm_kb=$(df -Pk /dev/shm 2>/dev/null | awk 'NR==2 {print $4}')
if [ -z "${UML_TMPDIR:-}" ] && { [ -z "$shm_kb" ] || [ "$shm_kb" -lt "$mem_kb" ]; }; then
  UML_TMPDIR=$state
fi

# Variables the command gets, as env(1) assignments; the rest of the host environment stays
# out so that the run does not depend on what the caller's shell happened to export.
pass=" ${UML_PASS_ENV:-} "
assignments=()
while IFS= read -r name; do
  case "$name" in
    PATH | HOME | USER | LOGNAME | LANG | LANGUAGE | LC_* | TERM | TZ | CI | GITHUB_ACTIONS | \
      DOTNET_* | NUGET_* | MSBUILD* | VSTEST_* | XUNIT_*) ;;
    *) [[ "$pass" == *" $name "* ]] || continue ;;
  esac
  assignments+=("$name=${!name}")
done < <(compgen -e)
assignments_line=; [ ${#assignments[@]} -gt 0 ] && printf -v assignments_line '%q ' "${assignments[@]}"

# The command line, quoted so the init script runs it verbatim.
printf -v command_line '%q ' "$@"

cat >"$state/init" <<EOF
#!/bin/bash
# PID 1 inside UML. It must never exit on its own (the kernel would panic): it always ends
# with a sysrq power-off.
state=$(printf %q "$state")
cwd=$(printf %q "$PWD")
moddir=/usr/lib/uml/modules/\$(uname -r)/kernel
# Opened before /tmp is covered by a tmpfs, so the status still lands in the host's file.
exec 9>"\$state/status"

finish() {
  echo "\$1" >&9
  exec 9>&-
  sync
  echo o >/proc/sysrq-trigger
  sleep 30
}

setup() {
  mount -t proc proc /proc &&
    mount -t sysfs sysfs /sys &&
    { mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev; } || return 1
  # UML consoles turn \n into \r\n unless told otherwise.
  stty -F /dev/tty1 -onlcr && stty -F /dev/tty2 -onlcr || return 1
  exec </dev/null >/dev/tty1 2>/dev/tty2
  mkdir -p /dev/shm /dev/pts &&
    mount -t tmpfs -o mode=1777 tmpfs /dev/shm &&
    mount -t devpts devpts /dev/pts || return 1
  # A private /tmp keeps dotnet's IPC sockets and lock files off the host; keep the host's
  # /tmp visible when the caller works below it.
  case "\$cwd/" in
    /tmp/*) mkdir -p /dev/shm/tmp && chmod 1777 /dev/shm/tmp && export TMPDIR=/dev/shm/tmp ;;
    *) mount -t tmpfs -o mode=1777 tmpfs /tmp && export TMPDIR=/tmp ;;
  esac
  ip link set lo up || return 1
  for module in $modules; do
    # echo=1: vcan itself echoes sent frames once they leave the queue (IFF_ECHO), as real
    # controllers do on transmit completion. Without it the CAN core echoes them as soon as
    # they are queued, so a confirmation would not mean "transmitted".
    case "\$module" in */vcan.ko) args=echo=1 ;; *) args= ;; esac
    insmod "\$moddir/\$module" \$args || return 1
  done
  for dev in vcan0 vcan1; do
    ip link add dev "\$dev" type vcan && ip link set "\$dev" up || return 1
  done
  hostname uml
}

if ! setup; then
  echo "uml-run: preparing the UML machine failed (see above)" >/dev/tty2
  finish 125
fi

cd "\$cwd" || finish 125

# The command writes into pipes, not the consoles: as on the host (CI), its stdout and stderr
# are then no terminals, so tools print no escape sequences or progress bars. Daemons it leaves
# behind may hold the pipes open, so the copiers get a moment to drain and are then stopped.
mkfifo /dev/shm/.uml-out /dev/shm/.uml-err || finish 125
cat /dev/shm/.uml-out >/dev/tty1 &
out_copier=\$!
cat /dev/shm/.uml-err >/dev/tty2 &
err_copier=\$!
# The kernel hands unknown boot parameters (mem=...) to init as variables: start clean.
env -i $assignments_line TMPDIR="\$TMPDIR" UML=1 $command_line >/dev/shm/.uml-out 2>/dev/shm/.uml-err
status=\$?
for _ in \$(seq 50); do
  kill -0 \$out_copier 2>/dev/null || kill -0 \$err_copier 2>/dev/null || break
  sleep 0.1
done
kill \$out_copier \$err_copier 2>/dev/null
finish \$status
EOF
chmod +x "$state/init"

if [ "${UML_VERBOSE:-0}" = 1 ]; then console=fd:6 quiet=; else console=null quiet=quiet; fi
# UML switches the host fds of its consoles to non-blocking and leaves them so; handed the
# caller's stdout and stderr, it would make later writers to them fail with EAGAIN. It gets
# pipes instead, drained by two host cats. Each console channel needs its own host fd (UML
# refuses two channels on one fd), hence 5 for stdout and 6, 7 for stderr. stdin stays
# /dev/null: CI has none and nothing inside reads it.
mkfifo "$state/stdout" "$state/stderr" || die "mkfifo in $state failed"
cat "$state/stdout" &
out_cat=$!
cat "$state/stderr" >&2 &
err_cat=$!
uml_env=(env -u TMPDIR -u TMP -u TEMP)
[ -n "${UML_TMPDIR:-}" ] && uml_env+=(TMPDIR="$UML_TMPDIR")
"${uml_env[@]}" timeout --kill-after=10 "$timeout_s" \
  "$kernel" mem="$mem" rootfstype=hostfs rw init="$state/init" uml_dir="$state" $quiet \
  con=null con0="null,$console" con1=null,fd:5 con2=null,fd:7 \
  ssl=null </dev/null 5>"$state/stdout" 6>"$state/stderr" 7>&6 &
uml_pid=$!
# timeout runs UML in a process group of its own, out of reach of the terminal's Ctrl-C: pass
# interruptions on, so that no machine outlives this script.
interrupted=
trap 'interrupted=1; kill -TERM "$uml_pid" 2>/dev/null' INT TERM HUP
wait "$uml_pid"
rc=$?
while kill -0 "$uml_pid" 2>/dev/null; do
  wait "$uml_pid"
  rc=$?
done
# The cats end when the last UML process has closed the pipes.
wait "$out_cat" "$err_cat"

if [ -n "$interrupted" ]; then
  echo "uml-run: interrupted, machine stopped" >&2
  exit 130
fi

if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  echo "uml-run: timed out after ${timeout_s}s (UML_TIMEOUT), machine killed" >&2
  exit 124
fi
status=$(cat "$state/status" 2>/dev/null)
if [ -z "$status" ]; then
  echo "uml-run: UML exited ($rc) without reporting the command's status; rerun with UML_VERBOSE=1" >&2
  exit 125
fi
exit "$status"
