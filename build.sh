#!/usr/bin/env bash
# Publishes every executable as a NativeAOT single binary into artifacts/bin/.
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
mkdir -p artifacts/bin
for project in $(cat publish.list); do
  dotnet publish "$project" -c Release -r linux-x64 -p:PublishAot=true -o artifacts/bin --nologo -v quiet
done
rm -f artifacts/bin/*.dbg artifacts/bin/*.pdb
ls -1 artifacts/bin
