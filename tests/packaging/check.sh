#!/bin/bash
# Check what packaging/build.sh made, file by file, without installing it
# here (the e2e suite installs the trixie and forky .debs in the Debian
# roots of their Slurm: tests/e2e/run.sh; no EL9 machine is reachable, so
# the .rpms are checked with rpm -qp here only):
#
#   check.sh [PKGDIR]          default: target/packages
#
# For each .deb (bookworm/22.05, trixie/24.11, forky/26.05) and each EL9
# .rpm (22.05, 24.11, 26.05):
# - the exact file list (carme-exec only for 22.05), owners and modes;
# - the Slurm pin: dpkg/rpm compare the series' first and last releases as
#   inside, the next series and the one before as outside;
# - the plugin's plugin_version is the package's series, and it is the
#   same build in the .deb and the .rpm;
# - conffiles; maintainer scripts parse; glibc needed <= 2.34;
# - the shipped plugstack.conf names the plugin the package installs; the
#   slurm.conf snippet names the programs it installs;
# - tmpfiles.d makes its directories (systemd-tmpfiles --root), logrotate
#   reads its file, every man page renders without warnings.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PKG=${1:-${CARGO_TARGET_DIR:-$REPO/target}/packages}
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$REPO/Cargo.toml" | head -n1)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

failures=0
fail() { echo "packages: FAILED: $*" >&2; failures=$((failures + 1)); }
ok() { echo "packages: ok: $*"; }

for t in dpkg-deb rpm rpm2cpio cpio systemd-tmpfiles logrotate groff; do
    command -v "$t" >/dev/null || { echo "packages: $t not found: run tests/cluster/install-deps.sh" >&2; exit 1; }
done

