# The guest sends the frames in vdc.frames (cansend syntax, comma-separated) in order; the host
# test's simulated guest on the same virtual bus must receive exactly those.
. /scenarios/lib.sh
can0_up
frames=$(arg frames)
IFS=,; set -- $frames; unset IFS
[ $# -gt 0 ] || fail "no vdc.frames"
for frame; do
    cansend can0 "$frame" || fail "cansend can0 $frame failed"
done
# Each frame is done when the device completes it (LATE_TX_ACK: when it is on the bus).
wait_until 30 grep -qx "$#" /sys/class/net/can0/statistics/tx_packets \
    || fail "tx_packets is $(cat /sys/class/net/can0/statistics/tx_packets), expected $#"
[ "$(cat /sys/class/net/can0/statistics/tx_dropped)" = 0 ] || fail "tx_dropped is not 0"
mark "sent $#"
exit 0
