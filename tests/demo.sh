#!/bin/bash
# The demo: a local 3-node Slurm cluster with the Carme plugin, and a Carme
# job that runs in a real Charliecloud container. The cluster stays up
# afterwards so you can try more; `make demo-stop` ends it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-/tmp/carme-cluster}
CLUSTER="$ROOT/tests/cluster/cluster.sh"

if [ -f "$DIR/etc/slurm.conf" ]; then
    bash "$CLUSTER" stop "$DIR" || true
    rm -rf "$DIR"
fi
bash "$CLUSTER" start "$DIR"
. "$DIR/env"

show() {
    echo
    echo "\$ $*"
    "$@" || echo "(exit $?)"
}
as_user() { runuser -u carmetest1 -- env SLURM_CONF="$SLURM_CONF" "$@"; }
cd /tmp

echo "=== The cluster: n1 and n2 have the feature 'carme', each node 4 (fake) GPUs"
show sinfo -N -o '%N %T %f %G'

echo
echo "=== A Carme job, as user carmetest1: the task runs inside the 'tools' image"
show as_user srun --constraint=carme --carme-image=tools -N2 \
    sh -c 'echo "$SLURMD_NODENAME: in image $(cat /CARME_IMAGE), $(cat /TOOLS_ONLY), user $(id -un)"'

echo
echo "=== The same command without Carme runs on the host"
show as_user srun -w n1 sh -c 'cat /CARME_IMAGE 2>/dev/null || echo "n1: on the host"'

echo
echo "=== Refusals come before anything is queued, and say what to do"
show as_user srun --carme-image=tools true
show as_user srun --constraint=carme --carme-image=pytorch true

echo
echo "Try it yourself:  . $DIR/env; runuser -u carmetest1 -- env SLURM_CONF=\$SLURM_CONF srun --constraint=carme --carme-image=base cat /CARME_IMAGE"
echo "Stop the cluster: make demo-stop"
