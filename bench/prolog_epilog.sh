#!/bin/bash
# carme-prolog / carme-epilog benchmarks (issue 5). Needs root and a release
# build (cargo build --release --workspace).
#
# (1) process wall time of the prolog and epilog, Carme job without BeeOND
#     (target <= 5 ms each, median) and non-Carme jobs;
# (2) the epilog removing a scratch dir of 100,000 small files vs rm -rf
#     (target: no slower);
#     both by carme-bench-prolog, without a cluster;
# (3) on the harness cluster: JOBS tiny Carme batch jobs (sbatch --wrap
#     true, submitted one after another, timed until the last is done), with
#     Prolog=/Epilog= set vs. without, interleaved rounds (target:
#     throughput >= 0.95x, i.e. time ratio <= 1.053).
#
# Environment: ROUNDS (3), JOBS (200), FILES (100000), BENCH_DIR (cluster dir).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REL="${CARGO_TARGET_DIR:-$ROOT/target}/release"
DIR=${BENCH_DIR:-/var/lib/carme-test/bench-prolog-cluster}
ROUNDS=${ROUNDS:-3}
JOBS=${JOBS:-200}
FILES=${FILES:-100000}
CLUSTER="$ROOT/tests/cluster/cluster.sh"
status=0

"$REL/carme-bench-prolog" --files "$FILES" || status=1

[ -f "$DIR/etc/slurm.conf" ] && bash "$CLUSTER" stop "$DIR" >/dev/null 2>&1 || true
rm -rf "$DIR"
trap 'bash "$CLUSTER" stop "$DIR" >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
bash "$CLUSTER" start "$DIR" >/dev/null
. "$DIR/env"

conf=$DIR/etc/slurm.conf
cp "$conf" "$conf.with"
grep -v -E '^(Prolog|Epilog)=' "$conf.with" >"$conf.without"
# Switch slurm.conf and make slurmctld and every slurmd read it again.
cat >"$DIR/use-conf.sh" <<EOF
#!/bin/bash
set -e
cp "$conf.\$1" "$conf"
scontrol reconfigure
for i in \$(seq 50); do
    p=\$(scontrol show config | awk '\$1 == "Prolog" {print \$3}')
    if [ "\$1" = with ] && [ "\$p" != "(null)" ]; then exit 0; fi
    if [ "\$1" = without ] && [ "\$p" = "(null)" ]; then exit 0; fi
    sleep 0.2
done
echo "slurm.conf \$1 not in effect" >&2; exit 1
EOF
# Submit JOBS tiny Carme jobs as a test user, wait until all are done.
cat >"$DIR/submit.sh" <<EOF
#!/bin/bash
set -e
name=tp-\$\$-\$RANDOM
cd /
for i in \$(seq $JOBS); do
    runuser -u carmetest1 -- env SLURM_CONF=$conf sbatch -Q -J "\$name" -C carme -o /dev/null --wrap true >/dev/null
done
while squeue -h -n "\$name" -o %i | grep -q .; do sleep 0.1; done
EOF
chmod 755 "$DIR/use-conf.sh" "$DIR/submit.sh"

"$REL/carme-bench" --title "$JOBS tiny Carme sbatch jobs: with carme-prolog/epilog vs without (issue 5, target throughput >= 0.95x)" \
    --rounds "$ROUNDS" --warmup 1 \
    --variant "without=$DIR/use-conf.sh without;;$DIR/submit.sh" \
    --variant "with=$DIR/use-conf.sh with;;$DIR/submit.sh" \
    --max-ratio with=1.053 || status=1
"$DIR/use-conf.sh" with

exit $status
