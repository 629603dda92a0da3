#!/bin/bash
# The carme-slurm test cluster: munge + slurmctld + 3 slurmd (n1..n3) on
# localhost, everything under one directory, with the Carme plugin loaded.
#
#   cluster.sh start DIR      build nothing; use target/release artifacts
#   cluster.sh stop DIR       end the jobs and the daemons this DIR started
#   cluster.sh status DIR
#
# Isolation: own munge key and socket, own slurm.conf (SLURM_CONF), own
# ports, own spool/state/log dirs, fake GPUs as char nodes under DIR. It
# never reads or writes /etc/slurm, /etc/munge or /dev, and stops only
# processes whose environment names this DIR's slurm.conf or whose PID it
# recorded. Users and groups carmetest* are created if missing (slurmd
# resolves job users through the system's passwd).
#
# CARME_INSTALLED=1 (tests/e2e/run.sh sets it in the Debian roots, after
# installing the suite's .deb and enabling it as the docs tell admins):
# the cluster runs what the package installed, through the package's
# snippets: Slurm's default plugstack.conf (which includes the enabled
# /usr/share/carme/plugstack.conf), the Prolog=/Epilog= programs of
# /usr/share/carme/slurm.conf.snippet, /usr/bin/carme-launch, and
# /etc/carme/carme.toml, which start makes a link to DIR/etc/carme.toml
# (in the root; the machine's own /etc is never touched). DIR/lib and
# DIR/libexec then hold links to the installed files.
#
# After start, DIR/env holds the variables to talk to the cluster:
#   . DIR/env && srun --constraint=carme --carme-image=base cat /CARME_IMAGE
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/release
# The plugin is built once per Slurm series (tests/cluster/release.sh):
# CARME_PLUGIN_SO names the one for the Slurm this cluster runs.
PLUGIN_SO=${CARME_PLUGIN_SO:-$TARGET/libcarme_spank.so}

NODES=(n1 n2 n3)
CARME_NODES="n1,n2"            # Feature=carme,beeond
GPUS_PER_NODE=4
TEST_USERS=(carmetest1 carmetest2 carmetest3)

die() { echo "cluster: $*" >&2; exit 1; }
log() { echo "cluster: $*" >&2; }

# --- users -------------------------------------------------------------------
ensure_users() {
    getent group carmetest-students >/dev/null || groupadd carmetest-students
    getent group carmetest-staff >/dev/null || groupadd carmetest-staff
    local u
    for u in "${TEST_USERS[@]}"; do
        id "$u" >/dev/null 2>&1 || useradd -m -s /bin/bash "$u"
    done
    # carmetest1: a student; carmetest2: staff; carmetest3: neither.
    usermod -a -G carmetest-students carmetest1
    usermod -a -G carmetest-staff carmetest2
}

# --- ports -----------------------------------------------------------------------
port_free() { ! ss -Htan "sport = :$1" | grep -q .; }
pick_ports() {
    local base tries=0
    while :; do
        base=$(( 20000 + (RANDOM % 400) * 100 ))
        local ok=1 p
        for p in $base $((base+1)) $((base+2)) $((base+3)); do port_free "$p" || ok=0; done
        ((ok)) && { echo "$base"; return; }
        ((++tries < 50)) || die "no free ports found"
    done
}

# --- image -------------------------------------------------------------------------
# A tiny Charliecloud image: busybox, plus the files ch-run binds over and
# the mount points Carme binds (ch-run cannot create them in a read-only
# image): the cluster's scratch target, per-node device dirs and BeeOND
# mount bases.
make_image() {
    local dir=$1 name=$2 cluster=$3
    mkdir -p "$dir"/{bin,etc,tmp,dev,proc,sys,home,scratch,data,usr/bin,var/tmp}
    mkdir -p "$dir$cluster/scratch"
    for n in "${NODES[@]}"; do mkdir -p "$dir$cluster/nodes/$n/dev" "$dir$cluster/nodes/$n/beeond"; done
    cp /bin/busybox "$dir/bin/busybox"
    local applet
    for applet in $("$dir/bin/busybox" --list); do
        [ -e "$dir/bin/$applet" ] || ln -s busybox "$dir/bin/$applet"
    done
    : >"$dir/etc/passwd"; : >"$dir/etc/group"; : >"$dir/etc/hosts"; : >"$dir/etc/resolv.conf"
    echo "$name" >"$dir/CARME_IMAGE"
    chmod 1777 "$dir/tmp" "$dir/var/tmp"
    chmod -R a+rX "$dir"
}

