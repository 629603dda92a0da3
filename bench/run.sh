#!/bin/bash
# carme-slurm benchmarks on the harness cluster (`make bench`).
# Interleaved A/B runs, medians and ratios (bench/src/main.rs). Needs root
# and a release build. Set ROUNDS to trade time for precision.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${BENCH_DIR:-/var/lib/carme-test/bench-cluster}
ROUNDS=${ROUNDS:-40}
CLUSTER="$ROOT/tests/cluster/cluster.sh"
BENCH="${CARGO_TARGET_DIR:-$ROOT/target}/release/carme-bench"

[ -f "$DIR/etc/slurm.conf" ] && bash "$CLUSTER" stop "$DIR" || true
rm -rf "$DIR"
trap 'bash "$CLUSTER" stop "$DIR" >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
bash "$CLUSTER" start "$DIR" >/dev/null
. "$DIR/env"

U="runuser -u carmetest1 -- env SLURM_CONF=$SLURM_CONF"
HOME_U=$(getent passwd carmetest1 | cut -d: -f6)
cd "$HOME_U"
PS="$DIR/etc/plugstack.conf"
cp "$PS" "$PS.on"
: >"$PS.off"

# (1) A non-Carme job pays (almost) nothing for the plugin being loaded.
"$BENCH" --title "non-Carme srun true: plugin loaded vs not (issue 2, target <= 1.02)" \
    --rounds "$ROUNDS" \
    --variant "plugin-not-loaded=cp $PS.off $PS;;$U srun -w n1 true" \
    --variant "plugin-loaded=cp $PS.on $PS;;$U srun -w n1 true" \
    --max-ratio plugin-loaded=1.02 || status=1
cp "$PS.on" "$PS"

# (1b) For information: the same per step inside an existing allocation
# (no allocation or prolog wait), where the plugin's fixed cost (loading it
# in srun and in slurmstepd, reading the config) is the largest share.
JOB=$($U salloc -w n1 --no-shell -J bench-alloc 2>&1 | sed -n 's/.*Granted job allocation \([0-9]*\).*/\1/p')
[ -n "$JOB" ] || { echo "bench: salloc failed" >&2; exit 1; }
"$BENCH" --title "non-Carme step in an existing allocation: plugin loaded vs not (no target)" \
    --rounds "$ROUNDS" \
    --variant "plugin-not-loaded=cp $PS.off $PS;;$U srun --jobid=$JOB true" \
    --variant "plugin-loaded=cp $PS.on $PS;;$U srun --jobid=$JOB true" || status=1
cp "$PS.on" "$PS"
scancel "$JOB"

# (2) A Carme job costs what starting the runtime by hand costs.
"$BENCH" --title "Carme srun vs ch-run by hand (issue 2, target <= 1.05)" \
    --rounds "$ROUNDS" \
    --variant "srun ch-run by hand=$U srun -w n1 $(command -v ch-run) $DIR/images/base -- true" \
    --variant "carme-image=$U srun -w n1 --constraint=carme --carme-image=base true" \
    --max-ratio "carme-image=1.05" || status=1

# (2b) Per-task cost stays constant: 64 tasks of one step on one node
# (issue 4: the step's namespace is built once; in each task the plugin
# decides the runtime's command line from the config in memory, and the
# task execs the runtime, through the static carme-exec on Slurm 22.05).
# Full ROUNDS: with 20 the median still moved by +-5% on 2 cores. The
# third variant (no target) is the by-hand run through carme-exec alone:
# what the 22.05 hop itself costs.
HOP_SPEC=""
for a in "$(command -v ch-run)" "$DIR/images/base" -- true; do HOP_SPEC="$HOP_SPEC${#a}:$a"; done
# carme-exec reads only a variable whose name ends in a newline (no
# TaskProlog can set one): single-quoted, sh keeps the newline in the word.
HOP_VAR="'CARME_LAUNCH_EXEC"$'\n'"=$HOP_SPEC'"
"$BENCH" --title "srun -n 64 on one node: Carme vs ch-run by hand (issue 4, target <= 1.05)" \
    --rounds "$ROUNDS" \
    --variant "srun -n64 ch-run by hand=$U srun -w n1 -n 64 --overcommit $(command -v ch-run) $DIR/images/base -- true" \
    --variant "ch-run via carme-exec by hand=$U $HOP_VAR srun -w n1 -n 64 --overcommit $DIR/libexec/carme-exec" \
    --variant "carme-n64=$U srun -w n1 -n 64 --overcommit --constraint=carme --carme-image=base true" \
    --max-ratio "carme-n64=1.05" || status=1

# (2c) For information: what a task pays to enter its step's namespace
# (issue 13: setns in task_init_privileged; slurmstepd stays in the host's).
"${CARGO_TARGET_DIR:-$ROOT/target}/release/carme-bench-setns" || status=1

# (3) Limits (issue 3): load + decide with 10,000 user and 1,000 group rules.
"${CARGO_TARGET_DIR:-$ROOT/target}/release/carme-bench-limits" || status=1

# (4) Prolog/epilog (issue 5): process wall, removing 100k files vs rm -rf,
# 200 sbatch jobs with vs without (its own cluster, after this one stops).
trap - EXIT
bash "$CLUSTER" stop "$DIR" >/dev/null 2>&1 || true
rm -rf "$DIR"
bash "$ROOT/bench/prolog_epilog.sh" || status=1

exit ${status:-0}