next_series() { printf '%s.%02d' "${1%.*}" $((10#${1#*.} + 1)); }
prev_series() { printf '%s.%02d' "${1%.*}" $((10#${1#*.} - 1)); }

# The files every package holds, with the plugin dir and series filled in.
expected_files() {
    local plugdir=$1 series=$2 kind=$3
    {
        [ "$kind" != deb ] || echo /usr/share/doc/carme-slurm/changelog.Debian.gz
        echo "$plugdir/spank_carme.so"
        printf '%s\n' /usr/bin/carme-launch /usr/libexec/carme/carme-prolog /usr/libexec/carme/carme-epilog
        [ "$series" != 22.05 ] || echo /usr/libexec/carme/carme-exec
        if [ "$kind" = deb ]; then
            printf '%s\n' /etc/carme/prolog /etc/carme/epilog
        else
            printf '%s\n' /usr/share/carme/prolog /usr/share/carme/epilog
        fi
        printf '%s\n' /etc/carme/carme.toml /etc/logrotate.d/carme-slurm \
            /usr/lib/tmpfiles.d/carme-slurm.conf \
            /usr/share/carme/plugstack.conf /usr/share/carme/slurm.conf.snippet \
            /usr/share/doc/carme-slurm/README.md /usr/share/doc/carme-slurm/copyright \
            /usr/share/doc/carme-slurm/images.md /usr/share/doc/carme-slurm/prolog-epilog.md \
            /usr/share/man/man1/carme-launch.1.gz /usr/share/man/man5/carme.toml.5.gz \
            /usr/share/man/man1/carme-launch-run.1.gz /usr/share/man/man1/carme-launch-argv.1.gz \
            /usr/share/man/man1/carme-launch-explain.1.gz /usr/share/man/man1/carme-launch-images.1.gz \
            /usr/share/man/man1/carme-launch-check-config.1.gz /usr/share/man/man1/carme-launch-check-node.1.gz \
            /usr/share/man/man8/carme-prolog.8.gz /usr/share/man/man8/carme-epilog.8.gz
    } | LC_ALL=C sort
}

# Checks on an unpacked package tree $1 (plugin dir $2, series $3, name $4).
check_tree() {
    local root=$1 plugdir=$2 series=$3 name=$4
    local so=$root$plugdir/spank_carme.so v got
    v=$(bash "$REPO/tests/cluster/plugin-version.sh" "$so") || { fail "$name: no plugin_version"; return; }
    got=$(printf '%d.%02d' $((v >> 16)) $(((v >> 8) & 0xff)))
    [ "$got" = "$series" ] && ok "$name: plugin_version 0x$(printf %x "$v") (Slurm $got)" ||
        fail "$name: the plugin is built for Slurm $got, the package is for $series"
    local glibc
    glibc=$(for f in "$so" "$root/usr/bin/carme-launch" "$root"/usr/libexec/carme/*; do
        objdump -T "$f" 2>/dev/null || true; done | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n1)
    printf '%s\n' "$glibc" 2.34 | sort -V -C && ok "$name: needs glibc $glibc (<= 2.34)" ||
        fail "$name: needs glibc $glibc; EL9 has 2.34"
    grep -qx "required $plugdir/spank_carme.so config=/etc/carme/carme.toml" "$root/usr/share/carme/plugstack.conf" &&
        ok "$name: plugstack.conf names $plugdir/spank_carme.so" ||
        fail "$name: usr/share/carme/plugstack.conf does not name the installed plugin"
    local key path
    for key in Prolog Epilog; do
        path=$(sed -n "s/^$key=//p" "$root/usr/share/carme/slurm.conf.snippet")
        [ -n "$path" ] && [ -x "$root$path" ] && ok "$name: the snippet's $key=$path is installed" ||
            fail "$name: the snippet's $key=$path is not an installed program"
    done
    # Prolog=/Epilog= are the conffile wrappers: they run the installed
    # program, and exit 0 without output once it is gone (removed package).
    for key in prolog epilog; do
        grep -qx "exec \"\$p\" \"\$@\"" "$root/etc/carme/$key" &&
            grep -qx "p=/usr/libexec/carme/carme-$key" "$root/etc/carme/$key" ||
            fail "$name: /etc/carme/$key does not exec /usr/libexec/carme/carme-$key"
        mkdir -p "$WORK/empty"
        out=$(cd "$WORK/empty" && env -i PATH=/usr/bin:/bin sh "$root/etc/carme/$key" 2>&1) && [ -z "$out" ] ||
            [ -e /usr/libexec/carme/carme-$key ] ||
            fail "$name: /etc/carme/$key without the program: exit $?, output '$out'"
    done
    grep -qx 'PrologFlags=Alloc' "$root/usr/share/carme/slurm.conf.snippet" ||
        fail "$name: the slurm.conf snippet lacks PrologFlags=Alloc"
    "$root/usr/bin/carme-launch" check-config --config "$root/etc/carme/carme.toml" >"$WORK/cc.out" 2>&1 &&
        ok "$name: its carme-launch check-config accepts its /etc/carme/carme.toml" ||
        fail "$name: check-config of the shipped config: $(cat "$WORK/cc.out")"
    cmp -s "$root/etc/carme/carme.toml" "$REPO/etc/carme.toml" ||
        fail "$name: /etc/carme/carme.toml is not etc/carme.toml"
    # tmpfiles.d: made under a scratch root, as root, with its modes.
    local troot=$WORK/tmpfiles-$name
    mkdir -p "$troot"
    systemd-tmpfiles --create --root="$troot" "$root/usr/lib/tmpfiles.d/carme-slurm.conf" 2>"$WORK/tf.err" ||
        fail "$name: systemd-tmpfiles: $(cat "$WORK/tf.err")"
    local d want
    for d in "run/carme 755" "var/lib/carme 755" "var/lib/carme/tmp 755" "var/log/carme 750"; do
        want=${d#* }
        [ "$(stat -c '%a %U' "$troot/${d% *}" 2>/dev/null)" = "$want root" ] ||
            fail "$name: tmpfiles.d did not make /${d% *} $want root"
    done
    ok "$name: tmpfiles.d makes /run/carme, /var/lib/carme/tmp, /var/log/carme (root)"
    logrotate -d -s "$WORK/lr.state" "$root/etc/logrotate.d/carme-slurm" >"$WORK/lr.out" 2>&1 &&
        ! grep -qi 'error' "$WORK/lr.out" && ok "$name: logrotate reads its file" ||
        fail "$name: logrotate: $(grep -i error "$WORK/lr.out" | head -n3)"
    local page warn
    for page in "$root"/usr/share/man/man*/*.gz; do
        # -k: preconv, as man(1) runs it (the pages are UTF-8).
        warn=$(zcat "$page" | groff -k -man -Tutf8 -ww -z 2>&1) || true
        [ -z "$warn" ] || fail "$name: $(basename "$page") renders with warnings: $warn"
        zcat "$page" | head -n 20 | grep -q '^\.TH' || fail "$name: $(basename "$page") has no .TH"
    done
    ok "$name: $(ls "$root"/usr/share/man/man*/*.gz | wc -l) man pages render"
}

# A version compare that must hold ($1 op $2), via dpkg's or rpm's rules.
deb_pin() {
    local ver=$1 deps=$2 want=$3 ok_all=1 clause pkg op v
    while IFS= read -r clause; do
        clause=$(sed 's/^ *//; s/ *$//' <<<"$clause")
        pkg=${clause%% *}
        [ "$pkg" = slurm-wlm-basic-plugins ] || continue
        op=$(sed -n 's/.*(\([<>=]*\) .*/\1/p' <<<"$clause")
        v=$(sed -n 's/.*([<>=]* \(.*\))/\1/p' <<<"$clause")
        case "$op" in '>=') op=ge ;; '<<') op=lt ;; *) fail "unexpected Depends clause $clause"; return ;; esac
        dpkg --compare-versions "$ver" "$op" "$v" || ok_all=0
    done < <(tr ',' '\n' <<<"$deps")
    [ $ok_all = "$want" ]
}

for s in "bookworm 22.05 24.11" "trixie 24.11 26.05" "forky 26.05 22.05"; do
    read -r suite series other <<<"$s"
    deb=$PKG/carme-slurm_${VERSION}-1+slurm${series}_amd64.deb
    name="$suite .deb"
    [ -f "$deb" ] || { fail "$name: $deb missing (make packages)"; continue; }
    field() { dpkg-deb -f "$deb" "$1"; }
    [ "$(field Package)" = carme-slurm ] && [ "$(field Architecture)" = amd64 ] || fail "$name: Package/Architecture"
    deps=$(field Depends)
    # Inside the series: its first release and the last Debian upload we
    # know; outside: the next series, the one before, and another series.
    for v in "$series.0-1" "$series.5-4+deb13u1" "$series.99-1"; do
        deb_pin "$v" "$deps" 1 || fail "$name: Depends ($deps) refuses Slurm $v"
    done
    for v in "$(next_series "$series").0-1" "$(prev_series "$series").9-1" "$other.1-1"; do
        deb_pin "$v" "$deps" 0 || fail "$name: Depends ($deps) lets Slurm $v in"
    done
    ok "$name: Depends pins slurm-wlm-basic-plugins to $series ($deps)"
    grep -q 'libc6 (>= 2\.' <<<"$deps" || fail "$name: no libc6 dependency"
    dpkg-deb --ctrl-tarfile "$deb" | tar -x -C "$WORK" -f - ./conffiles ./postinst ./postrm 2>/dev/null ||
        fail "$name: control files missing"
    [ "$(cat "$WORK/conffiles")" = $'/etc/carme/carme.toml\n/etc/carme/epilog\n/etc/carme/prolog\n/etc/logrotate.d/carme-slurm' ] ||
        fail "$name: conffiles are: $(cat "$WORK/conffiles")"
    sh -n "$WORK/postinst" && sh -n "$WORK/postrm" || fail "$name: a maintainer script does not parse"
    listing=$(dpkg-deb -c "$deb")
    files=$(awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }' <<<"$listing" | LC_ALL=C sort)
    diff <(expected_files /usr/lib/x86_64-linux-gnu/slurm-wlm "$series" deb) <(echo "$files") >"$WORK/diff" &&
        ok "$name: exactly the expected $(wc -l <<<"$files") files" ||
        fail "$name: files differ from the expected list:"$'\n'"$(cat "$WORK/diff")"
    awk '$2 != "root/root" { bad = 1 } END { exit bad }' <<<"$listing" || fail "$name: a file not owned by root/root"
    grep -E '^-rwxr-xr-x .*\./usr/(bin|libexec)/' <<<"$listing" >/dev/null || fail "$name: programs not 0755"
    awk '$1 ~ /w.$/ || $1 ~ /w....$/ { bad = 1 } END { exit bad }' <<<"$listing" ||
        fail "$name: a file or directory writable by group or others"
    rm -rf "$WORK/deb" && mkdir "$WORK/deb" && dpkg-deb -x "$deb" "$WORK/deb"
    check_tree "$WORK/deb" /usr/lib/x86_64-linux-gnu/slurm-wlm "$series" "$name"

    rpm_file=$PKG/carme-slurm-${VERSION}-1.slurm${series}.el9.x86_64.rpm
    name="EL9 .rpm $series"
    [ -f "$rpm_file" ] || { fail "$name: $rpm_file missing (make packages)"; continue; }
    req=$(rpm -qp --requires "$rpm_file" 2>/dev/null)
    grep -qx "slurm >= $series" <<<"$req" && grep -qx "slurm < $(next_series "$series")" <<<"$req" &&
        ok "$name: Requires slurm >= $series, slurm < $(next_series "$series")" ||
        fail "$name: Requires lacks the Slurm pin: $(grep slurm <<<"$req")"
    # rpm's own comparison: the series' releases in, the neighbours out.
    for v in "$series.0" "$series.5" "$(next_series "$series").0" "$(prev_series "$series").9"; do
        inside=0
        [ "$(rpm --eval "%{lua: print(rpm.vercmp('$v', '$series') >= 0 and rpm.vercmp('$v', '$(next_series "$series")') < 0)}")" = true ] && inside=1
        case "$v" in "$series".*) [ $inside = 1 ] || fail "$name: rpm puts $v outside $series" ;;
                     *) [ $inside = 0 ] || fail "$name: rpm puts $v inside $series" ;; esac
    done
    glibc_req=$(grep -o 'GLIBC_[0-9.]*' <<<"$req" | sed 's/GLIBC_//' | sort -V | tail -n1)
    printf '%s\n' "$glibc_req" 2.34 | sort -V -C || fail "$name: requires glibc $glibc_req"
    diff <(expected_files /usr/lib64/slurm "$series" rpm) \
        <(rpm -qlp "$rpm_file" 2>/dev/null | while read -r f; do
            case "$f" in /etc/carme|/usr/libexec/carme|/usr/share/carme|/usr/share/doc/carme-slurm) ;; *) echo "$f" ;; esac
          done | LC_ALL=C sort) >"$WORK/diff" && ok "$name: exactly the expected files (rpm -qlp)" ||
        fail "$name: files differ:"$'\n'"$(cat "$WORK/diff")"
    [ "$(rpm -qcp "$rpm_file" 2>/dev/null)" = $'/etc/carme/carme.toml\n/etc/logrotate.d/carme-slurm' ] ||
        fail "$name: config files are $(rpm -qcp "$rpm_file" 2>/dev/null | tr '\n' ' ')"
    scripts=$(rpm -qp --scripts "$rpm_file" 2>/dev/null)
    grep -q 'systemd-tmpfiles --create /usr/lib/tmpfiles.d/carme-slurm.conf' <<<"$scripts" ||
        fail "$name: %post does not make the tmpfiles.d directories"
    grep -q 'install -m 0755 /usr/share/carme/$f /etc/carme/$f' <<<"$scripts" ||
        fail "$name: %post does not put the Prolog=/Epilog= wrappers in /etc/carme"
    # Owners and modes, as rpm would install them (rpm -qp --dump: path
    # size mtime digest mode owner group ...).
    dumped=0
    while read -r path _ _ _ mode owner group _; do
        dumped=$((dumped + 1))
        [ "$owner:$group" = root:root ] || fail "$name: $path is $owner:$group"
        (((8#$mode) & 8#022)) && fail "$name: $path is writable by group or others ($mode)"
    done < <(rpm -qp --dump "$rpm_file" 2>/dev/null)
    [ "$dumped" -gt 10 ] && ok "$name: $dumped entries root:root, none writable by group or others" ||
        fail "$name: rpm --dump listed $dumped entries"
    rm -rf "$WORK/rpm" && mkdir "$WORK/rpm"
    (cd "$WORK/rpm" && rpm2cpio "$rpm_file" | cpio -idm --quiet)
    # As %post would: the wrappers into /etc/carme.
    install -m 0755 "$WORK/rpm/usr/share/carme/prolog" "$WORK/rpm/usr/share/carme/epilog" "$WORK/rpm/etc/carme/"
    check_tree "$WORK/rpm" /usr/lib64/slurm "$series" "$name"
    cmp -s "$WORK/rpm/usr/lib64/slurm/spank_carme.so" "$WORK/deb/usr/lib/x86_64-linux-gnu/slurm-wlm/spank_carme.so" &&
        ok "$name: the same plugin build as the $suite .deb" || fail "$name: the plugin differs from the $suite .deb's"
done

if ((failures)); then
    echo "packages: $failures check(s) failed" >&2
    exit 1
fi
echo "packages: all checks passed"
