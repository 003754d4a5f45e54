#!/usr/bin/env bash
# Downloads (never installs) trixie-backports' qemu-system-x86 11.1.x and the trixie packages
# it depends on, unpacks them into $CACHE_ROOT/qemu-<version>/root and writes a wrapper
# $CACHE_ROOT/qemu-<version>/qemu-system-x86_64 that starts the binary through trixie's own
# dynamic loader. Bookworm's glibc is too old for these binaries, and installing trixie
# packages system-wide would break the host, hence the private root.
#
# Usage: get-qemu.sh [--print-path]
#   --print-path  only print the wrapper path on stdout (fetching first if needed)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PRINT_PATH=0
[[ "${1:-}" == "--print-path" ]] && PRINT_PATH=1

# The generic vhost-user device with virtio-id/num_vqs/config_size is what the tests need;
# it is user-creatable from 11.1 on, so take the 11.1 series from backports.
WANT_SERIES="${VDC_QEMU_SERIES:-11.1}"

apt_private trixie "trixie trixie-updates trixie-backports"
VERSION=$(apt-cache "${APT_ARGS[@]}" madison qemu-system-x86 \
          | awk -F' *\\| *' -v s="$WANT_SERIES" '$2 ~ "^(1:)?" s "\\." { print $2; exit }')
[[ -n "$VERSION" ]] || die "no qemu-system-x86 $WANT_SERIES.x in trixie/trixie-backports"
UPSTREAM=${VERSION#*:}          # 1:11.1.3+ds-1~bpo13+1 -> 11.1.3+ds-1~bpo13+1
UPSTREAM=${UPSTREAM%%+*}        # -> 11.1.3
DEST="$CACHE_ROOT/qemu-$UPSTREAM"
WRAPPER="$DEST/qemu-system-x86_64"

verify() {
    local devs
    devs=$("$WRAPPER" -device help 2>&1) || { echo "$devs" >&2; die "qemu does not start: $WRAPPER"; }
    if grep -q '"vhost-user-test-device-pci"' <<<"$devs"; then
        DEVICE=vhost-user-test-device-pci
    elif grep -q '"vhost-user-device-pci"' <<<"$devs"; then
        DEVICE=vhost-user-device-pci
    else
        die "qemu $UPSTREAM lists no generic vhost-user device"
    fi
    local props p
    props=$("$WRAPPER" -device "$DEVICE,help" 2>&1)
    for p in virtio-id num_vqs vq_size config_size; do
        grep -q "^ *$p=" <<<"$props" || die "$DEVICE has no property $p"
    done
}

if [[ -x "$WRAPPER" && -f "$DEST/.complete" ]]; then
    verify
    log "cached: $WRAPPER ($("$WRAPPER" --version | head -n1); device $DEVICE)"
    [[ $PRINT_PATH -eq 1 ]] && echo "$WRAPPER"
    exit 0
fi

START=$(date +%s)
# Whole Depends closure as apt resolves it for an empty system (no Recommends; backports
# preferred, as its qemu pins backports versions of its own data packages). Unpacking a
# few packages that only matter to a real installation (passwd, adduser, ...) is cheaper
# than maintaining a hand-written library list that drifts with every upload.
mapfile -t PKGS < <(apt-get "${APT_ARGS[@]}" install -s --no-install-recommends -t trixie-backports \
                        "qemu-system-x86=$VERSION" 2>/dev/null \
                    | awk '/^Inst / { v=$3; gsub(/[()]/, "", v); print $2 "=" v }')
((${#PKGS[@]} > 0)) || die "could not resolve the dependencies of qemu-system-x86=$VERSION"
DEBS="$APT_DIR/debs"
log "downloading ${#PKGS[@]} packages for qemu-system-x86 $VERSION"
apt_download "$DEBS" "${PKGS[@]}"

rm -rf "$DEST.tmp"
mkdir -p "$DEST.tmp/root"
for p in "${PKGS[@]}"; do
    name=${p%%=*} ver=${p#*=}
    deb=$(ls "$DEBS/${name}_${ver//:/%3a}_"*.deb 2>/dev/null | head -n1)
    [[ -n "$deb" ]] || die "downloaded package missing: $p"
    dpkg -x "$deb" "$DEST.tmp/root"
done

ROOT_REL=root
LOADER="$DEST.tmp/root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
[[ -e "$LOADER" ]] || die "trixie libc6 has no ld-linux-x86-64.so.2 at the expected place"
[[ -x "$DEST.tmp/root/usr/bin/qemu-system-x86_64" ]] || die "qemu-system-x86 has no qemu-system-x86_64"

# /proc/self/exe is the loader, not qemu, so qemu cannot find its data and module
# directories by itself: the wrapper passes them explicitly.
cat > "$DEST.tmp/qemu-system-x86_64" <<WRAP
#!/bin/sh
# Runs trixie-backports qemu-system-x86 $VERSION from a private root (written by get-qemu.sh).
here=\$(dirname "\$(readlink -f "\$0")")
r="\$here/$ROOT_REL"
export QEMU_MODULE_DIR="\$r/usr/lib/x86_64-linux-gnu/qemu"
exec "\$r/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" \\
    --library-path "\$r/usr/lib/x86_64-linux-gnu:\$r/lib/x86_64-linux-gnu:\$r/usr/lib/x86_64-linux-gnu/pulseaudio" \\
    "\$r/usr/bin/qemu-system-x86_64" -L "\$r/usr/share/qemu" -L "\$r/usr/share/seabios" "\$@"
WRAP
chmod +x "$DEST.tmp/qemu-system-x86_64"
touch "$DEST.tmp/.complete"
rm -rf "$DEST"
mv "$DEST.tmp" "$DEST"

verify
END=$(date +%s)
log "ready in $((END - START)) s: $WRAPPER ($("$WRAPPER" --version | head -n1); device $DEVICE; $(du -sh "$DEST" | cut -f1))"
[[ $PRINT_PATH -eq 1 ]] && echo "$WRAPPER"
exit 0
