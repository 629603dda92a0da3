#!/bin/bash
# Other Slurm releases for the harness: a Debian root file system per Slurm
# series, made with mmdebstrap from Debian's own packages, and a private
# mount+UTS namespace that pivots into it to run the cluster and the tests.
#
#   release.sh series                 the series the harness tests (22.05 24.11 26.05)
#   release.sh suite SERIES           the Debian suite that ships it ("host" for 22.05)
#   release.sh root SERIES            make the root if missing; print its path
#   release.sh headers SERIES         print a directory holding only a copy of
#                                     the root's usr/include/slurm (for bindgen)
#   release.sh mirror                 the Debian mirror of this machine's apt sources
#   release.sh exec SERIES -- CMD...  run CMD in the root, in a new private
#                                     mount+UTS namespace
#   release.sh sweep SERIES           end every process still living in the
#                                     namespaces exec made for the root
#
# 22.05 is the machine's own Debian 12: `exec 22.05` runs CMD on the host.
#
# Isolation: nothing is mounted in the host's namespace (unshare -m, every
# mount private); the namespace sees the host's /proc, /sys and /dev bound
# in (read as they are, never changed), a tmpfs on /run and /tmp, and the
# repository and the harness's base directory bound at their own paths, so
# binaries built on the host (glibc <= 2.34 symbols) run unchanged and paths
# agree on both sides. Plain chroot is not enough: ch-run needs user
# namespaces, which a chroot forbids.
#
# `sweep` ends everything living in any namespace `exec` made for that root
# since the last sweep: one harness run per root at a time.
#
# Roots live under $CARME_ROOTS (default /var/lib/carme-test/roots), are kept
# between runs and made again when missing or when their package list
# changed (about half a minute each with a near mirror, minutes without).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ROOTS=${CARME_ROOTS:-/var/lib/carme-test/roots}
# The harness's clusters live here (Makefile E2E_DIR, CLUSTER_DIR, bench).
BASE=${CARME_TEST_BASE:-/var/lib/carme-test}

die() { echo "release: $*" >&2; exit 1; }
log() { echo "release: $*" >&2; }

SERIES=(22.05 24.11 26.05)

suite_of() {
    case "$1" in
        22.05) echo host ;;
        24.11) echo trixie ;;
        26.05) echo sid ;;     # forky has 26.05 too, but only sid ships apptainer
        *) die "unknown Slurm series '$1' (known: ${SERIES[*]})" ;;
    esac
}

# What every root holds: the issue's list, plus what the harness and the
# tests call (ss, fuser, nm/readelf, timeout, getent).
packages_of() {
    local p=(slurmd slurmctld slurm-client munge libslurm-dev
             charliecloud-runtime busybox-static procps passwd util-linux
             mount bsdutils iproute2 psmisc binutils coreutils)
    # Apptainer is only packaged in sid (issue 16): the real runtime there.
    [ "$1" = sid ] && p+=(apptainer squashfs-tools squashfuse fuse3)
    (IFS=,; echo "${p[*]}")
}

root_of() {
    local suite
    suite=$(suite_of "$1")
    [ "$suite" = host ] && die "$1 is the machine's own Slurm: it has no root"
    echo "$ROOTS/$suite"
}

