#!/bin/bash
# Install the bookworm .deb as an admin would, in a Debian 12 root made
# once with mmdebstrap (Slurm 22.05's slurm-wlm-basic-plugins only; no
# systemd, so the postinst's own fallback makes the bases), never on this
# machine: the e2e suite installs the trixie and forky .debs in the roots
# of their Slurm and runs the cluster from them; this is the same for the
# package whose Slurm runs on this machine itself.
#
#   install.sh [PKGDIR]        default: target/packages
#
# dpkg -i (and that the trixie .deb is refused: its Slurm pin), what it
# installs and makes, dpkg -r (the Prolog=/Epilog= wrappers and the config
# stay, the wrappers then do nothing), reinstall, dpkg -P (all gone but
# what jobs left).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PKG=${1:-${CARGO_TARGET_DIR:-$REPO/target}/packages}
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$REPO/Cargo.toml" | head -n1)
DEB=$PKG/carme-slurm_${VERSION}-1+slurm22.05_amd64.deb
OTHER=$PKG/carme-slurm_${VERSION}-1+slurm24.11_amd64.deb
ROOTS=${CARME_ROOTS:-/var/lib/carme-test/roots}
R=$ROOTS/bookworm-pkg
STAMP="bookworm slurm-wlm-basic-plugins"

failures=0
fail() { echo "install: FAILED: $*" >&2; failures=$((failures + 1)); }
ok() { echo "install: ok: $*"; }
die() { echo "install: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (chroot, dpkg in a root)"
[ -f "$DEB" ] && [ -f "$OTHER" ] || die "$DEB or $OTHER missing: make packages"
if [ "$(cat "$R/.carme-root" 2>/dev/null)" != "$STAMP" ]; then
    echo "install: making a bookworm root for the package (mmdebstrap) ..." >&2
    rm -rf "$R.new"
    mkdir -p "$ROOTS"
    mmdebstrap --quiet --variant=apt --include=slurm-wlm-basic-plugins \
        bookworm "$R.new" "$(bash "$REPO/tests/cluster/release.sh" mirror)" >&2 ||
        { rm -rf "$R.new"; die "mmdebstrap bookworm failed"; }
    echo "$STAMP" >"$R.new/.carme-root"
    rm -rf "$R"
    mv "$R.new" "$R"
fi
in_root() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
# A clean start: whatever an earlier run left (purge is what we test).
in_root dpkg -P carme-slurm >/dev/null 2>&1 || true
cp "$DEB" "$OTHER" "$R/tmp/"
deb=/tmp/$(basename "$DEB") other=/tmp/$(basename "$OTHER")

# The trixie package (Slurm 24.11) is refused: its pin.
if in_root dpkg -i "$other" >"$R/tmp/other.log" 2>&1; then
    fail "dpkg installed the Slurm 24.11 package next to Slurm 22.05"
else
    grep -q "slurm-wlm-basic-plugins (>= 24.11~)" "$R/tmp/other.log" &&
        ok "dpkg refuses the 24.11 package on Slurm 22.05 (Depends: slurm-wlm-basic-plugins (>= 24.11~))" ||
        fail "the 24.11 package failed for another reason: $(tail -n3 "$R/tmp/other.log")"
    in_root dpkg -r carme-slurm >/dev/null 2>&1 || true
fi

in_root dpkg -i "$deb" >"$R/tmp/install.log" 2>&1 || fail "dpkg -i: $(tail -n5 "$R/tmp/install.log")"
[ "$(in_root dpkg-query -W -f '${Status} ${Version}' carme-slurm)" = "install ok installed ${VERSION}-1+slurm22.05" ] &&
    ok "installed carme-slurm ${VERSION}-1+slurm22.05" || fail "not installed"
for f in usr/lib/x86_64-linux-gnu/slurm-wlm/spank_carme.so usr/bin/carme-launch \
         usr/libexec/carme/carme-prolog usr/libexec/carme/carme-epilog usr/libexec/carme/carme-exec \
         etc/carme/carme.toml etc/carme/prolog etc/carme/epilog usr/share/carme/plugstack.conf; do
    [ -e "$R/$f" ] || fail "/$f not installed"
done
for d in "run/carme 755" "var/lib/carme 755" "var/lib/carme/tmp 755" "var/log/carme 750"; do
    [ "$(stat -c '%a %U' "$R/${d% *}" 2>/dev/null)" = "${d#* } root" ] ||
        fail "the postinst did not make /${d% *} ${d#* } root"
done
ok "the postinst made /run/carme, /var/lib/carme/tmp, /var/log/carme (no systemd-tmpfiles here)"
in_root carme-launch check-config --config /etc/carme/carme.toml >/dev/null 2>&1 &&
    ok "the installed carme-launch accepts the installed config" || fail "check-config of the installed config"
v=$(in_root /usr/libexec/carme/carme-prolog --version 2>&1) && [ "$v" = "carme-prolog $VERSION" ] &&
    ok "the installed carme-prolog runs ($v)" || fail "carme-prolog --version: $v"
in_root man -w carme.toml >/dev/null 2>&1 || [ -f "$R/usr/share/man/man5/carme.toml.5.gz" ] || fail "no carme.toml(5)"
echo 'job 1' >"$R/var/log/carme/1.log"

in_root dpkg -r carme-slurm >/dev/null 2>&1 || fail "dpkg -r"
[ ! -e "$R/usr/lib/x86_64-linux-gnu/slurm-wlm/spank_carme.so" ] || fail "dpkg -r left the plugin"
for f in etc/carme/carme.toml etc/carme/prolog etc/carme/epilog; do
    [ -f "$R/$f" ] || fail "dpkg -r removed /$f (a conffile)"
done
out=$(in_root sh /etc/carme/prolog 2>&1) && [ -z "$out" ] &&
    out=$(in_root sh /etc/carme/epilog 2>&1) && [ -z "$out" ] &&
    ok "after dpkg -r the Prolog=/Epilog= wrappers stay and exit 0 silently" ||
    fail "a wrapper after dpkg -r: '$out'"

in_root dpkg -i "$deb" >/dev/null 2>&1 || fail "reinstall"
[ -x "$R/usr/libexec/carme/carme-prolog" ] && ok "reinstalled" || fail "reinstall did not bring carme-prolog back"

in_root dpkg -P carme-slurm >/dev/null 2>&1 || fail "dpkg -P"
for f in etc/carme/carme.toml etc/carme/prolog var/log/carme var/lib/carme; do
    [ ! -e "$R/$f" ] || fail "dpkg -P left /$f"
done
ok "dpkg -P removed the conffiles, the job logs and the empty bases"

((failures == 0)) || { echo "install: $failures check(s) failed" >&2; exit 1; }
echo "install: all checks passed"
