# Smoke test of the guest itself: needs no vhost-user device. Checks that the kernel booted
# and that the virtio_can driver is built in and registered on the virtio bus.
. /scenarios/lib.sh

echo "kernel: $(uname -r)"
echo "virtio drivers: $(ls /sys/bus/virtio/drivers/ | tr '\n' ' ')"
[ -d /sys/bus/virtio/drivers/virtio_can ] || fail "virtio_can driver not registered"

# The userland must run too, or later scenarios cannot drive the device.
for tool in cansend candump cangen canfdtest ip; do
    command -v "$tool" >/dev/null || fail "$tool missing from the initramfs"
done
ip -V | grep -q iproute2 || fail "ip is not iproute2"
ip link add dev vcan0 type vcan || fail "cannot create vcan0"
ip link set vcan0 up || fail "cannot bring vcan0 up"
candump -n 1 vcan0 > /tmp/dump & pid=$!
sleep 0.3
cansend vcan0 123#DEADBEEF || fail "cansend failed"
wait $pid || fail "candump failed"
cat /tmp/dump
grep -q '123.*DE AD BE EF' /tmp/dump || fail "frame did not loop back through vcan0"
exit 0
