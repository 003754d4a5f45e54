# vdc.count frames each way. First this guest sends them with cangen (IDs 0,1,2,... mod 0x800,
# 8-byte incrementing payload) to the host test's simulated guest; then it receives as many
# from the simulator, which sends frame k as ID k mod 0x800 with k as a 4-byte big-endian
# number followed by four zero bytes, and checks every one arrived, in order. Throughput is
# measured on the host; the guest reports its receive progress ("VDC-MARK: rx N") so the
# host never sends more than the buffers between them hold.
. /scenarios/lib.sh
n=$(arg count)
can0_up
mark "tx start"
# -p: on ENOBUFS (qdisc full) wait for the device to take frames instead of failing.
cangen can0 -g 0 -p 1000 -I i -L 8 -D i -n "$n" || fail "cangen failed"
wait_until 120 grep -qx "$n" /sys/class/net/can0/statistics/tx_packets \
    || fail "tx_packets is $(cat /sys/class/net/can0/statistics/tx_packets), expected $n"
[ "$(cat /sys/class/net/can0/statistics/tx_dropped)" = 0 ] || fail "tx_dropped is not 0"
mark "tx done"

# A large socket buffer: candump is one more process competing for the emulated CPU.
candump -L -r 16777216 -n "$n" can0 > /tmp/rx & dump=$!
wait_receivers 1
mark "rx listening"
while alive "$dump"; do
    mark "rx $(wc -l < /tmp/rx)"
    sleep 0.1
done
wait "$dump" || fail "candump failed"
mark "rx $(wc -l < /tmp/rx)"
bad=$(strip_ts /tmp/rx | awk '{
    want = sprintf("can0 %03X#%08X00000000", (NR - 1) % 2048, NR - 1)
    if ($0 != want) { print NR - 1 ": got \"" $0 "\", want \"" want "\""; exit }
} END { if (NR != '"$n"') print "received " NR " frames" }')
[ -z "$bad" ] || fail "frame $bad"
echo "rx_packets $(cat /sys/class/net/can0/statistics/rx_packets) rx_dropped $(cat /sys/class/net/can0/statistics/rx_dropped)"
exit 0
