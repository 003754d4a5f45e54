#!/usr/bin/env bash
# Builds the guest's initramfs (gzip'ed newc cpio): bookworm busybox-static, can-utils and
# iproute2 with exactly the shared libraries they load, /init and the scenario scripts.
# Everything comes from downloaded .deb files unpacked into a private root, so the result does
# not depend on what happens to be installed on the host.
# Output: $CACHE_ROOT/initramfs-<key>/initramfs.cpio.gz; the key hashes the package versions,
# /init, the scenarios and this script.
#
# Usage: build-initramfs.sh [--print-path]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PRINT_PATH=0
[[ "${1:-}" == "--print-path" ]] && PRINT_PATH=1

# cpio is a tool for packing only; it runs from the private root as well.
PACKAGES=(busybox-static can-utils iproute2 cpio)
TOOLS=(/usr/bin/cansend /usr/bin/candump /usr/bin/cangen /usr/bin/canfdtest /usr/bin/cangw
       /usr/bin/canbusload /usr/bin/cansequence /bin/ip /sbin/ip)

apt_private bookworm "bookworm bookworm-updates"
mapfile -t PKGS < <(apt-get "${APT_ARGS[@]}" install -s --no-install-recommends "${PACKAGES[@]}" 2>/dev/null \
                    | awk '/^Inst / { v=$3; gsub(/[()]/, "", v); print $2 "=" v }' | sort)
((${#PKGS[@]} > 0)) || die "could not resolve ${PACKAGES[*]} in bookworm"

KEY=$(cat <(printf '%s\n' "${PKGS[@]}") "$GUEST_DIR/init" "$GUEST_DIR"/scenarios/* "${BASH_SOURCE[0]}" \
      | sha256sum | cut -c1-16)
OUT="$CACHE_ROOT/initramfs-$KEY"
if [[ -s "$OUT/initramfs.cpio.gz" ]]; then
    log "cached: $OUT/initramfs.cpio.gz"
    [[ $PRINT_PATH -eq 1 ]] && echo "$OUT/initramfs.cpio.gz"
    exit 0
fi
START=$(date +%s)

DEBS="$APT_DIR/debs"
apt_download "$DEBS" "${PKGS[@]}"
WORK="$CACHE_ROOT/initramfs-build-$KEY"
rm -rf "$WORK"
mkdir -p "$WORK/pkgroot" "$WORK/rootfs"
for p in "${PKGS[@]}"; do
    name=${p%%=*} ver=${p#*=}
    deb=$(ls "$DEBS/${name}_${ver//:/%3a}_"*.deb 2>/dev/null | head -n1)
    [[ -n "$deb" ]] || die "downloaded package missing: $p"
    dpkg -x "$deb" "$WORK/pkgroot"
done
P="$WORK/pkgroot"
R="$WORK/rootfs"
LIBDIR=lib/x86_64-linux-gnu
LOADER=$(readlink -f "$P/lib64/ld-linux-x86-64.so.2")
[[ -x "$LOADER" ]] || die "bookworm libc6 has no ld-linux-x86-64.so.2"
LIBPATH="$P/lib/x86_64-linux-gnu:$P/usr/lib/x86_64-linux-gnu"

mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc,root,scenarios,"$LIBDIR",lib64}

# busybox: every applet as a symlink. Its --list comes from the static binary itself.
install -m 0755 "$P/bin/busybox" "$R/bin/busybox"
for applet in $("$R/bin/busybox" --list); do
    [[ -e "$R/bin/$applet" ]] || ln -s busybox "$R/bin/$applet"
done

# Dynamic tools: the binary plus every library the bookworm loader resolves for it inside the
# private root (not the host's), copied under its soname.
copy_lib() {
    local soname=$1 src=$2
    [[ -e "$R/$LIBDIR/$soname" ]] && return 0
    cp -L "$src" "$R/$LIBDIR/$soname"
}
for tool in "${TOOLS[@]}"; do
    [[ -e "$P$tool" ]] || continue
    [[ -L "$P$tool" ]] && continue   # /sbin/ip vs /bin/ip: one real file is enough
    install -m 0755 "$P$tool" "$R/bin/$(basename "$tool")"
    deps=$("$LOADER" --library-path "$LIBPATH" --list "$P$tool") \
        || die "cannot resolve libraries of $tool"
    if grep -q 'not found' <<<"$deps"; then
        die "unresolved libraries for $tool: $(grep 'not found' <<<"$deps" | tr -s ' \t' ' ')"
    fi
    while read -r soname _ path _; do
        [[ "$path" == "$P"/* ]] || continue
        copy_lib "$soname" "$path"
    done < <(grep '=>' <<<"$deps")
done
for t in cansend candump cangen canfdtest ip; do
    [[ -x "$R/bin/$t" ]] || die "$t not found in the unpacked packages"
done
cp -L "$LOADER" "$R/$LIBDIR/ld-linux-x86-64.so.2"
ln -s "/$LIBDIR/ld-linux-x86-64.so.2" "$R/lib64/ld-linux-x86-64.so.2"
# iproute2 reads its name tables from here; without them it only warns.
[[ -d "$P/etc/iproute2" ]] && cp -r "$P/etc/iproute2" "$R/etc/"
[[ -d "$P/usr/share/iproute2" ]] && mkdir -p "$R/usr/share" && cp -r "$P/usr/share/iproute2" "$R/usr/share/"
echo 'root:x:0:0:root:/root:/bin/sh' > "$R/etc/passwd"
echo 'root:x:0:' > "$R/etc/group"

install -m 0755 "$GUEST_DIR/init" "$R/init"
install -m 0644 "$GUEST_DIR"/scenarios/* "$R/scenarios/"

mkdir -p "$OUT.tmp"
# Fixed owner, times and inode numbers, sorted names: the same inputs give the same bytes.
find "$R" -mindepth 1 -exec touch -h -d @0 {} +
(cd "$R" && find . -mindepth 1 | LC_ALL=C sort \
    | "$LOADER" --library-path "$LIBPATH" "$P/bin/cpio" --quiet -o -H newc -R 0:0 --reproducible \
    | gzip -9n > "$OUT.tmp/initramfs.cpio.gz")
printf '%s\n' "${PKGS[@]}" > "$OUT.tmp/packages"
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
rm -rf "$WORK"
END=$(date +%s)
log "built $OUT/initramfs.cpio.gz ($(stat -c %s "$OUT/initramfs.cpio.gz") bytes) in $((END - START)) s"
[[ $PRINT_PATH -eq 1 ]] && echo "$OUT/initramfs.cpio.gz"
exit 0
