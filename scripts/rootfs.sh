#!/usr/bin/env bash
# Root filesystems of the Debian releases the lab and the real-tool tests
# run rmqgen's output on, built with mmdebstrap from Debian's archive and
# cached on the machine between runs.
#
#   scripts/rootfs.sh RELEASE...     build or reuse; prints RELEASE=DIR per line
#   scripts/rootfs.sh --list         the releases this script knows
#   scripts/rootfs.sh --debs RELEASE-cloud PACKAGE...
#                                    download PACKAGE and whatever of its
#                                    dependencies that root filesystem lacks;
#                                    prints debs=DIR (the .deb files)
#
# RELEASE-cloud (e.g. trixie-cloud) is the release as its cloud image has
# it before first boot: cloud-init, HAProxy and keepalived, but no RabbitMQ
# (the lab installs it at first boot from a local apt repository built from
# --debs, through the rendered user-data).
#
# The cache key is the release plus the candidate version of every package
# the root filesystem is built from (its include list, resolved against
# the archive's current indices): a new point release or security update
# of any of them rebuilds; a rerun against an unchanged archive reuses the
# directory as it is; a cold machine builds (about 20-90 s per release).
# Each release keeps one directory: an older one is removed once its
# successor is complete.
#
#   $RMQGEN_ROOTFS_CACHE   cache directory (default /var/cache/rmqgen)
#   $RMQGEN_DEBIAN_MIRROR  Debian archive (default http://deb.debian.org/debian)
#
# Needs root (mmdebstrap's root mode; the tree keeps its owners).
set -euo pipefail

cache="${RMQGEN_ROOTFS_CACHE:-/var/cache/rmqgen}"
mirror="${RMQGEN_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security="${mirror%/debian}/debian-security"

# What runs inside: the broker, the load balancer's two daemons, the tools
# the lab and the units call (ip, sysctl, setpriv, kill), and python3 for
# the load balancers' syslog sink (tests/lab/syslog_sink.py).
include=(rabbitmq-server erlang-base haproxy keepalived iproute2 procps util-linux python3-minimal)
# A -cloud variant: no broker (cloud-init installs it at first boot), and
# the cloud image's cloud-init with gpg, which its apt module needs to
# install a repository key (`key`/`keyid` sources).
cloud_without=(rabbitmq-server erlang-base)
cloud_extra=(cloud-init gpg)
# Changing how the tree is made changes the key too.
recipe_version=1

# release|suites (as the release's own images list them)|apt options
RELEASES=(
    "bookworm|bookworm bookworm-updates|bookworm-security"
    "trixie|trixie trixie-updates|trixie-security"
    "sid|sid|"
)

# A cache key: 16 hex digits (what a stale-entry glob must match exactly).
keyglob='[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'

die() {
    printf 'rootfs: %s\n' "$*" >&2
    exit 2
}

release_line() {
    local r
    for r in "${RELEASES[@]}"; do
        [ "${r%%|*}" = "${1%-cloud}" ] && { printf '%s\n' "$r"; return; }
    done
    return 1
}

# The cache entry's name: RELEASE, or cloud-RELEASE for RELEASE-cloud (so
# that no RELEASE-* glob, this script's or an older one's, takes a cloud
# tree for a stale RELEASE tree).
entry() { # NAME
    if [ "${1%-cloud}" = "$1" ]; then
        printf '%s\n' "$1"
    else
        printf 'cloud-%s\n' "${1%-cloud}"
    fi
}

# The packages a root filesystem is built from.
includes() { # NAME
    local p x keep
    if [ "${1%-cloud}" = "$1" ]; then
        printf '%s\n' "${include[@]}"
        return
    fi
    for p in "${include[@]}"; do
        keep=yes
        for x in "${cloud_without[@]}"; do [ "$p" != "$x" ] || keep=no; done
        [ "$keep" = no ] || printf '%s\n' "$p"
    done
    printf '%s\n' "${cloud_extra[@]}"
}

# The archive here is a snapshot: sid's Release file is past its
# Valid-Until date. Stable releases keep the check.
apt_opts() {
    [ "${1%-cloud}" = sid ] && printf '%s\n' 'Acquire::Check-Valid-Until "false";'
    return 0
}

