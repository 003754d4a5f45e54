#!/usr/bin/env bash
# Publishes every executable as a NativeAOT single binary into artifacts/bin/.
#   ./build.sh --deb   also builds the Debian package artifacts/vhost-device-can_VERSION_amd64.deb
#                      (packaging/deb/build.sh: needs scdoc and dpkg-dev)
set -euo pipefail
deb=false
case "${1:-}" in
  "") ;;
  --deb) deb=true ;;
  *) echo "usage: ./build.sh [--deb]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
mkdir -p artifacts/bin
for project in $(cat publish.list); do
  dotnet publish "$project" -c Release -r linux-x64 -p:PublishAot=true -o artifacts/bin --nologo -v quiet
done
rm -f artifacts/bin/*.dbg artifacts/bin/*.pdb
ls -1 artifacts/bin
if $deb; then packaging/deb/build.sh artifacts; fi
