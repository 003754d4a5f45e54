#!/usr/bin/env bash
# Builds a small x86_64 Linux 7.3 bzImage with the virtio_can driver built in.
#
# Debian's prebuilt 7.3 kernels leave CONFIG_CAN_VIRTIO_CAN off, so the guest kernel is built
# from trixie-backports' linux-source-7.3 (Debian-patched source) with the host's gcc.
# Output: $CACHE_ROOT/kernel-<key>/bzImage; the key hashes the source package version, the
# config fragment and this script, so any change to them yields a fresh build from scratch.
#
# Usage: build-kernel.sh [--print-path]
#   --print-path  only print the bzImage path on stdout (building it first if needed)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PRINT_PATH=0
[[ "${1:-}" == "--print-path" ]] && PRINT_PATH=1

SRC_PKG=linux-source-7.3
FRAGMENT="$GUEST_DIR/kernel.config"
JOBS="${VDC_JOBS:-$(nproc)}"

# Host tools the kernel build needs beyond gcc/make. Installed from the machine's own
# (bookworm) archive when missing, since they are ordinary build dependencies.
ensure_build_tools() {
    local missing=() t pkg
    for t in gcc:gcc make:make flex:flex bison:bison bc:bc xz:xz-utils perl:perl; do
        command -v "${t%%:*}" >/dev/null || missing+=("${t#*:}")
    done
    [[ -e /usr/include/libelf.h ]] || missing+=(libelf-dev)   # objtool
    [[ -e /usr/include/openssl/ssl.h ]] || missing+=(libssl-dev)
    ((${#missing[@]} == 0)) && return 0
    [[ $EUID -eq 0 ]] || die "missing build tools (${missing[*]}); install them: apt-get install ${missing[*]}"
    log "installing build tools: ${missing[*]}"
    local aptlog="$CACHE_ROOT/apt-install.log"
    mkdir -p "$CACHE_ROOT"
    { DEBIAN_FRONTEND=noninteractive apt-get -q update &&
      DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends "${missing[@]}"; } \
        > "$aptlog" 2>&1 || { tail -n 20 "$aptlog" >&2; die "apt-get install ${missing[*]} failed"; }
}

apt_private trixie "trixie trixie-updates trixie-backports"
VERSION=$(apt_version "$SRC_PKG")
[[ -n "$VERSION" ]] || die "$SRC_PKG not found in trixie-backports"

KEY=$(cat <(echo "$SRC_PKG $VERSION") "$FRAGMENT" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)
OUT="$CACHE_ROOT/kernel-$KEY"
if [[ -s "$OUT/bzImage" ]]; then
    log "cached: $OUT/bzImage ($SRC_PKG $VERSION)"
    [[ $PRINT_PATH -eq 1 ]] && echo "$OUT/bzImage"
    exit 0
fi

ensure_build_tools
START=$(date +%s)

DEB_DIR="$APT_DIR/debs"
DEB=$(ls "$DEB_DIR/${SRC_PKG}_${VERSION//:/%3a}_all.deb" 2>/dev/null || true)
if [[ -z "$DEB" ]]; then
    log "downloading $SRC_PKG $VERSION"
    apt_download "$DEB_DIR" "$SRC_PKG=$VERSION"
    DEB=$(ls "$DEB_DIR/${SRC_PKG}_${VERSION//:/%3a}_all.deb")
fi

# Always a fresh tree: a half-finished earlier build must not leak into this one.
WORK="$CACHE_ROOT/kernel-build-$KEY"
rm -rf "$WORK"
mkdir -p "$WORK"
log "unpacking $(basename "$DEB")"
dpkg -x "$DEB" "$WORK/deb"
tar -C "$WORK" -xf "$WORK/deb/usr/src/$SRC_PKG.tar.xz"
rm -rf "$WORK/deb"
SRC="$WORK/$SRC_PKG"
[[ -f "$SRC/drivers/net/can/virtio_can.c" ]] || die "$SRC_PKG has no drivers/net/can/virtio_can.c"

cd "$SRC"
# Other work shares these cores: stay at the lowest priority.
MAKE=(nice -n 19 make -s ARCH=x86_64 "-j$JOBS")
"${MAKE[@]}" tinyconfig >/dev/null

# Apply the fragment with scripts/config, then let olddefconfig resolve dependencies.
while IFS= read -r line; do
    [[ "$line" =~ ^CONFIG_([A-Za-z0-9_]+)=(.*)$ ]] || continue
    sym=${BASH_REMATCH[1]} val=${BASH_REMATCH[2]}
    case "$val" in
        y) scripts/config --enable "$sym" ;;
        n) scripts/config --disable "$sym" ;;
        m) scripts/config --module "$sym" ;;
        *) scripts/config --set-val "$sym" "$val" ;;
    esac
done < "$FRAGMENT"
"${MAKE[@]}" olddefconfig >/dev/null

# Apply twice: a symbol whose dependency only appeared in the first pass sticks on the second.
while IFS= read -r line; do
    [[ "$line" =~ ^CONFIG_([A-Za-z0-9_]+)=y$ ]] && scripts/config --enable "${BASH_REMATCH[1]}"
done < "$FRAGMENT"
"${MAKE[@]}" olddefconfig >/dev/null

lost=()
while IFS= read -r line; do
    [[ "$line" =~ ^(CONFIG_[A-Za-z0-9_]+=y)$ ]] || continue
    grep -qx "${BASH_REMATCH[1]}" .config || lost+=("${BASH_REMATCH[1]}")
done < "$FRAGMENT"
log "relevant .config lines:"
grep -E '^CONFIG_(CAN|VIRTIO|PCI=|PCI_MSI=|SERIAL_8250=|SERIAL_8250_CONSOLE|BLK_DEV_INITRD|RD_GZIP|DEVTMPFS|ACPI=|NET=|INET=|UNIX=)' .config >&2
((${#lost[@]} == 0)) || die "config symbols did not stick after olddefconfig: ${lost[*]}"

log "building bzImage with $(gcc --version | head -n1), -j$JOBS"
"${MAKE[@]}" bzImage > "$WORK/build.log" 2>&1 || { tail -n 40 "$WORK/build.log" >&2; die "kernel build failed (log: $WORK/build.log)"; }

mkdir -p "$OUT.tmp"
cp arch/x86/boot/bzImage .config System.map "$OUT.tmp/"
echo "$SRC_PKG $VERSION" > "$OUT.tmp/source-version"
END=$(date +%s)
echo "$((END - START))" > "$OUT.tmp/build-seconds"
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
cd /
# The unpacked tree is ~1.5 GB and the result is cached: drop it.
rm -rf "$WORK"
log "built $OUT/bzImage ($(stat -c %s "$OUT/bzImage") bytes) in $((END - START)) s"
[[ $PRINT_PATH -eq 1 ]] && echo "$OUT/bzImage"
exit 0