sources() { # RELEASE
    local line suites sec s
    line="$(release_line "$1")"
    suites="$(cut -d'|' -f2 <<<"$line")"
    sec="$(cut -d'|' -f3 <<<"$line")"
    for s in $suites; do
        printf 'deb %s %s main\n' "$mirror" "$s"
    done
    [ -z "$sec" ] || printf 'deb %s %s main\n' "$security" "$sec"
}

# A private apt (its own lists, no dpkg status) that knows the release's
# archive (one per NAME: two scripts may update at once): its apt.conf.
# Updated once per run of this script (a stamp, as it runs in subshells).
private_apt() { # NAME
    local rel="$1" dir="$cache/apt/$1"
    mkdir -p "$dir/lists/partial" "$dir/archives/partial" "$dir/etc/preferences.d"
    sources "$rel" >"$dir/etc/sources.list"
    : >"$dir/status"
    {
        printf 'Dir::Etc::SourceList "%s";\n' "$dir/etc/sources.list"
        printf 'Dir::Etc::SourceParts "/nonexistent";\n'
        printf 'Dir::Etc::Preferences "/nonexistent";\n'
        printf 'Dir::Etc::PreferencesParts "%s";\n' "$dir/etc/preferences.d"
        printf 'Dir::State::Lists "%s";\n' "$dir/lists"
        printf 'Dir::State::Status "%s";\n' "$dir/status"
        printf 'Dir::Cache "%s";\n' "$dir"
        printf 'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";\n'
        printf 'APT::Sandbox::User "root";\n'
        apt_opts "$rel"
    } >"$dir/apt.conf"
    if [ "$(cat "$dir/updated-by" 2>/dev/null)" != "$$" ]; then
        APT_CONFIG="$dir/apt.conf" apt-get -qq update >&2 ||
            die "$rel: apt-get update against $mirror failed"
        printf '%s\n' "$$" >"$dir/updated-by"
    fi
    printf '%s\n' "$dir/apt.conf"
}

# Prints "package version" for every package NAME is built from.
candidates() { # NAME
    local rel="$1" conf p v
    conf="$(private_apt "$rel")" || die "$rel: no private apt"
    while read -r p; do
        v="$(APT_CONFIG="$conf" apt-cache policy "$p" | awk '/Candidate:/ { print $2 }')"
        [ -n "$v" ] && [ "$v" != "(none)" ] || die "$rel: no candidate for $p in $mirror"
        printf '%s %s\n' "$p" "$v"
    done < <(includes "$rel")
}

build() { # RELEASE -> prints the root directory
    local rel="$1" versions key dir start
    release_line "$rel" >/dev/null || die "unknown release '$rel' (--list)"
    versions="$(candidates "$rel")"
    key="$(printf 'recipe %s\nrelease %s\n%s\n' "$recipe_version" "$rel" "$versions" |
        sha256sum | cut -c1-16)"
    dir="$cache/rootfs/$(entry "$rel")-$key"
    if [ -e "$dir/complete" ]; then
        printf 'rootfs: %s: cached %s (%s)\n' "$rel" "$dir" \
            "$(tr '\n' ' ' <<<"$versions" | sed 's/ $//')" >&2
    else
        start=$SECONDS
        printf 'rootfs: %s: building %s with mmdebstrap\n' "$rel" "$dir" >&2
        rm -rf "$dir"
        mkdir -p "$dir"
        local aptopt=()
        [ "${rel%-cloud}" = sid ] && aptopt=(--aptopt='Acquire::Check-Valid-Until "false"')
        local inc
        inc="$(includes "$rel" | paste -sd, -)"
        # The release's sources, one argument each, as its images have them.
        local srcs=()
        mapfile -t srcs < <(sources "$rel")
        mmdebstrap --quiet --mode=root --variant=minbase \
            "${aptopt[@]}" --include="$inc" \
            "${rel%-cloud}" "$dir/root" "${srcs[@]}" >&2 ||
            die "$rel: mmdebstrap failed"
        # What was installed, for the key check and the reports.
        chroot "$dir/root" dpkg-query -W -f='${Package} ${Version}\n' >"$dir/installed"
        local p v
        while read -r p v; do
            grep -qx "$p $v" "$dir/installed" ||
                die "$rel: mmdebstrap installed $(grep "^$p " "$dir/installed" || echo "no $p"), the archive's candidate is $v"
        done <<<"$versions"
        printf '%s\n' "$versions" >"$dir/versions"
        printf '%s\n' "$((SECONDS - start))" >"$dir/build-seconds"
        : >"$dir/complete"
        printf 'rootfs: %s: built in %d s (%s)\n' "$rel" $((SECONDS - start)) \
            "$(du -sh "$dir/root" | cut -f1)" >&2
    fi
    # One directory per release: the others are stale. Exactly ENTRY-KEY
    # (16 hex digits).
    local old
    for old in "$cache/rootfs/$(entry "$rel")"-$keyglob; do
        [ "$old" = "$dir" ] || [ ! -e "$old" ] || {
            printf 'rootfs: %s: removing the stale %s\n' "$rel" "$old" >&2
            rm -rf --one-file-system "$old"
        }
    done
    printf '%s=%s\n' "$rel" "$dir/root"
}