make_root() {
    local series=$1 suite dir pk stamp
    suite=$(suite_of "$series")
    dir=$(root_of "$series")
    pk=$(packages_of "$suite")
    stamp="suite=$suite packages=$pk"
    if [ -f "$dir/.carme-root" ] && [ "$(cat "$dir/.carme-root")" = "$stamp" ]; then
        echo "$dir"
        return
    fi
    [ "$(id -u)" = 0 ] || die "making a root needs root"
    command -v mmdebstrap >/dev/null || die "mmdebstrap missing: run tests/cluster/install-deps.sh"
    mkdir -p "$ROOTS"
    chmod 755 "$ROOTS"
    # Built aside and renamed, so a half-made root is never used.
    local tmp="$dir.new.$$"
    rm -rf "$tmp"
    log "making the $suite root for Slurm $series (mmdebstrap, Debian's packages) ..."
    # The mirror apt uses on this machine; Check-Valid-Until off because
    # a testing suite's Release file can be out of date.
    local mirror
    mirror=$(mirror_url)
    mmdebstrap --quiet --variant=apt --include="$pk" \
        --aptopt='Acquire::Check-Valid-Until "false"' \
        "$suite" "$tmp" "$mirror" >&2 || { rm -rf "$tmp"; die "mmdebstrap $suite failed"; }
    [ -x "$tmp/usr/sbin/slurmd" ] || { rm -rf "$tmp"; die "the $suite root has no slurmd"; }
    echo "$stamp" >"$tmp/.carme-root"
    rm -rf "$dir"
    mv "$tmp" "$dir"
    log "root ready: $dir ($(version_in "$dir"))"
    echo "$dir"
}

# The Debian mirror of the machine's apt sources (deb822 or one-line form).
mirror_url() {
    local u
    u=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1 || true)
    [ -n "$u" ] || u=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
        | grep -v security | sed -E 's/^deb (\[[^]]*\] )?//' | awk '{print $1}' | head -n1 || true)
    echo "${u:-http://deb.debian.org/debian}"
}

