#!/bin/bash
# Carme with the real Apptainer (issue 16): `srun --carme-image=base true`
# with `[runtime] kind = "apptainer"` against `srun apptainer exec IMAGE
# true` by hand, interleaved, medians (bench/src/main.rs); target <= 1.02.
#
#   bash bench/apptainer.sh          (as root; ROUNDS=40 by default)
#
# Runs on Slurm 26.05 in the Debian sid root (tests/cluster/release.sh),
# the one release root with Debian's apptainer package. Builds the 26.05
# plugin first; the rest must be built (`cargo build --release`).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SERIES=26.05
RELEASE="$ROOT/tests/cluster/release.sh"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

if [ "${CARME_BENCH_INSIDE:-}" != 1 ]; then
    inc=$(bash "$RELEASE" headers "$SERIES")
    CARME_SLURM_INCLUDE=$inc cargo build --release -p carme-spank \
        --target-dir "$TARGET/slurm-$SERIES"
    export CARME_PLUGIN_SO="$TARGET/slurm-$SERIES/release/libcarme_spank.so"
    export CARME_BENCH_INSIDE=1
    rc=0
    bash "$RELEASE" exec "$SERIES" -- bash "$0" || rc=$?
    bash "$RELEASE" sweep "$SERIES"
    exit $rc
fi

DIR=${BENCH_DIR:-/var/lib/carme-test/bench-apptainer}
ROUNDS=${ROUNDS:-40}
CLUSTER="$ROOT/tests/cluster/cluster.sh"
BENCH="$TARGET/release/carme-bench"
APPTAINER=/usr/bin/apptainer
[ -x "$APPTAINER" ] || { echo "bench: $APPTAINER missing in the $SERIES root" >&2; exit 1; }

[ -f "$DIR/etc/slurm.conf" ] && bash "$CLUSTER" stop "$DIR" || true
rm -rf "$DIR"
trap 'bash "$CLUSTER" stop "$DIR" >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
bash "$CLUSTER" start "$DIR" >/dev/null
. "$DIR/env"

# The harness config with Apptainer as the runtime (kind and path of the
# [runtime] table); everything else as the e2e suite has it.
conf="$DIR/etc/carme.toml"
awk -v rt="$APPTAINER" '
    /^\[/ { sec = $0 }
    sec == "[runtime]" && /^kind = / { print "kind = \"apptainer\""; next }
    sec == "[runtime]" && /^path = / { print "path = \"" rt "\""; next }
    { print }' "$conf" >"$conf.new"
chmod 644 "$conf.new"
mv "$conf.new" "$conf"

U="runuser -u carmetest1 -- env SLURM_CONF=$SLURM_CONF"
cd "$(getent passwd carmetest1 | cut -d: -f6)"
# Both must work before they are timed.
$U srun -w n1 "$APPTAINER" exec "$DIR/images/base" true
$U srun -w n1 --constraint=carme --carme-image=base sh -c 'test -n "$APPTAINER_CONTAINER"' \
    || { echo "bench: the Carme step did not run in Apptainer" >&2; exit 1; }

"$BENCH" --title "Slurm $SERIES: Carme srun vs apptainer exec by hand (issue 16, target <= 1.02)" \
    --rounds "$ROUNDS" \
    --variant "srun apptainer by hand=$U srun -w n1 $APPTAINER exec $DIR/images/base true" \
    --variant "carme-image=$U srun -w n1 --constraint=carme --carme-image=base true" \
    --max-ratio "carme-image=1.02"