# The .deb files of PACKAGE... and of every dependency the root filesystem
# NAME lacks (no recommends), downloaded with apt from the release's archive
# into $cache/debs/NAME-KEY: the key is the root filesystem's directory
# (itself keyed by its package versions) plus every resolved "package
# version". A rerun against an unchanged archive downloads nothing.
debs() { # NAME PACKAGE... -> prints debs=DIR
    local rel="$1" root conf plan key dir
    shift
    root="$(build "$rel" | sed -n "s|^$rel=||p")"
    [ -d "$root" ] || die "$rel: no root filesystem"
    conf="$(private_apt "$rel")" || die "$rel: no private apt"
    local against=(-o "Dir::State::Status=$root/var/lib/dpkg/status" --no-install-recommends)
    plan="$(APT_CONFIG="$conf" apt-get -s install "${against[@]}" "$@" |
        awk '/^Inst / { v = $3; gsub(/[()]/, "", v); print $2, v }' | sort)" ||
        die "$rel: apt cannot install $* on $root"
    [ -n "$plan" ] || die "$rel: $root already has $*"
    key="$(printf 'root %s\n%s\n' "$root" "$plan" | sha256sum | cut -c1-16)"
    dir="$cache/debs/$rel-$key"
    if [ -e "$dir/complete" ]; then
        printf 'rootfs: %s: cached .debs %s (%s packages)\n' "$rel" "$dir" "$(wc -l <<<"$plan")" >&2
    else
        rm -rf "$dir"
        mkdir -p "$dir/partial"
        APT_CONFIG="$conf" apt-get -qq install --download-only -y "${against[@]}" \
            -o "Dir::Cache::archives=$dir" "$@" >&2 ||
            die "$rel: downloading $* failed"
        rm -rf "$dir/partial" "$dir/lock"
        local n
        n="$(find "$dir" -maxdepth 1 -name '*.deb' | wc -l)"
        [ "$n" -eq "$(wc -l <<<"$plan")" ] ||
            die "$rel: $n .deb files in $dir, apt planned $(wc -l <<<"$plan")"
        printf '%s\n' "$plan" >"$dir/packages"
        : >"$dir/complete"
        printf 'rootfs: %s: downloaded %s .debs into %s (%s)\n' "$rel" "$n" "$dir" \
            "$(du -sh "$dir" | cut -f1)" >&2
    fi
    local old
    for old in "$cache/debs/$rel"-$keyglob; do
        [ "$old" = "$dir" ] || [ ! -e "$old" ] || rm -rf --one-file-system "$old"
    done
    printf 'debs=%s\n' "$dir"
}

[ $# -gt 0 ] || die "usage: scripts/rootfs.sh RELEASE... | --list | --debs RELEASE-cloud PACKAGE..."
if [ "$1" = --list ]; then
    for r in "${RELEASES[@]}"; do printf '%s\n' "${r%%|*}" "${r%%|*}-cloud"; done
    exit 0
fi
[ "$(id -u)" -eq 0 ] || die "run as root"
command -v mmdebstrap >/dev/null || die "mmdebstrap is not installed (apt-get install mmdebstrap)"
mkdir -p "$cache/rootfs" "$cache/debs"
if [ "$1" = --debs ]; then
    [ $# -ge 3 ] || die "usage: scripts/rootfs.sh --debs RELEASE-cloud PACKAGE..."
    release_line "$2" >/dev/null || die "unknown release '$2' (--list)"
    exec 9>"$cache/rootfs/.$2.lock"
    flock 9
    debs "${@:2}"
    exit 0
fi
for rel in "$@"; do
    # Two labs may ask for the same release at once: one builds.
    exec 9>"$cache/rootfs/.$rel.lock"
    flock 9
    build "$rel"
    exec 9>&-
done
