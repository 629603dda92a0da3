#!/bin/bash
# Install, idempotently, every Debian package carme-slurm needs to build and
# to run its real-cluster tests and demo. Run as root on Debian 12.
# It installs packages only; it never configures or starts the machine's own
# Slurm or munge (the harness runs private daemons under a temp dir).
set -euo pipefail

PACKAGES=(
    slurmctld slurmd slurm-client munge   # the real cluster
    libslurm-dev                          # <slurm/spank.h>, <slurm/slurm.h> for bindgen
    libclang-dev clang                    # bindgen
    charliecloud-runtime                  # ch-run: real containers
    busybox-static                        # the tiny test image
    util-linux procps iproute2 psmisc     # runuser, script, ps, ss, fuser
    binutils                              # nm, readelf (artifact checks)
    btrfs-progs                           # mkfs.btrfs, btrfs: subvolumes in job dirs (carme-node tests)
    mmdebstrap                            # roots of Debian trixie/sid: Slurm 24.11 and 26.05 (release.sh)
    dpkg-dev rpm                          # make packages: dpkg-deb, rpmbuild; rpm -qp in the package checks
    cpio logrotate systemd                # package checks: rpm payloads, logrotate -d, systemd-tmpfiles --root
    groff-base                            # groff: carme-man's tests and the package checks render the man pages
    ca-certificates curl
)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # --no-install-recommends: no daemons or extras we do not use.
    apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    echo "install-deps: all packages present"
fi

# Debian's packages may start munge/slurm services where an init system
# runs; the harness never uses them and never touches them either.

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    echo "install-deps: note: cargo is in \$HOME/.cargo/bin; add it to PATH"
fi
command -v cargo >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/cargo" ] || {
    echo "install-deps: cargo (Rust toolchain) not found; install it with rustup" >&2
    exit 1
}
