#!/bin/bash
# Print a SPANK plugin's plugin_version (decimal; 0x180b05 = 24.11.5), read
# from the file's bytes as Slurm's loader sees it: the symbol's virtual
# address maps to a file offset through the LOAD segment that holds it.
#
#   plugin-version.sh PLUGIN.so
set -euo pipefail
SO=${1:?usage: plugin-version.sh PLUGIN.so}
fail() { echo "plugin-version: $*" >&2; exit 1; }
[ -f "$SO" ] || fail "$SO: no such file"
addr=$(nm -D --defined-only "$SO" | awk '$3 == "plugin_version" { print $1 }')
[ -n "$addr" ] || fail "$SO defines no plugin_version"
addr=$((16#$addr))
off=
while read -r foff vaddr fsize; do
    foff=$((foff)) vaddr=$((vaddr)) fsize=$((fsize))
    if ((addr >= vaddr && addr + 4 <= vaddr + fsize)); then
        off=$((addr - vaddr + foff))
        break
    fi
done < <(readelf -lW "$SO" | awk '$1 == "LOAD" { print $2, $3, $5 }')
[ -n "$off" ] || fail "plugin_version (0x$(printf %x "$addr")) lies in no LOAD segment of $SO"
od -An -t u4 --endian=little -j "$off" -N 4 "$SO" | tr -d ' '
