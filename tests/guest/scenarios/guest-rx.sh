# The host test's simulated guest sends vdc.count frames once this guest says it listens;
# candump must print exactly those: each is reported as "VDC-RX: can0 ID#DATA" for the host
# to compare, and nothing may follow them.
. /scenarios/lib.sh
can0_up
n=$(arg count)
# timeout bounds the wait below; candump itself exits after $n frames. SIGKILL, because
# candump exits 0 on SIGTERM, which would look like success.
timeout -s KILL 60 candump -L -n "$n" can0 > /tmp/rx & first=$!
# A second receiver runs on after the first has its $n frames, to catch duplicates or extras.
candump -L can0 > /tmp/all & all=$!
wait_receivers 2
mark "listening"
wait "$first" || fail "candump got $(wc -l < /tmp/rx) of $n frames"
# Absence can only be shown by waiting: anything extra would follow right behind.
sleep 1
kill "$all"; wait "$all"
strip_ts /tmp/rx | sed 's/^/VDC-RX: /'
total=$(wc -l < /tmp/all)
[ "$total" = "$n" ] || fail "$total frames arrived in all, expected $n"
exit 0
