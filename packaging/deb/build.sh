#!/usr/bin/env bash
# Builds the Debian package from the binaries ./build.sh published into artifacts/bin:
#   packaging/deb/build.sh [OUTPUT_DIR]     (default: artifacts)
# writes OUTPUT_DIR/vhost-device-can_VERSION_amd64.deb and prints its path on the last line.
# Needs scdoc (manual pages), dpkg-dev (dpkg-shlibdeps, dpkg-parsechangelog) and gzip; no root:
# dpkg-deb --root-owner-group makes every file root's.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
output=$(mkdir -p "${1:-$repo/artifacts}" && cd "${1:-$repo/artifacts}" && pwd)
bin=$repo/artifacts/bin
here=$repo/packaging/deb

for tool in scdoc strip dpkg-deb dpkg-shlibdeps dpkg-parsechangelog gzip; do
  command -v "$tool" >/dev/null || { echo "packaging needs $tool (apt-get install scdoc binutils dpkg-dev gzip)" >&2; exit 1; }
done
for binary in vhost-device-can vhost-can-sim vhost-can-ctl; do
  [ -x "$bin/$binary" ] || { echo "$bin/$binary is missing: run ./build.sh first" >&2; exit 1; }
done

# The package version is the changelog's; its upstream part must be the binaries' own version,
# so a version bump without a changelog entry fails here rather than shipping a wrong version.
version=$(dpkg-parsechangelog -l "$here/changelog" -S Version)
upstream=$("$bin/vhost-device-can" --version)
upstream=${upstream%%+*}
if [ "${version%-*}" != "$upstream" ]; then
  echo "packaging/deb/changelog is at $version but vhost-device-can --version says $upstream: add a changelog entry" >&2
  exit 1
fi
# Reproducible: every timestamp is the changelog entry's.
SOURCE_DATE_EPOCH=$(dpkg-parsechangelog -l "$here/changelog" -S Timestamp)
export SOURCE_DATE_EPOCH

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
doc=$root/usr/share/doc/vhost-device-can
install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/usr/lib/systemd/system" \
  "$root/usr/share/man/man1" "$root/usr/share/man/man8" "$doc"

install -m 0755 "$bin/vhost-device-can" "$bin/vhost-can-sim" "$bin/vhost-can-ctl" "$root/usr/bin/"
# The compiler's version notes are of no use at run time (what dh_strip drops too).
strip --remove-section=.comment --remove-section=.note "$root/usr/bin/vhost-device-can" "$root/usr/bin/vhost-can-sim" "$root/usr/bin/vhost-can-ctl"
# Every unit in packaging/systemd; the folder may hold none yet.
for unit in "$repo"/packaging/systemd/*.service "$repo"/packaging/systemd/*.socket; do
  [ -e "$unit" ] && install -m 0644 "$unit" "$root/usr/lib/systemd/system/"
done
rmdir --ignore-fail-on-non-empty "$root/usr/lib/systemd/system" "$root/usr/lib/systemd" "$root/usr/lib"
# The instances' shared options, all commented out: a conffile, so an edit survives upgrades
# and a purge removes it.
install -d -m 0755 "$root/etc/default"
install -m 0644 "$repo/packaging/systemd/vhost-device-can.default" "$root/etc/default/vhost-device-can"
echo /etc/default/vhost-device-can > "$root/DEBIAN/conffiles"

for page in "$repo"/docs/man/*.scd; do
  name=$(basename "$page" .scd)            # vhost-device-can.8
  scdoc < "$page" > "$work/$name"
  gzip -9n < "$work/$name" > "$root/usr/share/man/man${name##*.}/$name.gz"
done

install -m 0644 "$here/copyright" "$doc/copyright"
install -d -m 0755 "$root/usr/share/lintian/overrides"
install -m 0644 "$here/lintian-overrides" "$root/usr/share/lintian/overrides/vhost-device-can"
gzip -9n < "$here/changelog" > "$doc/changelog.Debian.gz"
install -m 0644 "$repo/README.md" "$repo/docs/real-guest.md" "$repo/docs/control-protocol.md" "$doc/"
install -d -m 0755 "$doc/spec"
install -m 0644 "$repo"/docs/spec/*.md "$doc/spec/"
install -d -m 0755 "$doc/guides" "$doc/examples"
install -m 0644 "$repo"/docs/guides/*.md "$doc/guides/"
# A drop-in for vhost-device-can@.service that lets --bridge and --metrics use IP.
install -m 0644 "$repo/packaging/systemd/network.conf.example" "$doc/examples/"
chmod 0644 "$doc"/*.gz "$root"/usr/share/man/man*/*.gz

# Depends from the libraries the binaries link (libc6 and its version), as debhelper would.
mkdir -p "$work/src/debian"
printf 'Source: vhost-device-can\n\nPackage: vhost-device-can\nArchitecture: amd64\n' > "$work/src/debian/control"
depends=$(cd "$work/src" && dpkg-shlibdeps -O "$root/usr/bin/vhost-device-can" "$root/usr/bin/vhost-can-sim" "$root/usr/bin/vhost-can-ctl")
depends=${depends#shlibs:Depends=}

install -m 0755 "$here/postinst" "$here/postrm" "$root/DEBIAN/"
chmod 0644 "$root/DEBIAN/conffiles"
(cd "$root" && find usr -type f -print0 | sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@INSTALLED_SIZE@/$size/" -e "s/@DEPENDS@/$depends/" \
  "$here/control.in" > "$root/DEBIAN/control"
chmod 0644 "$root/DEBIAN/control"

find "$root" -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +
deb=$output/vhost-device-can_${version}_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
