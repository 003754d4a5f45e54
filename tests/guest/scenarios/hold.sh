# Brings can0 up, sends one frame, says "VDC-MARK: ready" and waits to be killed: the host
# test ends this guest with SIGKILL to QEMU (no reset, no goodbye).
. /scenarios/lib.sh
can0_up
cansend can0 "6C0#$(arg tag)" || fail "cansend failed"
wait_until 30 grep -qx 1 /sys/class/net/can0/statistics/tx_packets || fail "the frame was not completed"
mark "ready"
sleep 3600
fail "not killed"
