#!/bin/bash
# Build carme-slurm's packages (make packages):
#
#   packaging/build.sh [OUTDIR]        default: target/packages
#
# - one .deb per Debian suite we test, each with the plugin built for that
#   suite's Slurm series and Depends pinned to it:
#     bookworm: Slurm 22.05, trixie: 24.11, forky: 26.05
#   (forky's and sid's Slurm are both 26.05; the harness tests the forky
#   package in its sid root);
# - one EL9 .rpm per Slurm series (SchedMD's or EPEL's `slurm` package of
#   that series in Requires), same layout in EL paths (/usr/lib64/slurm).
#
# Binaries are built here with the project's toolchain (Debian's rustc is
# too old for edition 2024), against glibc <= 2.34 symbols (checked), so
# they run on bookworm, trixie, forky and EL9 alike. The plugin is built
# once per series against that series' headers (22.05: this machine's
# libslurm-dev; 24.11 and 26.05: the Debian roots of tests/cluster/release.sh),
# into target/slurm-SERIES, as tests/cluster/check-series.sh does.
#
# Needs: cargo, dpkg-deb, rpmbuild (tests/cluster/install-deps.sh installs
# them). Builds only: it installs nothing on this machine.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
cd "$REPO"
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
OUT=${1:-$TARGET/packages}
RELEASE="$REPO/tests/cluster/release.sh"

die() { echo "packages: $*" >&2; exit 1; }
log() { echo "packages: $*" >&2; }

for t in cargo dpkg-deb rpmbuild readelf objdump gzip; do
    command -v "$t" >/dev/null || die "$t not found: run tests/cluster/install-deps.sh"
done
[ "$(uname -m)" = x86_64 ] || die "packages are built for x86_64 (amd64) only"

VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
[ -n "$VERSION" ] || die "no workspace version in Cargo.toml"

# suite series (the .deb's name and Depends)
SUITES=("bookworm 22.05" "trixie 24.11" "forky 26.05")
# Slurm < 23.11 has no spank_prepend_task_argv: tasks go through carme-exec.
needs_exec() { [ "$1" = 22.05 ]; }

# The package that carries libslurmfull and Slurm's plugin directory, which
# slurmd, slurmstepd and the clients all load: pinned to one series, so apt
# refuses a Slurm upgrade across series until the matching carme-slurm comes
# with it, instead of leaving a plugin Slurm refuses to load.
DEB_SLURM=slurm-wlm-basic-plugins
DEB_PLUGIN_DIR=/usr/lib/x86_64-linux-gnu/slurm-wlm
RPM_PLUGIN_DIR=/usr/lib64/slurm
PLUGIN_NAME=spank_carme.so

