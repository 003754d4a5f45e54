# ip link set can0 down/up (STOP/START) while the host test's simulator streams frames with
# ID 0x300. Each of vdc.rounds rounds: bring can0 down and up again (not in the first),
# receive 3 streamed frames, and send 5A0#<round> for the simulator to receive.
. /scenarios/lib.sh
rounds=$(arg rounds)
can0_up
r=1
while [ "$r" -le "$rounds" ]; do
    if [ "$r" -gt 1 ]; then
        ip link set can0 down || fail "round $r: ip link set can0 down failed"
        ip link set can0 up || fail "round $r: ip link set can0 up failed"
    fi
    timeout -s KILL 30 candump -L -n 3 can0,300:7FF > /tmp/r$r & dump=$!
    # The host starts streaming at the first mark; from then on traffic flows and this candump
    # may already be done before its receiver could be seen, so only the first round waits.
    [ "$r" = 1 ] && wait_receivers 1
    mark "round $r listening"
    wait "$dump" || fail "round $r: traffic did not resume after up"
    cansend can0 "5A0#$(printf '%02X' "$r")" || fail "round $r: cansend failed"
    strip_ts /tmp/r$r | sed "s/^/VDC-RX: round $r /"
    r=$((r + 1))
done
wait_until 30 grep -qx "$rounds" /sys/class/net/can0/statistics/tx_packets \
    || fail "tx_packets is $(cat /sys/class/net/can0/statistics/tx_packets), expected $rounds"
exit 0
