#!/bin/bash
# Build and check the plugin for one Slurm series:
#
#   check-series.sh SERIES     (SERIES: 22.05 | 24.11 | 26.05)
#
# 1. clippy (-D warnings) and a release build of carme-spank against that
#    series' headers (22.05: the machine's /usr/include; others: a copy of
#    their root's usr/include/slurm, see release.sh headers), into
#    target/slurm-SERIES;
# 2. the built .so: its `plugin_version` (read from the file's bytes) is
#    the headers' SLURM_VERSION_NUMBER, of major.minor SERIES (Slurm loads
#    a plugin of its own major.minor only); it exports exactly the plugin
#    identity and the SPANK callbacks ffi.rs defines; it imports
#    spank_prepend_task_argv exactly when the headers declare it;
# 3. the client option tables against that release's own srun/sbatch/salloc
#    (carme-core/tests/client_args_help.rs, built here, run in the root).
#
# Runs as root for 24.11 and 26.05 (the roots; see release.sh).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO"

SERIES=${1:?usage: check-series.sh SERIES (22.05 | 24.11 | 26.05)}
fail() { echo "check-series $SERIES: FAILED: $*" >&2; exit 1; }
ok() { echo "check-series $SERIES: ok: $*"; }

case "$SERIES" in
    22.05) INC=/usr/include ;;
    24.11 | 26.05) INC=$(bash "$HERE/release.sh" headers "$SERIES") ;;
    *) fail "unknown series (known: 22.05 24.11 26.05)" ;;
esac
[ -f "$INC/slurm/spank.h" ] || fail "no $INC/slurm/spank.h (install libslurm-dev)"

# The headers' version, e.g. 0x180b05 for 24.11.5.
hex=$(sed -n 's/^#define SLURM_VERSION_NUMBER 0x\([0-9a-fA-F]*\)$/\1/p' "$INC/slurm/slurm_version.h")
[ -n "$hex" ] || fail "no SLURM_VERSION_NUMBER in $INC/slurm/slurm_version.h"
want_version=$((16#$hex))
headers_series=$(printf '%d.%02d' $((want_version >> 16)) $(((want_version >> 8) & 0xff)))
[ "$headers_series" = "$SERIES" ] || fail "the headers in $INC are Slurm $headers_series, not $SERIES"

# 1. clippy and build.
TARGET=target/slurm-$SERIES
export CARME_SLURM_INCLUDE=$INC
cargo clippy -p carme-spank --target-dir "$TARGET" -- -D warnings || fail "clippy"
cargo build --release -p carme-spank --target-dir "$TARGET" || fail "build"
SO=$TARGET/release/libcarme_spank.so
ok "clippy and build against $INC (Slurm $headers_series)"

# 2a. plugin_version, from the file's bytes (plugin-version.sh).
got_version=$(bash "$HERE/plugin-version.sh" "$SO") || fail "no plugin_version read from $SO"
got_series=$(printf '%d.%02d' $((got_version >> 16)) $(((got_version >> 8) & 0xff)))
[ "$got_version" = "$want_version" ] ||
    fail "plugin_version is 0x$(printf %x "$got_version") ($got_series), the headers say 0x$hex"
[ "$got_series" = "$SERIES" ] || fail "plugin_version is for $got_series, not $SERIES"
ok "plugin_version 0x$(printf %x "$got_version") ($got_series)"

# 2b. Exactly these exports: the identity Slurm's loader reads and the
# callbacks we use (no job_prolog/epilog: slurmd would run a SPANK step for
# every job). The list is checked against ffi.rs, so neither drifts.
EXPORTS="plugin_name plugin_type plugin_version slurm_spank_init slurm_spank_init_post_opt
slurm_spank_local_user_init slurm_spank_task_init slurm_spank_task_init_privileged slurm_spank_user_init"
want=$(tr ' ' '\n' <<<"$EXPORTS" | sed '/^$/d' | sort)
in_ffi=$(sed -n 's/^pub extern "C" fn \(slurm_spank_[a-z_]*\)(.*/\1/p' spank-plugin/src/ffi.rs | sort)
[ "$in_ffi" = "$(grep '^slurm_spank_' <<<"$want")" ] ||
    fail "the callbacks ffi.rs defines ($(echo $in_ffi)) are not the list here"
got=$(nm -D --defined-only "$SO" | awk '{ print $3 }' | sort)
[ "$got" = "$want" ] || fail "exports differ from the list:
$(diff <(echo "$want") <(echo "$got") | sed -n 's/^[<>]/  &/p')"
ok "exports exactly: $(echo $got)"

# 2c. spank_prepend_task_argv: imported exactly when the headers have it.
if grep -Eq '^[a-z_]+[[:space:]]+spank_prepend_task_argv[[:space:]]*\(' "$INC/slurm/spank.h"; then
    declared=yes
else
    declared=no
fi
if nm -D --undefined-only "$SO" | awk '{ print $2 }' | grep -qx spank_prepend_task_argv; then
    imported=yes
else
    imported=no
fi
[ "$declared" = "$imported" ] ||
    fail "spank_prepend_task_argv: declared in spank.h: $declared, imported by the plugin: $imported"
ok "spank_prepend_task_argv: declared $declared, imported $imported"

# 3. The option tables against this release's clients (a host-built binary
# runs in the root as well).
bin=$(cargo test --release -p carme-core --test client_args_help --no-run --message-format=json |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n1)
[ -x "$bin" ] || fail "no client_args_help test binary"
bash "$HERE/release.sh" exec "$SERIES" -- "$bin" || fail "client_args_help against the $SERIES clients"
ok "client option tables agree with the $SERIES clients"
echo "check-series $SERIES: all checks passed"
