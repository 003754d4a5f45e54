# Two guests on one virtual bus (vdc.role=a or b). Each sends vdc.count frames with IDs
# 0x100+i (a) or 0x200+i (b), alternating classic and FD, and must hear the other's frames in
# order and its own exactly once (the driver's local echo; a second copy would come from the
# device). Everything heard is printed as "VDC-RX: can0 ..." for the host test to check.
. /scenarios/lib.sh
role=$(arg role); n=$(arg count)
case "$role" in
a) base=1; peer=2; hello=7F0; peer_hello=7F1 ;;
b) base=2; peer=1; hello=7F1; peer_hello=7F0 ;;
*) fail "vdc.role must be a or b" ;;
esac
can0_up
candump -L can0,7F0~7FE > /tmp/all & all=$!   # everything but the hello frames (7F0, 7F1)
timeout -s KILL 240 candump -L -n "$n" can0,${peer}00:700 > /tmp/peer & peer_dump=$!
wait_receivers 2
# Started after the wait: the other guest's hellos may already be flowing, and this candump
# would then be gone before its receiver could be counted. Hellos repeat, so none is missed.
timeout -s KILL 180 candump -n 1 can0,$peer_hello:7FF > /dev/null & heard=$!
# The other guest may not be up yet, and nothing tells this one when it is: both keep
# announcing themselves until each has heard the other. Its receivers are bound before its
# first hello, so a hello heard means the peer is ready for data.
( while :; do cansend can0 $hello#; sleep 0.2; done ) & announce=$!
wait "$heard" || fail "never heard the other guest"
mark "heard peer"
i=0
while [ "$i" -lt "$n" ]; do
    id=$(printf '%d%02X' "$base" "$i")
    if [ $((i % 2)) = 0 ]; then cansend can0 "$id#$(printf '%02X' "$i")" || fail "cansend failed"
    else cansend can0 "$id##4$(printf '%02X' "$i")0102030405060708090A0B" || fail "cansend failed"; fi
    i=$((i + 1))
done
wait "$peer_dump" || fail "heard $(wc -l < /tmp/peer) of the other guest's $n frames"
# Having all of the peer's data means the peer heard our hello: stop announcing.
kill "$announce"
# Own echoes come with each TX completion; a duplicate from the device would come right
# behind. Absence can only be shown by waiting.
sleep 1
kill "$all"; wait "$all"
strip_ts /tmp/all | sed 's/^/VDC-RX: /'
exit 0
