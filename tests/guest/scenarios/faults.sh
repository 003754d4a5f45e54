# The daemon refuses every second frame this guest sends (--fault 0=tx:refuse-every=2) and forces
# its controller bus-off after its third frame that went out (bus-off-after=3,recover=restart).
# The driver must count the refused frames in tx_dropped, show BUS-OFF with the bus-off counter,
# and come back with a manual restart.
. /scenarios/lib.sh
state() { ip -d link show can0 | sed -n 's/^ *can .*state \([A-Z-]*\).*/\1/p'; }
is_state() { [ "$(state)" = "$1" ]; }
busoff_count() { ip -s -d link show can0 | awk '/re-started/ { getline; print $6; exit }'; }
stat() { cat "/sys/class/net/can0/statistics/$1"; }
stats_are() { [ "$(stat tx_packets)" = "$1" ] && [ "$(stat tx_dropped)" = "$2" ]; }
completed_at_least() { [ $(( $(stat tx_packets) + $(stat tx_dropped) )) -ge "$1" ]; }

can0_up
mark "up"
# Frames 2 and 4 are refused: answered NOT_OK, so the driver drops their echo and counts them.
for i in 1 2 3 4; do cansend can0 "5C0#0$i" || fail "cansend 5C0#0$i failed"; done
wait_until 30 stats_are 2 2 || fail "after 4 frames: tx_packets $(stat tx_packets), tx_dropped $(stat tx_dropped); expected 2 and 2"
ip -s -d link show can0
mark "refused $(stat tx_dropped)"
# Frame 5 is the third to go out: the controller goes bus-off right after it.
cansend can0 5C0#05 || fail "cansend 5C0#05 failed"
wait_until 60 is_state BUS-OFF || fail "state stayed $(state), never BUS-OFF"
[ "$(busoff_count)" = 1 ] || fail "bus-off count is $(busoff_count), not 1"
ip -s -d link show can0
mark "bus-off $(busoff_count)"
ip link set can0 type can restart || fail "ip link set can0 type can restart failed"
wait_until 20 is_state ERROR-ACTIVE || fail "state $(state) after restart"
# Frame 6 is refused again, frame 7 goes out.
cansend can0 5C0#06 || fail "cansend 5C0#06 failed"
cansend can0 5C0#07 || fail "cansend 5C0#07 failed"
wait_until 30 completed_at_least 7 || fail "only $(( $(stat tx_packets) + $(stat tx_dropped) )) of 7 frames completed"
ip -s -d link show can0
mark "restarted, tx_dropped $(stat tx_dropped)"
exit 0
