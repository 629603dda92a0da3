#!/bin/bash
# Fetch another Slurm release's headers (default: Debian trixie's 24.11
# libslurm-dev) WITHOUT installing it, and print the include directory to
# pass as CARME_SLURM_INCLUDE. Used to check that the plugin builds against
# Slurm >= 23.11 (the spank_prepend_task_argv path) on a 22.05 machine.
# Idempotent: reuses an earlier download under the cache dir.
set -euo pipefail

SUITE=${SUITE:-trixie}
CACHE=${CARME_HEADERS_CACHE:-/var/cache/carme-slurm-headers}/$SUITE
if [ -f "$CACHE/include/slurm/spank.h" ]; then
    echo "$CACHE/include"
    exit 0
fi
mkdir -p "$CACHE/apt/lists/partial" "$CACHE/apt/archives/partial" "$CACHE/deb"
cat > "$CACHE/apt/sources.list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $SUITE main
SRC
opts=(-o "Dir::Etc::SourceList=$CACHE/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o "Dir::State::Lists=$CACHE/apt/lists" -o "Dir::Cache=$CACHE/apt"
      -o APT::Sandbox::User=root -q)
apt-get "${opts[@]}" update >&2
(cd "$CACHE/deb" && apt-get "${opts[@]}" download libslurm-dev >&2)
rm -rf "$CACHE/x"
dpkg-deb -x "$CACHE"/deb/libslurm-dev_*.deb "$CACHE/x"
mkdir -p "$CACHE/include"
cp -r "$CACHE/x/usr/include/slurm" "$CACHE/include/"
rm -rf "$CACHE/x"
echo "$CACHE/include"
