# The daemon runs with --tx-filter 0=100-1FF --rx-filter 0=200-2FF --tx-rate 0=200/20 for this
# guest. A frame outside its TX filter must come back to the driver as NOT_OK (tx_dropped,
# never on the bus); frames outside its RX filter must never arrive; a burst beyond its rate
# must be paced, not dropped (the driver's queue stops and wakes again).
. /scenarios/lib.sh
can0_up
tx_packets() { cat /sys/class/net/can0/statistics/tx_packets; }
tx_dropped() { cat /sys/class/net/can0/statistics/tx_dropped; }
tx_packets_is() { [ "$(tx_packets)" = "$1" ]; }
tx_dropped_is() { [ "$(tx_dropped)" = "$1" ]; }

# Only 200-3FF: the driver echoes this guest's own frames to local sockets as well.
timeout -s KILL 60 candump -L -n 1 can0,200:600 > /tmp/rx & dump=$!
wait_receivers 1
mark "listening"
cansend can0 123#01 || fail "cansend 123 failed"
wait_until 30 tx_packets_is 1 || fail "tx_packets is $(tx_packets) after 123#01, expected 1"
cansend can0 321#02 || fail "cansend 321 failed"
wait_until 30 tx_dropped_is 1 || fail "tx_dropped is $(tx_dropped) after 321#02 (outside the TX filter), expected 1"
tx_packets_is 1 || fail "tx_packets is $(tx_packets) after the refused frame, expected 1"
mark "filtered tx done"

# The host sends 350#03 (filtered) then 250#04: only the second may arrive.
wait "$dump" || fail "candump got nothing"
strip_ts /tmp/rx | sed 's/^/VDC-RX: /'

mark "burst start"
cangen can0 -g 0 -p 1000 -I 1A0 -L 1 -D i -n 100 || fail "cangen failed"
wait_until 60 tx_packets_is 101 || fail "tx_packets is $(tx_packets) after the burst, expected 101"
tx_dropped_is 1 || fail "tx_dropped is $(tx_dropped) after the burst, expected 1 (the refused frame only)"
mark "burst done"
exit 0