# "Slurm 24.11.5", from the root's headers (SLURM_VERSION_NUMBER 0x180b05).
version_in() {
    local n
    n=$(sed -n 's/^#define SLURM_VERSION_NUMBER 0x\([0-9a-fA-F]*\)$/\1/p' "$1/usr/include/slurm/slurm_version.h")
    printf 'Slurm %d.%02d.%d' $((16#${n:0:2})) $((16#${n:2:2})) $((16#${n:4:2}))
}

headers() {
    local series=$1 dir inc
    dir=$(make_root "$series")
    inc="$dir.include"
    if ! cmp -s "$dir/usr/include/slurm/slurm_version.h" "$inc/slurm/slurm_version.h" 2>/dev/null; then
        rm -rf "$inc"
        mkdir -p "$inc"
        cp -r "$dir/usr/include/slurm" "$inc/slurm"
    fi
    echo "$inc"
}

# Runs as root in the new namespace (stage two of `exec`).
enter() {
    local dir=$1 name=$2 cwd=$3
    shift 3
    # Only ever in the namespace `exec` made: run by hand in the host's, the
    # pivot_root below would move the whole host into the root.
    [ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/1/ns/mnt)" ] ||
        die "__enter runs only inside the namespace 'release.sh exec' makes"
    [ "${CARME_RELEASE_UNSHARED:-}" = 1 ] || die "__enter runs only through 'release.sh exec'"
    # Every namespace made for this root is recorded, so `sweep` finds
    # what lives in it (and in namespaces made from it) by PID.
    readlink /proc/self/ns/mnt >>"$(registry_of "$dir")"
    mount --make-rprivate /
    # pivot_root needs the new root to be a mount point.
    mount --bind "$dir" "$dir"
    mount --rbind /proc "$dir/proc"
    mount --rbind /sys "$dir/sys"
    mount --rbind /dev "$dir/dev"
    mount -t tmpfs -o mode=755 tmpfs "$dir/run"
    # /dev/fuse as a Debian host has it (udev makes it 0666): unprivileged
    # Apptainer mounts SIF images with squashfuse through it. Some hosts
    # (containers without udev) leave it 0600; the node made here on the
    # namespace's /run covers it in this namespace only.
    if [ -c /dev/fuse ]; then
        mknod -m 666 "$dir/run/carme-fuse" c 10 229
        mount --bind "$dir/run/carme-fuse" "$dir/dev/fuse"
    fi
    mount -t tmpfs -o mode=1777 tmpfs "$dir/tmp"
    local p
    for p in "$REPO" "$BASE"; do
        mkdir -p "$dir$p"
        # Not recursive: the roots lie below BASE, and a recursive bind
        # would show this root's own /proc, /sys and /dev (the host's, live)
        # again under BASE, where a cleanup of BASE could reach them.
        mount --bind "$p" "$dir$p"
    done
    hostname "$name"
    # The namespace's name must resolve there, or every allocation waits
    # on DNS and nodes drain.
    grep -qw "$name" "$dir/etc/hosts" 2>/dev/null || echo "127.0.1.1 $name" >>"$dir/etc/hosts"
    mkdir -p "$dir/.oldroot"
    cd "$dir"
    pivot_root . .oldroot
    umount -l /.oldroot
    rmdir /.oldroot 2>/dev/null || true
    # The caller's directory, when the root's view has it (the repository
    # and the harness base do).
    cd "$cwd" 2>/dev/null || cd /
    export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    exec "$@"
}

run_in() {
    local series=$1
    shift
    [ "${1:-}" = -- ] && shift
    (($#)) || die "usage: release.sh exec SERIES -- CMD..."
    if [ "$(suite_of "$series")" = host ]; then
        exec "$@"
    fi
    [ "$(id -u)" = 0 ] || die "exec needs root (namespaces, mounts)"
    local dir
    dir=$(make_root "$series")
    mkdir -p "$BASE"
    CARME_RELEASE_UNSHARED=1 exec unshare --mount --uts --propagation private -- \
        bash "$HERE/release.sh" __enter "$dir" "carme-${series/./}" "$PWD" "$@"
}

# The namespaces `exec` made for a root (one line each).
registry_of() { echo "$1.namespaces"; }

# Every process living in a namespace `exec` made for this root, or
# descending from one that does (slurmstepd's tasks in per-step
# namespaces, containers): only the harness starts processes there. Seen
# from the host, a pivoted process's root is "/", so the namespace is what
# tells them apart. The registry is emptied once nothing lives there.
sweep() {
    local dir reg p ns pids=() i
    dir=$(root_of "$1")
    reg=$(registry_of "$dir")
    [ -s "$reg" ] || return 0
    declare -A ours=()
    while read -r ns; do [ -n "$ns" ] && ours[$ns]=1; done <"$reg"
    # PID -> parent PID, and the namespace of each process.
    declare -A parent=() in_ours=()
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        ns=$(readlink "/proc/$p/ns/mnt" 2>/dev/null) || continue
        [ -n "${ours[$ns]:-}" ] && in_ours[$p]=1
        parent[$p]=$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    done
    local q hops
    for p in "${!parent[@]}"; do
        q=$p hops=0
        while [ -n "$q" ] && [ "$q" != 0 ] && [ "$q" != 1 ] && ((hops++ < 64)); do
            if [ -n "${in_ours[$q]:-}" ]; then pids+=("$p"); break; fi
            q=${parent[$q]:-}
        done
    done
    if ((${#pids[@]})); then
        log "ending ${#pids[@]} process(es) left in the namespaces of $dir"
        kill -TERM "${pids[@]}" 2>/dev/null || true
        for ((i = 0; i < 25; i++)); do
            local alive=0
            for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
            ((alive)) || break
            sleep 0.2
        done
        kill -KILL "${pids[@]}" 2>/dev/null || true
    fi
    : >"$reg"
}

cmd=${1:-}
shift || true
case "$cmd" in
    series) echo "${SERIES[*]}" ;;
    suite) suite_of "${1:?series}" ;;
    root) make_root "${1:?series}" ;;
    headers) headers "${1:?series}" ;;
    mirror) mirror_url ;;
    exec) run_in "$@" ;;
    sweep) sweep "${1:?series}" ;;
    __enter) enter "$@" ;;
    *) die "usage: release.sh series|suite|root|headers|exec|sweep ..." ;;
esac
