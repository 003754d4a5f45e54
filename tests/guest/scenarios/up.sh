# The driver binds, reports what it negotiated, and can0 comes up in the mode the device
# offers: vdc.expect=fd (CAN FD fixed on, MTU 72) or vdc.expect=classic (MTU 16, no FD).
. /scenarios/lib.sh

wait_for /sys/class/net/can0 20 || fail "no can0: virtio_can did not bind"
driver=$(basename "$(readlink /sys/class/net/can0/device/driver)")
[ "$driver" = virtio_can ] || fail "can0 is bound to '$driver', not virtio_can"
# One character per feature bit, bit 0 first: what the driver acked.
mark "features $(cat /sys/class/net/can0/device/features)"

expect=$(arg expect)
ip link set can0 up || fail "ip link set can0 up failed"
show=$(ip -d link show can0)
echo "$show"
echo "$show" | grep -q "state ERROR-ACTIVE" || fail "can0 is up but not ERROR-ACTIVE"
mtu=$(cat /sys/class/net/can0/mtu)
case "$expect" in
fd)
    [ "$mtu" = 72 ] || fail "FD device: can0 mtu is $mtu, not 72"
    echo "$show" | grep -q "<FD>" || fail "FD device: ctrlmode does not show FD"
    # FD is a static mode (can_set_static_ctrlmode): it is on without asking. "fd off" is
    # refused, and so is "fd on" (netlink wants data bittiming with it, which a virtio
    # controller does not have): plain "up" is the only way.
    ip link set can0 down
    ip link set can0 type can fd off 2>/dev/null && fail "'fd off' accepted although FD is fixed"
    ip link set can0 type can fd on 2>/dev/null && echo "note: 'fd on' was accepted"
    ip link set can0 up || fail "second ip link set can0 up failed"
    cansend can0 123##1DEADBEEF || fail "cansend of an FD frame failed"
    ;;
classic)
    [ "$mtu" = 16 ] || fail "classic device: can0 mtu is $mtu, not 16"
    echo "$show" | grep -q "FD" && fail "classic device: ctrlmode shows FD"
    ip link set can0 down
    ip link set can0 type can fd on 2>/dev/null && fail "'fd on' accepted on a classic device"
    ip link set can0 up || fail "second ip link set can0 up failed"
    cansend can0 123##1DEADBEEF 2>/dev/null && fail "an FD frame was accepted on a classic device"
    ;;
*) fail "vdc.expect must be fd or classic" ;;
esac
cansend can0 123#DEADBEEF || fail "cansend of a classic frame failed"
# The FD device sent two frames, the classic one one; each completes asynchronously.
sent=1; [ "$expect" = fd ] && sent=2
wait_until 10 grep -qx "$sent" /sys/class/net/can0/statistics/tx_packets \
    || fail "tx_packets is $(cat /sys/class/net/can0/statistics/tx_packets), expected $sent"
ip -s -d link show can0
[ "$(cat /sys/class/net/can0/statistics/tx_dropped)" = 0 ] || fail "tx_dropped is not 0"
exit 0