next_series() {  # 24.11 -> 24.12: the first version of another series
    local major=${1%.*} minor=${1#*.}
    printf '%s.%02d' "$major" $((10#$minor + 1))
}

headers_for() {
    local series=$1 hex have
    hex=$(sed -n 's/^#define SLURM_VERSION_NUMBER 0x\([0-9a-fA-F]*\)$/\1/p' /usr/include/slurm/slurm_version.h 2>/dev/null || true)
    if [ -n "$hex" ]; then
        have=$(printf '%d.%02d' $((16#${hex:0:2})) $((16#${hex:2:2})))
        [ "$have" = "$series" ] && { echo /usr/include; return; }
    fi
    [ "$series" != 22.05 ] || die "Slurm 22.05 headers: install libslurm-dev on this Debian 12 machine"
    bash "$RELEASE" headers "$series"
}

# --- build ---------------------------------------------------------------------------
log "building carme-launch, carme-prolog, carme-epilog, carme-exec and the man pages"
cargo build --release -p carme-launch -p carme-prolog -p carme-epilog -p carme-man
cargo build --release --manifest-path carme-exec/Cargo.toml --target-dir "$TARGET"
BIN=$TARGET/release
for s in "${SUITES[@]}"; do
    series=${s#* }
    inc=$(headers_for "$series")
    log "building the plugin for Slurm $series (headers: $inc)"
    CARME_SLURM_INCLUDE=$inc cargo build --release -p carme-spank --target-dir "$TARGET/slurm-$series"
done

# The newest glibc symbol version any binary needs (libc6 / glibc Requires).
# carme-exec is static: objdump finds no dynamic symbols there.
glibc_needed() {
    local f
    for f in "$@"; do objdump -T "$f" 2>/dev/null || true; done |
        grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n1
}

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$BIN/carme-man" "$WORK/man"
for p in carme-launch.1 carme.toml.5 carme-prolog.8 carme-epilog.8; do
    [ -s "$WORK/man/$p" ] || die "carme-man made no $p"
done

# Lay out one package's files under $1 (plugin dir $2, series $3, deb|rpm $4).
stage() {
    local root=$1 plugdir=$2 series=$3 kind=$4
    local so=$TARGET/slurm-$series/release/libcarme_spank.so
    install -D -m 0644 "$so" "$root$plugdir/$PLUGIN_NAME"
    install -D -m 0755 "$BIN/carme-launch" "$root/usr/bin/carme-launch"
    install -D -m 0755 "$BIN/carme-prolog" "$root/usr/libexec/carme/carme-prolog"
    install -D -m 0755 "$BIN/carme-epilog" "$root/usr/libexec/carme/carme-epilog"
    if needs_exec "$series"; then
        install -D -m 0755 "$BIN/carme-exec" "$root/usr/libexec/carme/carme-exec"
    fi
    install -D -m 0644 etc/carme.toml "$root/etc/carme/carme.toml"
    # Prolog=/Epilog= name /etc/carme/prolog and epilog, which must outlive
    # a removal: dpkg keeps conffiles until purge; rpm -e deletes even
    # %config files, so the .rpm ships them in /usr/share/carme and its
    # %post copies them to /etc/carme when missing (files no package owns).
    local wrappers=$root/etc/carme
    [ "$kind" = deb ] || wrappers=$root/usr/share/carme
    install -d -m 0755 "$wrappers"
    install -m 0755 "$HERE/files/prolog" "$wrappers/prolog"
    install -m 0755 "$HERE/files/epilog" "$wrappers/epilog"
    install -d -m 0755 "$root/usr/share/carme"
    sed "s|/usr/lib/x86_64-linux-gnu/slurm-wlm/spank_carme.so|$plugdir/$PLUGIN_NAME|" \
        etc/plugstack.conf >"$root/usr/share/carme/plugstack.conf"
    grep -q "^required $plugdir/$PLUGIN_NAME " "$root/usr/share/carme/plugstack.conf" ||
        die "etc/plugstack.conf does not name the plugin as expected"
    install -m 0644 etc/slurm.conf.snippet "$root/usr/share/carme/slurm.conf.snippet"
    install -D -m 0644 "$HERE/files/tmpfiles.conf" "$root/usr/lib/tmpfiles.d/carme-slurm.conf"
    install -D -m 0644 "$HERE/files/logrotate" "$root/etc/logrotate.d/carme-slurm"
    local page sec
    for page in "$WORK"/man/*.[158]; do
        sec=${page##*.}
        install -D -m 0644 "$page" "$root/usr/share/man/man$sec/$(basename "$page")"
        gzip -9n "$root/usr/share/man/man$sec/$(basename "$page")"
    done
    local doc=$root/usr/share/doc/carme-slurm
    install -D -m 0644 README.md "$doc/README.md"
    install -m 0644 docs/images.md docs/prolog-epilog.md "$doc/"
    install -m 0644 "$HERE/files/copyright" "$doc/copyright"
}

mkdir -p "$OUT"
rm -f "$OUT"/carme-slurm*.deb "$OUT"/carme-slurm*.rpm

# --- .deb ------------------------------------------------------------------------------
for s in "${SUITES[@]}"; do
    suite=${s% *} series=${s#* }
    root=$WORK/deb-$suite
    stage "$root" "$DEB_PLUGIN_DIR" "$series" deb
    gzip -9n <"$HERE/deb/changelog" >"$root/usr/share/doc/carme-slurm/changelog.Debian.gz"
    install -d -m 0755 "$root/DEBIAN"
    glibc=$(glibc_needed "$root/usr/bin/carme-launch" "$root$DEB_PLUGIN_DIR/$PLUGIN_NAME" \
        "$root"/usr/libexec/carme/carme-*)
    [ -n "$glibc" ] || die "no glibc version found in the binaries"
    printf '%s\n' "$glibc" 2.34 | sort -V -C ||
        die "the binaries need glibc $glibc; EL9 and bookworm need <= 2.34"
    size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
    debversion="$VERSION-1+slurm$series"
    sed -e "s|@VERSION@|$debversion|g" -e "s|@SERIES@|$series|g" \
        -e "s|@NEXT@|$(next_series "$series")|" -e "s|@SLURM@|$DEB_SLURM|g" \
        -e "s|@GLIBC@|$glibc|g" -e "s|@SIZE@|$size|g" -e "s|@SUITE@|$suite|g" \
        "$HERE/deb/control.in" >"$root/DEBIAN/control"
    printf '%s\n' /etc/carme/carme.toml /etc/carme/epilog /etc/carme/prolog \
        /etc/logrotate.d/carme-slurm >"$root/DEBIAN/conffiles"
    install -m 0755 "$HERE/deb/postinst" "$HERE/deb/postrm" "$root/DEBIAN/"
    (cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort |
        xargs md5sum) >"$root/DEBIAN/md5sums"
    deb="$OUT/carme-slurm_${debversion}_amd64.deb"
    dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
    log "$(basename "$deb") ($suite, Slurm $series)"
done

# --- .rpm (EL9) --------------------------------------------------------------------------
for s in "${SUITES[@]}"; do
    series=${s#* }
    root=$WORK/rpm-$series
    stage "$root" "$RPM_PLUGIN_DIR" "$series" rpm
    files=$(cd "$root" && find . -type f -printf '/%P\n' | LC_ALL=C sort |
        sed -e 's|^/etc/carme/[a-z.]*$|%config(noreplace) &|' \
            -e 's|^/etc/logrotate.d/carme-slurm$|%config(noreplace) &|' \
            -e 's|^/usr/share/doc/carme-slurm/copyright$|%license &|')
    top=$WORK/rpmbuild-$series
    mkdir -p "$top"/{SPECS,BUILD,RPMS}
    {
        sed -e "s|@VERSION@|$VERSION|g" -e "s|@SERIES@|$series|g" \
            -e "s|@NEXT@|$(next_series "$series")|" -e "s|@STAGE@|$root|g" \
            "$HERE/rpm/carme-slurm.spec.in"
        echo
        echo "%files"
        echo "%dir /etc/carme"
        echo "%dir /usr/libexec/carme"
        echo "%dir /usr/share/carme"
        echo "%dir /usr/share/doc/carme-slurm"
        echo "$files"
    } >"$top/SPECS/carme-slurm.spec"
    rpmbuild -bb --quiet --target x86_64-redhat-linux --define "_topdir $top" \
        --define "_build_id_links none" --define "dist .el9" "$top/SPECS/carme-slurm.spec" >/dev/null
    rpm=$(find "$top/RPMS" -name '*.rpm' | head -n1)
    [ -n "$rpm" ] || die "rpmbuild made no package for Slurm $series"
    install -m 0644 "$rpm" "$OUT/"
    log "$(basename "$rpm") (EL9, Slurm $series)"
done

log "done: $(cd "$OUT" && ls carme-slurm* | tr '\n' ' ')"
