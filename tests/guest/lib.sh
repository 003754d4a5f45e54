# Shared helpers for the guest scripts. Sourced, not executed.
# shellcheck shell=bash

CACHE_ROOT="${VDC_CACHE:-$HOME/.cache/vhost-device-can}"
GUEST_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
# DIE_STATUS lets a script keep exit status 1 for a meaningful result (run-guest.sh: FAIL).
die() { printf '[%s] ERROR: %s\n' "$(basename "$0")" "$*" >&2; exit "${DIE_STATUS:-1}"; }

# The Debian mirror this machine already uses. Read at run time so the scripts follow
# whatever mirror (or proxy) the machine is configured for instead of hard-coding one.
debian_mirror() {
    local uri=""
    if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
        # deb822: take the URIs of the stanza that is not the security archive.
        uri=$(awk '
            /^[[:space:]]*$/ { if (u != "" && s !~ /security/) { print u; exit } u=""; s=""; next }
            /^URIs:/   { u=$2 }
            /^Suites:/ { s=$0 }
            END { if (u != "" && s !~ /security/) print u }
        ' /etc/apt/sources.list.d/debian.sources | head -n1)
    fi
    if [[ -z "$uri" && -r /etc/apt/sources.list ]]; then
        uri=$(awk '$1 == "deb" && $0 !~ /security/ {
                  for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
              /etc/apt/sources.list | head -n1)
    fi
    [[ -n "$uri" ]] || die "no Debian mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
    printf '%s\n' "${uri%/}"
}

# A private apt universe for one suite set, so trixie packages can be downloaded on bookworm
# without touching the system's apt state. Sets APT_ARGS for apt-get/apt-cache calls.
#   apt_private NAME "SUITE..."
apt_private() {
    local name=$1 suites=$2 dir="$CACHE_ROOT/apt-$1" mirror
    mirror=$(debian_mirror)
    mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/etc"
    # One-line format, one suite per line; the system keyring already holds trixie's keys.
    : > "$dir/etc/sources.list.new"
    local s
    for s in $suites; do
        echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $s main" \
            >> "$dir/etc/sources.list.new"
    done
    mv "$dir/etc/sources.list.new" "$dir/etc/sources.list"
    APT_ARGS=(
        -o "Dir::Etc::SourceList=$dir/etc/sources.list"
        -o "Dir::Etc::SourceParts=/dev/null"
        -o "Dir::Etc::Preferences=/dev/null"
        -o "Dir::Etc::PreferencesParts=/dev/null"
        -o "Dir::State::Lists=$dir/lists"
        -o "Dir::State::Status=/dev/null"
        -o "Dir::Cache=$dir/cache"
        -o "APT::Architecture=amd64"
        -o "APT::Architectures=amd64"
        -o "Debug::NoLocking=1"
        -o "APT::Sandbox::User=root"
        -o "Acquire::Languages=none"
        -o "APT::Get::Assume-Yes=true"
    )
    APT_DIR=$dir
    # Refresh the index at most once a day: later runs stay offline-fast and idempotent.
    if [[ -z "$(find "$dir/lists" -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -n1)" ]]; then
        log "apt-get update for $suites from $mirror"
        if ! apt-get "${APT_ARGS[@]}" -qq update >&2; then
            # A stale index still names packages that may already sit in the cache.
            [[ -n "$(find "$dir/lists" -maxdepth 1 -name '*_Packages*' | head -n1)" ]] \
                || die "apt-get update for $suites failed"
            log "apt-get update failed; using the index from an earlier run"
        fi
    fi
}

# Candidate version of a package in the private universe, empty if none.
apt_version() {
    apt-cache "${APT_ARGS[@]}" policy "$1" 2>/dev/null | awk '/Candidate:/ { if ($2 != "(none)") print $2 }'
}

# Download packages (name or name=version) into DIR, without installing anything.
apt_download() {
    local dest=$1; shift
    mkdir -p "$dest"
    (cd "$dest" && apt-get "${APT_ARGS[@]}" -qq download "$@" >&2) || die "apt-get download $* failed"
}
