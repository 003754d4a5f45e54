# The host test makes the daemon report bus-off (SIGUSR1) after "VDC-MARK: up". The guest
# must show BUS-OFF; a manual restart must bring it back (START, status bit cleared) and
# traffic must flow both ways. Then the same with restart-ms, where the driver restarts alone.
. /scenarios/lib.sh
# The CAN state is on the "can <FD> state X" line (the first line has the link's "state UP").
state() { ip -d link show can0 | sed -n 's/^ *can .*state \([A-Z-]*\).*/\1/p'; }
is_state() { [ "$(state)" = "$1" ]; }
# "bus-off" counter in ip -s -d's CAN statistics: re-started bus-errors arbit-lost error-warn error-pass bus-off
busoff_count() { ip -s -d link show can0 | awk '/re-started/ { getline; print $6; exit }'; }
busoff_count_is() { [ "$(busoff_count)" = "$1" ]; }

can0_up
ip -s -d link show can0
for round in 1 2; do
    if [ "$round" = 2 ]; then
        # restart-ms can only be changed while the interface is down (EBUSY otherwise).
        ip link set can0 down || fail "ip link set can0 down failed"
        ip link set can0 type can restart-ms 100 || fail "restart-ms refused"
        ip link set can0 up || fail "ip link set can0 up after restart-ms failed"
    fi
    mark "up $round"
    if [ "$round" = 1 ]; then
        wait_until 60 is_state BUS-OFF || fail "round 1: state stayed $(state), never BUS-OFF"
        mark "bus-off $round"
        ip -s -d link show can0
        ip link set can0 type can restart || fail "ip link set can0 type can restart failed"
    else
        # restart-ms restarts at once, so BUS-OFF may already be over: watch the counter.
        # A function, so that each try reads the counter again.
        wait_until 60 busoff_count_is 2 || fail "round 2: bus-off count is $(busoff_count), not 2"
        mark "bus-off $round"
    fi
    wait_until 20 is_state ERROR-ACTIVE || fail "round $round: state $(state) after restart"
    ip -s -d link show can0
    candump -L -n 1 can0,5B1:7FF > /tmp/rx & dump=$!
    wait_receivers 1
    mark "restarted $round"
    # The simulated guest on the other socket went bus-off too and restarts when the host test
    # sees it; this guest cannot know when, so it repeats its frame until the answer comes.
    tries=0
    while alive "$dump"; do
        tries=$((tries + 1))
        [ "$tries" -le 100 ] || fail "round $round: no answer to 5B0#0$round after restart"
        cansend can0 "5B0#0$round" || fail "round $round: cansend after restart failed"
        sleep 0.3
    done
    strip_ts /tmp/rx | sed "s/^/VDC-RX: /"
done
exit 0
