#!/bin/bash
# Start a fresh harness cluster in DIR, run the end-to-end tests against it,
# stop it again (also on failure), and show the daemons' logs if a test failed.
#
#   run.sh DIR [SERIES]
#
# SERIES (default 22.05, the machine's own Slurm) picks the Slurm release:
# 24.11 and 26.05 run in their Debian roots (tests/cluster/release.sh). The
# test binaries and the release-independent programs are built here on the
# host; the plugin is built against that release's headers; the cluster and
# every test run inside the root, in its private namespace.
#
# The suite's package (make packages; built here first when missing or
# older than the build) is what runs: in the 24.11 and 26.05 roots the
# trixie/forky .deb is installed with dpkg -i and enabled as the docs tell
# admins, and the cluster uses the installed files (cluster.sh,
# CARME_INSTALLED=1); on 22.05 (this machine, whose /usr is never
# installed into) the cluster loads the bookworm .deb's plugin build.
# CARME_E2E_DEB names the .deb to the tests (tests/e2e/tests/package.rs).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR=${1:?usage: run.sh DIR [SERIES]}
SERIES=${2:-22.05}
CLUSTER="$ROOT/tests/cluster/cluster.sh"
RELEASE="$ROOT/tests/cluster/release.sh"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

if [ "${CARME_E2E_INSIDE:-}" != 1 ]; then
    suite=$(bash "$RELEASE" suite "$SERIES")
    if [ "$suite" = host ]; then
        inc=/usr/include
    else
        inc=$(bash "$RELEASE" headers "$SERIES")
    fi
    CARME_SLURM_INCLUDE=$inc cargo build --release -p carme-spank \
        --target-dir "$TARGET/slurm-$SERIES"
    export CARME_PLUGIN_SO="$TARGET/slurm-$SERIES/release/libcarme_spank.so"
    version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/Cargo.toml" | head -n1)
    deb="$TARGET/packages/carme-slurm_${version}-1+slurm${SERIES}_amd64.deb"
    # The package must hold this very build: else make it again.
    same_as_build() {
        [ -f "$deb" ] || return 1
        local f
        for f in "usr/lib/x86_64-linux-gnu/slurm-wlm/spank_carme.so $CARME_PLUGIN_SO" \
                 "usr/bin/carme-launch $TARGET/release/carme-launch" \
                 "usr/libexec/carme/carme-prolog $TARGET/release/carme-prolog" \
                 "usr/libexec/carme/carme-epilog $TARGET/release/carme-epilog"; do
            dpkg-deb --fsys-tarfile "$deb" | tar -xOf - "./${f%% *}" | cmp -s - "${f#* }" || return 1
        done
    }
    if ! same_as_build; then
        echo "run.sh: $deb is missing or older than the build: making the packages" >&2
        bash "$ROOT/packaging/build.sh" "$TARGET/packages"
        same_as_build || { echo "run.sh: $deb does not hold this build" >&2; exit 1; }
    fi
    export CARME_E2E_DEB=$deb
    # Built here (the roots have no toolchain), run there: the test
    # executables, in cargo's order.
    bins=$(cargo test --release -p carme-e2e --no-run --message-format=json \
        | grep -o '"executable":"[^"]*"' | sed 's/^"executable":"//; s/"$//')
    [ -n "$bins" ] || { echo "run.sh: no e2e test executables were built" >&2; exit 1; }
    export CARME_E2E_INSIDE=1 CARME_E2E_BINS="$bins"
    rc=0
    bash "$RELEASE" exec "$SERIES" -- bash "$0" "$DIR" "$SERIES" || rc=$?
    # From the host's view: whatever still lives in the root (nothing,
    # when the cluster stopped cleanly) is ended by PID.
    [ "$suite" = host ] || bash "$RELEASE" sweep "$SERIES"
    exit $rc
fi

if [ -f "$DIR/etc/slurm.conf" ]; then
    bash "$CLUSTER" stop "$DIR" || true
fi
rm -rf "$DIR"
cleanup() {
    bash "$CLUSTER" stop "$DIR" || true
    rm -rf "$DIR"
}
trap cleanup EXIT

if [ "$(bash "$RELEASE" suite "$SERIES")" != host ]; then
    # Only inside the namespace release.sh made (/proc/1 is the host's
    # init): never install into the machine's own /usr and /etc.
    [ "${CARME_RELEASE_UNSHARED:-}" = 1 ] && [ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/1/ns/mnt)" ] ||
        { echo "run.sh: refusing to install $CARME_E2E_DEB outside the root's namespace" >&2; exit 1; }
    # As an admin would: install the suite's package, keep a changed
    # conffile (the cluster links /etc/carme/carme.toml to its own), and
    # enable the plugin with the link the shipped snippet describes.
    DEBIAN_FRONTEND=noninteractive dpkg -i --force-confold --force-confdef "$CARME_E2E_DEB" >/dev/null ||
        { echo "run.sh: dpkg -i $CARME_E2E_DEB failed" >&2; exit 1; }
    ln -sfn /usr/share/carme/plugstack.conf /etc/slurm/plugstack.conf.d/carme.conf
    export CARME_INSTALLED=1
    echo "=== installed $(dpkg-query -W -f '${Package} ${Version}' carme-slurm) and enabled it" >&2
fi
bash "$CLUSTER" start "$DIR"
export CARME_CLUSTER_DIR=$DIR
. "$DIR/env"
echo "=== e2e on Slurm $SERIES: $(srun --version)" >&2
set +e
rc=0
failed=()
while read -r bin; do
    [ -n "$bin" ] || continue
    echo "=== $(basename "$bin") (Slurm $SERIES)" >&2
    "$bin" --test-threads="${E2E_THREADS:-4}" || { rc=1; failed+=("$(basename "$bin")"); }
done <<<"$CARME_E2E_BINS"
set -e
if [ $rc -ne 0 ]; then
    echo "=== e2e on Slurm $SERIES failed in: ${failed[*]}; last lines of the cluster logs" >&2
    for f in "$DIR"/log/*.log; do
        echo "--- $f" >&2
        tail -n 40 "$f" >&2
    done
fi
exit $rc
