#!/bin/bash
# The demo: a local 3-node Slurm cluster with the Carme plugin, and a Carme
# job that runs in a real Charliecloud container. The cluster stays up
# afterwards so you can try more; `make demo-stop` ends it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-/var/lib/carme-test/cluster}
CLUSTER="$ROOT/tests/cluster/cluster.sh"

if [ -f "$DIR/etc/slurm.conf" ]; then
    bash "$CLUSTER" stop "$DIR" || true
    rm -rf "$DIR"
fi
bash "$CLUSTER" start "$DIR"
. "$DIR/env"

# Show a command line exactly as typed, then run it (as root or as the
# test user carmetest1, in their home directory).
show() {
    echo
    echo "# $1"
    bash -c "$1" || echo "(exit $?)"
}
show_user() {
    echo
    echo "carmetest1\$ $1"
    (cd ~carmetest1 && runuser -u carmetest1 -- env SLURM_CONF="$SLURM_CONF" bash -c "$1") ||
        echo "(exit $?)"
}

echo "=== The cluster: n1 and n2 have the feature 'carme', each node 4 (fake) GPUs"
show "sinfo -N -o '%N %T %f %G'"

echo
echo "=== A Carme job: its tasks run inside the 'tools' image (Charliecloud)"
show_user "srun --constraint=carme --carme-image=tools -N2 sh -c 'echo \$SLURMD_NODENAME: image \$(cat /CARME_IMAGE), \$(cat /TOOLS_ONLY), user \$(id -un)'"

echo
echo "=== The same without Carme runs on the host"
show_user "srun -w n1 sh -c 'cat /CARME_IMAGE 2>/dev/null || echo \$SLURMD_NODENAME: on the host'"

echo
echo "=== A batch job: the script runs on the host, its sruns in the image"
show_user "sbatch --wait -o demo.out --constraint=carme --carme-image=base --wrap 'echo script on \$(hostname); srun cat /CARME_IMAGE' && cat demo.out"

echo
echo "=== Refusals come before anything is queued, and say what to do"
show_user "srun --carme-image=tools true"
show_user "srun --constraint=carme --carme-image=pytorch true"

echo
echo "Try it yourself:"
echo "  . $DIR/env; runuser -u carmetest1 -- env SLURM_CONF=\$SLURM_CONF srun --constraint=carme --carme-image=base cat /CARME_IMAGE"
echo "Stop the cluster: make demo-stop"
