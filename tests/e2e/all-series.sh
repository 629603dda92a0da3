#!/bin/bash
# The end-to-end suite on every Slurm series the project supports, one
# after another (each on its own cluster: 22.05 on the machine, 24.11 and
# 26.05 in their Debian roots), then one summary line per series.
#
#   all-series.sh BASE_DIR [SERIES...]   (default: every series)
#
# Every series runs even when an earlier one failed; the exit status is
# non-zero when any failed.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BASE=${1:?usage: all-series.sh BASE_DIR [SERIES...]}
shift
if (($#)); then series=("$@"); else read -ra series <<<"$(bash "$ROOT/tests/cluster/release.sh" series)"; fi

rc=0
summary=()
for s in "${series[@]}"; do
    log=$(mktemp)
    start=$(date +%s)
    bash "$ROOT/tests/e2e/run.sh" "$BASE-$s" "$s" 2>&1 | tee "$log"
    r=${PIPESTATUS[0]}
    # Sum cargo test's "test result:" lines.
    read -r passed failed < <(awk '/^test result:/ {
            for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) }
        } END { print p + 0, f + 0 }' "$log")
    rm -f "$log"
    summary+=("Slurm $s: $passed passed, $failed failed, exit $r, $(( $(date +%s) - start )) s")
    ((r == 0)) || rc=1
done
echo "=== e2e summary"
printf '  %s\n' "${summary[@]}"
exit $rc
