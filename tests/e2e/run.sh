#!/bin/bash
# Start a fresh harness cluster in DIR, run the end-to-end tests against it,
# stop it again (also on failure), and show the daemons' logs if a test failed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR=${1:?usage: run.sh DIR}
CLUSTER="$ROOT/tests/cluster/cluster.sh"

if [ -f "$DIR/etc/slurm.conf" ]; then
    bash "$CLUSTER" stop "$DIR" || true
fi
rm -rf "$DIR"
cleanup() {
    bash "$CLUSTER" stop "$DIR" || true
    rm -rf "$DIR"
}
trap cleanup EXIT

bash "$CLUSTER" start "$DIR"
export CARME_CLUSTER_DIR=$DIR
set +e
cargo test --release -p carme-e2e -- --test-threads="${E2E_THREADS:-4}"
rc=$?
set -e
if [ $rc -ne 0 ]; then
    echo "=== e2e failed; last lines of the cluster logs" >&2
    for f in "$DIR"/log/*.log; do
        echo "--- $f" >&2
        tail -n 40 "$f" >&2
    done
fi
exit $rc