# --- start -------------------------------------------------------------------------
start() {
    local dir=$1
    [ "$(id -u)" = 0 ] || die "start needs root (slurmd and munged run as root)"
    [ -e "$dir/etc/slurm.conf" ] && die "$dir already holds a cluster; stop it first"
    if [ "${CARME_INSTALLED:-}" = 1 ]; then
        installed_paths
    else
        [ -e "$PLUGIN_SO" ] || die "$PLUGIN_SO missing: run cargo build --release first"
    fi
    for f in carme-launch carme-exec carme-prolog carme-epilog carme-runtime-standin libnvidia_ml_standin.so carme-beeond-standin; do
        [ -e "$TARGET/$f" ] || die "$TARGET/$f missing: run cargo build --release first"
    done
    for b in slurmctld slurmd munged ch-run; do
        command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || die "$b not installed: run tests/cluster/install-deps.sh"
    done
    ensure_users

    (umask 022 && mkdir -p "$dir")
    dir=$(cd "$dir" && pwd)
    # Not under /tmp: a Carme job sees its own directory there (and so does
    # its container), which would hide the cluster's files from it. Not in
    # any directory users can write either: the cluster's BeeOND status dir
    # lies in DIR, and Carme refuses one with a sticky or open parent.
    case "$dir/" in
        /tmp/*|/var/tmp/*|/dev/shm/*)
            die "$dir is in a directory every user can write; use e.g. /var/lib/carme-test/NAME" ;;
    esac
    # Test users run jobs whose cwd and files live here.
    chmod 755 "$dir"
    mkdir -p "$dir"/{etc,log,state,run,munge,munge-key,lib,libexec,images,shared}
    # carme.toml lives in etc/: root-side code refuses a config in a
    # directory others can write (issue 13), whatever the umask.
    chmod 755 "$dir/etc" "$dir/munge"; chmod 700 "$dir/munge-key"
    chmod 1777 "$dir/shared"

    if [ "${CARME_INSTALLED:-}" = 1 ]; then
        # What the package installed, under the names the tests use.
        ln -s "$INST_PLUGIN" "$dir/lib/libcarme_spank.so"
        ln -s /usr/bin/carme-launch "$dir/libexec/carme-launch"
        ln -s "$INST_PROLOG" "$dir/libexec/carme-prolog"
        ln -s "$INST_EPILOG" "$dir/libexec/carme-epilog"
    else
        # Artifacts, copied so a rebuild cannot change a running cluster.
        install -m 755 "$PLUGIN_SO" "$dir/lib/libcarme_spank.so"
        install -m 755 "$TARGET/carme-launch" "$dir/libexec/carme-launch"
        install -m 755 "$TARGET/carme-prolog" "$dir/libexec/carme-prolog"
        install -m 755 "$TARGET/carme-epilog" "$dir/libexec/carme-epilog"
    fi
    # Slurm >= 23.11 needs no carme-exec (the packages for it carry none);
    # the exec_helper tests still run this build of it.
    install -m 755 "$TARGET/carme-exec" "$dir/libexec/carme-exec"
    # Slurm runs Prolog=/Epilog= without arguments: one-line wrappers pass
    # this cluster's config path (as a site with a non-default path would).
    # Test knob: a file DIR/etc/prolog-delay/JOBID holding N makes that
    # job's prolog sleep N seconds first (e2e tests stop slurmctld while a
    # job's batch step is about to start).
    mkdir -p "$dir/etc/prolog-delay"
    chmod 755 "$dir/etc/prolog-delay"
    local delay
    delay=$(printf 'd=%s/etc/prolog-delay/$SLURM_JOB_ID; [ -f "$d" ] && sleep "$(cat "$d")"' "$dir")
    if [ "${CARME_INSTALLED:-}" = 1 ]; then
        # The chaining the slurm.conf snippet documents: Slurm runs every
        # program in prolog.d/ and epilog.d/ (Prolog=DIR/*), here the knob
        # and a link to the snippet's Prolog=/Epilog= (the package's
        # /etc/carme/prolog and epilog), which run the installed programs
        # with their default config (/etc/carme/carme.toml, linked to this
        # cluster's).
        mkdir -p "$dir/etc/prolog.d" "$dir/etc/epilog.d"
        printf '#!/bin/sh\n%s\nexit 0\n' "$delay" >"$dir/etc/prolog.d/00-delay"
        chmod 755 "$dir/etc/prolog.d" "$dir/etc/epilog.d" "$dir/etc/prolog.d/00-delay"
        ln -s "$INST_PROLOG" "$dir/etc/prolog.d/50-carme"
        ln -s "$INST_EPILOG" "$dir/etc/epilog.d/50-carme"
        # Tests run the epilog by hand, as slurmd would.
        for f in prolog epilog; do
            printf '#!/bin/sh\nexec %s\n' "$dir/etc/$f.d/50-carme" >"$dir/libexec/$f.sh"
            chmod 755 "$dir/libexec/$f.sh"
        done
    else
        for f in prolog epilog; do
            {
                echo '#!/bin/sh'
                [ "$f" != prolog ] || echo "$delay"
                printf 'exec %s/libexec/carme-%s --config %s/etc/carme.toml\n' "$dir" "$f" "$dir"
            } >"$dir/libexec/$f.sh"
            chmod 755 "$dir/libexec/$f.sh"
        done
    fi
    # A stand-in libnvidia-ml (no NVIDIA driver here): per-node fake GPUs
    # beside it, minors matching gres.conf, UUIDs differing per node.
    install -d -m 0755 "$dir/lib/nvml"
    install -m 0755 "$TARGET/libnvidia_ml_standin.so" "$dir/lib/nvml/libnvidia-ml.so.1"
    local i m gpus
    for ((i = 1; i <= ${#NODES[@]}; i++)); do
        gpus=
        for ((m = 0; m < GPUS_PER_NODE; m++)); do
            gpus="$gpus${gpus:+, }{\"minor\": $m, \"uuid\": \"GPU-ca4e000$i-0000-4000-8000-00000000000$m\", \"pci_bus_id\": \"00000000:$(printf %02X $((0x3B + m))):00.0\", \"name\": \"Stand-in GPU\"}"
        done
        printf '{"cuda_driver_version": 12040, "gpus": [%s]}\n' "$gpus" >"$dir/lib/nvml/libnvidia-ml.so.1.n$i.json"
    done
    cp "$dir/lib/nvml/libnvidia-ml.so.1.n1.json" "$dir/lib/nvml/libnvidia-ml.so.1.json"
    chmod 0644 "$dir"/lib/nvml/*.json
    # Stand-ins for the runtimes that cannot be installed here (named so).
    mkdir -p "$dir/libexec/standins"
    install -m 755 "$TARGET/carme-runtime-standin" "$dir/libexec/standins/carme-runtime-standin"
    ln -s carme-runtime-standin "$dir/libexec/standins/apptainer"
    ln -s carme-runtime-standin "$dir/libexec/standins/singularity"
    install_beeond "$dir"

    # munge: own key, socket and pid file.
    dd if=/dev/urandom of="$dir/munge-key/munge.key" bs=1024 count=1 status=none
    chmod 600 "$dir/munge-key/munge.key"
    munged --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge-key/munge.key" \
        --log-file="$dir/log/munged.log" --pid-file="$dir/run/munged.pid" \
        --seed-file="$dir/munge-key/munged.seed" || die "munged failed; see $dir/log/munged.log"

    # Fake GPUs: char nodes with NVIDIA's major, one dir per node.
    local n g
    for n in "${NODES[@]}"; do
        mkdir -p "$dir/nodes/$n/dev" "$dir/nodes/$n/spool"
        for ((g = 0; g < GPUS_PER_NODE; g++)); do
            mknod -m 666 "$dir/nodes/$n/dev/nvidia$g" c 195 "$g"
        done
        mknod -m 666 "$dir/nodes/$n/dev/nvidiactl" c 195 255
    done

    make_image "$dir/images/base" base "$dir"
    make_image "$dir/images/tools" tools "$dir"
    # The scratch mount point, as an admin would create it on each node.
    mkdir -p "$dir/scratch"
    echo "only in the tools image" >"$dir/images/tools/TOOLS_ONLY"

    local base host
    base=$(pick_ports)
    host=$(hostname -s)
    {
        echo "ClusterName=carmetest"
        echo "SlurmctldHost=$host(127.0.0.1)"
        echo "SlurmctldPort=$base"
        echo "SlurmUser=root"
        echo "SlurmdUser=root"
        echo "AuthType=auth/munge"
        echo "AuthInfo=socket=$dir/munge/munge.socket"
        echo "CredType=cred/munge"
        echo "StateSaveLocation=$dir/state"
        echo "SlurmdSpoolDir=$dir/nodes/%n/spool"
        echo "SlurmctldPidFile=$dir/run/slurmctld.pid"
        echo "SlurmdPidFile=$dir/run/slurmd-%n.pid"
        echo "SlurmctldLogFile=$dir/log/slurmctld.log"
        echo "SlurmdLogFile=$dir/log/slurmd-%n.log"
        echo "SlurmdDebug=debug"
        echo "ProctrackType=proctrack/pgid"
        echo "TaskPlugin=task/none"
        echo "SelectType=select/cons_tres"
        echo "SelectTypeParameters=CR_Core"
        echo "GresTypes=gpu"
        echo "SchedulerType=sched/backfill"
        echo "SchedulerParameters=sched_interval=1"
        echo "MpiDefault=none"
        echo "ReturnToService=2"
        echo "SlurmdParameters=config_overrides"
        echo "JobCompType=jobcomp/none"
        echo "AccountingStorageType=accounting_storage/none"
        echo "JobAcctGatherType=jobacct_gather/none"
        if [ "${CARME_INSTALLED:-}" = 1 ]; then
            # Slurm's own default, which includes plugstack.conf.d/*.conf.
            echo "PlugStackConfig=/etc/slurm/plugstack.conf"
            echo "PrologFlags=$INST_PROLOGFLAGS"
            echo "Prolog=$dir/etc/prolog.d/*"
            echo "Epilog=$dir/etc/epilog.d/*"
        else
            echo "PlugStackConfig=$dir/etc/plugstack.conf"
            echo "PrologFlags=Alloc"
            echo "Prolog=$dir/libexec/prolog.sh"
            echo "Epilog=$dir/libexec/epilog.sh"
        fi
        echo "KillWait=5"
        echo "MinJobAge=300"
        echo "InactiveLimit=0"
        local i=1
        for n in "${NODES[@]}"; do
            local feat=""
            [[ ",$CARME_NODES," == *",$n,"* ]] && feat=" Feature=carme,beeond"
            echo "NodeName=$n NodeAddr=127.0.0.1 Port=$((base + i)) CPUs=8 RealMemory=4000 Gres=gpu:$GPUS_PER_NODE$feat State=UNKNOWN"
            i=$((i + 1))
        done
        echo "PartitionName=debug Nodes=$(IFS=,; echo "${NODES[*]}") Default=YES DefaultTime=01:00:00 MaxTime=INFINITE State=UP OverSubscribe=NO"
    } >"$dir/etc/slurm.conf"
    for n in "${NODES[@]}"; do
        echo "NodeName=$n Name=gpu File=$dir/nodes/$n/dev/nvidia[0-$((GPUS_PER_NODE - 1))]"
    done >"$dir/etc/gres.conf"
    echo "required $dir/lib/libcarme_spank.so config=$dir/etc/carme.toml" >"$dir/etc/plugstack.conf"
    write_carme_config "$dir" >"$dir/etc/carme.toml"
    find "$dir/etc" -maxdepth 1 -type f -exec chmod 644 {} +
    if [ "${CARME_INSTALLED:-}" = 1 ]; then
        # An admin's edit of the conffile, as a link to this cluster's:
        # only in a root's namespace (release.sh exec), never the host's /etc.
        [ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/1/ns/mnt)" ] ||
            die "CARME_INSTALLED=1 outside a release.sh namespace: the machine's own /etc/carme is not touched"
        ln -sfn "$dir/etc/carme.toml" /etc/carme/carme.toml
    fi

    cat >"$dir/env" <<ENV
export SLURM_CONF=$dir/etc/slurm.conf
export CARME_CLUSTER_DIR=$dir
ENV
    export SLURM_CONF="$dir/etc/slurm.conf"

    slurmctld -i || die "slurmctld failed; see $dir/log/slurmctld.log"
    for n in "${NODES[@]}"; do
        slurmd -N "$n" || die "slurmd $n failed; see $dir/log/slurmd-$n.log"
    done
    wait_idle "$dir"
    log "up in $dir (slurmctld port $base); . $dir/env to use it"
}

# BeeOND: the strict stand-in (tests/standins, README), called through a
# wrapper named `beeond`. The wrapper is the only place that knows the
# harness runs every node on one host: for `start` it tells the stand-in
# each node's own mount point (CARME_BEEOND_STANDIN_NODE_MOUNTS), the
# directory the prolog of that node waits for ([beeond] mount_base with
# %n). It logs every call to DIR/log/beeond-standin.jsonl, and e2e tests
# steer single jobs with DIR/etc/beeond-standin/JOBID.env
# (CARME_BEEOND_STANDIN_HANG=start, CARME_BEEOND_STANDIN_FAIL=stop).
install_beeond() {
    local dir=$1
    install -m 755 "$TARGET/carme-beeond-standin" "$dir/libexec/standins/carme-beeond-standin"
    mkdir -p "$dir/etc/beeond-standin" "$dir/beeond-status"
    chmod 755 "$dir/etc/beeond-standin" "$dir/beeond-status"
    cat >"$dir/libexec/standins/beeond" <<WRAPPER
#!/bin/sh
# Test harness only: beeond for nodes that share one host (see cluster.sh).
set -eu
export CARME_BEEOND_STANDIN_LOG=$dir/log/beeond-standin.jsonl
knobs=$dir/etc/beeond-standin/\${SLURM_JOB_ID:-none}.env
if [ -f "\$knobs" ]; then
    while IFS='=' read -r k v; do
        case "\$k" in
            CARME_BEEOND_STANDIN_HANG|CARME_BEEOND_STANDIN_FAIL) export "\$k=\$v" ;;
        esac
    done <"\$knobs"
fi
if [ "\${1:-}" = start ]; then
    nodefile= mount= prev=
    for a in "\$@"; do
        case "\$prev" in -n) nodefile=\$a ;; -c) mount=\$a ;; esac
        prev=\$a
    done
    job=\$(basename "\$mount")
    map=
    while read -r n; do
        [ -n "\$n" ] && map="\${map:+\$map,}\$n=$dir/nodes/\$n/beeond/\$job"
    done <"\$nodefile"
    export CARME_BEEOND_STANDIN_NODE_MOUNTS=\$map
fi
exec $dir/libexec/standins/carme-beeond-standin "\$@"
WRAPPER
    chmod 755 "$dir/libexec/standins/beeond"
}

# The installed package's paths, from the files it ships (so a path the
# package and its snippets disagree on fails here): the plugin from
# /usr/share/carme/plugstack.conf, which must be enabled in Slurm's
# plugstack.conf.d; Prolog=, Epilog= and PrologFlags= from the slurm.conf
# snippet.
installed_paths() {
    local share=/usr/share/carme
    [ -f "$share/plugstack.conf" ] || die "CARME_INSTALLED=1 but no $share/plugstack.conf: install the package"
    grep -qs "^include /etc/slurm/plugstack.conf.d/\*.conf" /etc/slurm/plugstack.conf ||
        die "/etc/slurm/plugstack.conf does not include plugstack.conf.d/*.conf"
    [ "$(readlink /etc/slurm/plugstack.conf.d/carme.conf)" = "$share/plugstack.conf" ] ||
        die "the package is not enabled: ln -s $share/plugstack.conf /etc/slurm/plugstack.conf.d/carme.conf"
    INST_PLUGIN=$(awk '$1 == "required" { print $2 }' "$share/plugstack.conf")
    INST_PROLOG=$(sed -n 's/^Prolog=//p' "$share/slurm.conf.snippet")
    INST_EPILOG=$(sed -n 's/^Epilog=//p' "$share/slurm.conf.snippet")
    INST_PROLOGFLAGS=$(sed -n 's/^PrologFlags=//p' "$share/slurm.conf.snippet")
    local f
    for f in "$INST_PLUGIN" "$INST_PROLOG" "$INST_EPILOG" /usr/bin/carme-launch; do
        [ -n "$f" ] && [ -e "$f" ] || die "the package's '$f' is not installed"
    done
    [ -n "$INST_PROLOGFLAGS" ] || die "no PrologFlags= in $share/slurm.conf.snippet"
    [ -d /etc/carme ] || die "no /etc/carme: install the package"
}

write_carme_config() {
    local dir=$1
    cat <<TOML
# Carme config of the test cluster (tests/cluster/cluster.sh).
[gate]
feature = "carme"
default_image = "base"
job_facts = "prolog"

[paths]
state_dir = "$dir/nodes/%n/state"
tmp_base = "$dir/nodes/%n/tmp"
scratch_base = "$dir/nodes/%n/scratch"
scratch_target = "$dir/scratch"
shm_size = "64M"
log_dir = "$dir/log/carme"

[gpu]
device_dir = "$dir/nodes/%n/dev"
hide_unallocated = true
nvml = "$dir/lib/nvml/libnvidia-ml.so.1"

[runtime]
kind = "charliecloud"
path = "$(command -v ch-run)"
exec_helper = "$dir/libexec/carme-exec"

[[mounts]]
source = "/home"
target = "/home"
mode = "rw"

[[mounts]]
source = "$dir/shared"
target = "/data"
mode = "rw"

# BeeOND through the strict stand-in (BeeGFS cannot be installed here),
# called through the wrapper install_beeond writes. All nodes share this
# host, so each mounts at its own directory (%n); the status file holds
# every node's part, so its directory is shared. Short bounds: the
# stand-in answers in milliseconds.
[beeond]
command = "$dir/libexec/standins/beeond"
feature = "beeond"
data_dir = "$dir/nodes/%n/beeond-data"
mount_base = "$dir/nodes/%n/beeond"
status_dir = "$dir/beeond-status"
start_timeout = "20s"
stop_timeout = "10s"
wait_timeout = "30s"

[images.base]
path = "$dir/images/base"
description = "busybox base image"

[images.tools]
path = "$dir/images/tools"
description = "busybox with a tools marker"
TOML
}

wait_idle() {
    local dir=$1 i states
    for ((i = 0; i < 60; i++)); do
        states=$(sinfo -h -N -o '%N %T' 2>/dev/null || true)
        if [ "$(grep -c ' idle$' <<<"$states")" = "${#NODES[@]}" ]; then
            return 0
        fi
        sleep 0.5
    done
    echo "$states" >&2
    tail -n 20 "$dir"/log/*.log >&2 || true
    die "nodes did not become idle within 30 s"
}

# --- stop ----------------------------------------------------------------------------
# PIDs of processes whose environment points at this cluster's slurm.conf
# (slurmctld, slurmd, their slurmstepd) — ours and nobody else's.
our_pids() {
    local conf=$1 p
    for p in /proc/[0-9]*; do
        [ -r "$p/environ" ] || continue
        if { tr '\0' '\n' <"$p/environ"; } 2>/dev/null | grep -qxF "SLURM_CONF=$conf"; then
            case "$(cat "$p/comm" 2>/dev/null)" in
                slurmctld|slurmscriptd|slurmd|slurmstepd) echo "${p#/proc/}" ;;
            esac
        fi
    done
}

stop() {
    local dir=$1
    [ -f "$dir/etc/slurm.conf" ] || die "$dir holds no cluster"
    dir=$(cd "$dir" && pwd)
    local conf="$dir/etc/slurm.conf" pids p i
    export SLURM_CONF="$conf"
    scancel --quiet --user=carmetest1 --user=carmetest2 --user=carmetest3 2>/dev/null || true
    scancel --quiet --user=root 2>/dev/null || true
    pids=$(our_pids "$conf")
    for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
    for ((i = 0; i < 50; i++)); do
        pids=$(our_pids "$conf")
        [ -z "$pids" ] && break
        sleep 0.2
    done
    for p in $(our_pids "$conf"); do kill -KILL "$p" 2>/dev/null || true; done
    if [ -f "$dir/run/munged.pid" ]; then
        p=$(cat "$dir/run/munged.pid")
        # Only the munged serving this dir's socket.
        if grep -qF "$dir/munge/munge.socket" "/proc/$p/cmdline" 2>/dev/null; then
            kill -TERM "$p" 2>/dev/null || true
            for ((i = 0; i < 25; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
        fi
    fi
    # Anything a test left mounted below the dir (none expected).
    # (grep finds nothing as a rule: not a failure under pipefail.)
    { grep -F " $dir/" /proc/self/mounts || true; } | awk '{print $2}' | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null || true
    done
    log "stopped $dir"
}

status() {
    local dir=$1
    export SLURM_CONF="$dir/etc/slurm.conf"
    sinfo -N -o '%N %T %f %G'
    squeue
}

cmd=${1:-}; dir=${2:-}
[ -n "$dir" ] || die "usage: cluster.sh start|stop|status DIR"
case "$cmd" in
    start) start "$dir" ;;
    stop) stop "$dir" ;;
    status) status "$dir" ;;
    *) die "usage: cluster.sh start|stop|status DIR" ;;
esac
