//! The option tables, one list for all releases: a row holds from its
//! `since` release (22.05 when not given) up to, not including, its `until`
//! release. Sources: `--help` and the man pages of each release, and the
//! `slurm_opt_*` definitions in src/common/slurm_opt.c at its tag (an option
//! belongs to a client when it has a set function for it).

use super::{ArgKind, Client, OptSpec, Release};

/// The builtin getopt table of `client` of `release`, without SPANK options.
pub fn option_table(release: Release, client: Client) -> &'static [OptSpec] {
    use Release::*;
    match (release, client) {
        (V22_05, Client::Srun) => &SRUN_22_05,
        (V22_05, Client::Sbatch) => &SBATCH_22_05,
        (V22_05, Client::Salloc) => &SALLOC_22_05,
        (V24_11, Client::Srun) => &SRUN_24_11,
        (V24_11, Client::Sbatch) => &SBATCH_24_11,
        (V24_11, Client::Salloc) => &SALLOC_24_11,
        (V26_05, Client::Srun) => &SRUN_26_05,
        (V26_05, Client::Sbatch) => &SBATCH_26_05,
        (V26_05, Client::Salloc) => &SALLOC_26_05,
    }
}

pub(super) const R: u8 = 1; // srun
pub(super) const B: u8 = 2; // sbatch
pub(super) const A: u8 = 4; // salloc
pub(super) const RB: u8 = R | B;
pub(super) const RA: u8 = R | A;
pub(super) const BA: u8 = B | A;
pub(super) const RBA: u8 = R | B | A;

pub(super) const NO: ArgKind = ArgKind::None;
pub(super) const REQ: ArgKind = ArgKind::Required;
pub(super) const OPT: ArgKind = ArgKind::Optional;

use Release::{V24_11, V26_05};

#[derive(Clone, Copy)]
pub(super) struct Row {
    pub(super) clients: u8,
    pub(super) since: Release,
    pub(super) until: Option<Release>,
    pub(super) spec: OptSpec,
}

impl Row {
    const fn since(self, release: Release) -> Row {
        Row {
            since: release,
            ..self
        }
    }

    const fn until(self, release: Release) -> Row {
        Row {
            until: Some(release),
            ..self
        }
    }

    const fn holds(&self, mask: u8, release: Release) -> bool {
        let r = release as u8;
        self.clients & mask != 0
            && self.since as u8 <= r
            && match self.until {
                Some(u) => r < u as u8,
                None => true,
            }
    }
}

pub(super) const fn o(clients: u8, long: &'static str, short: Option<char>, arg: ArgKind) -> Row {
    Row {
        clients,
        since: Release::V22_05,
        until: None,
        spec: OptSpec { long, short, arg },
    }
}

#[rustfmt::skip]
pub(super) const OPTIONS: &[Row] = &[
    o(R,   "accel-bind",          None,      REQ),
    o(RBA, "account",             Some('A'), REQ),
    o(RBA, "acctg-freq",          None,      REQ),
    o(B,   "array",               Some('a'), REQ),
    o(B,   "batch",               None,      REQ),
    o(R,   "bcast",               None,      OPT), // --help shows "=<dest_path>"
    o(R,   "bcast-exclude",       None,      REQ),
    o(RBA, "bb",                  None,      REQ),
    o(RBA, "bbf",                 None,      REQ),
    o(RBA, "begin",               Some('b'), REQ),
    o(A,   "bell",                None,      NO),
    o(RBA, "chdir",               Some('D'), REQ),
    o(RBA, "cluster",             None,      REQ), // undocumented, in the getopt table
    o(RBA, "cluster-constraint",  None,      REQ),
    o(RBA, "clusters",            Some('M'), REQ),
    o(RBA, "comment",             None,      REQ),
    o(R,   "compress",            None,      OPT),
    o(RBA, "constraint",          Some('C'), REQ),
    o(RBA, "container",           None,      REQ), // --help shows no argument
    o(RBA, "context",             None,      REQ),
    o(RBA, "contiguous",          None,      NO),
    o(RBA, "core-spec",           Some('S'), REQ),
    o(RBA, "cores-per-socket",    None,      REQ),
    o(R,   "cpu-bind",            None,      REQ),
    o(R,   "cpu_bind",            None,      REQ),
    o(RBA, "cpu-freq",            None,      REQ),
    o(RBA, "cpus-per-gpu",        None,      REQ),
    o(RBA, "cpus-per-task",       Some('c'), REQ),
    o(RBA, "deadline",            None,      REQ),
    o(R,   "debugger-test",       None,      NO),
    o(RBA, "delay-boot",          None,      REQ),
    o(RBA, "dependency",          Some('d'), REQ),
    o(R,   "disable-status",      Some('X'), NO),
    o(RBA, "distribution",        Some('m'), REQ),
    o(R,   "epilog",              None,      REQ),
    o(RB,  "error",               Some('e'), REQ),
    o(R,   "exact",               None,      NO),
    o(RBA, "exclude",             Some('x'), REQ),
    o(RBA, "exclusive",           None,      OPT),
    o(RB,  "export",              None,      REQ), // sbatch --help shows "[=names]"
    o(B,   "export-file",         None,      REQ),
    o(RBA, "extra-node-info",     Some('B'), REQ),
    o(BA,  "get-user-env",        None,      OPT).until(V24_11), // --help shows no argument
    o(B,   "get-user-env",        None,      OPT).since(V24_11).until(V26_05),
    o(B,   "get-user-env",        None,      NO).since(V26_05),
    o(RBA, "gid",                 None,      REQ).until(V24_11),
    o(B,   "gid",                 None,      REQ).since(V24_11),
    o(RBA, "gpu-bind",            None,      REQ),
    o(RBA, "gpu-freq",            None,      REQ),
    o(RBA, "gpus",                Some('G'), REQ),
    o(RBA, "gpus-per-node",       None,      REQ),
    o(RBA, "gpus-per-socket",     None,      REQ),
    o(RBA, "gpus-per-task",       None,      REQ),
    o(RBA, "gres",                None,      REQ),
    o(RBA, "gres-flags",          None,      REQ),
    o(RBA, "help",                Some('h'), NO),
    o(R,   "het-group",           None,      REQ),
    o(RBA, "hint",                None,      REQ),
    o(RBA, "hold",                Some('H'), NO),
    o(B,   "ignore-pbs",          None,      NO),
    o(RA,  "immediate",           Some('I'), OPT),
    o(RB,  "input",               Some('i'), REQ),
    o(R,   "interactive",         None,      NO),
    o(RBA, "job-name",            Some('J'), REQ),
    o(R,   "jobid",               None,      REQ),
    o(A,   "kill-command",        Some('K'), OPT),
    o(R,   "kill-on-bad-exit",    Some('K'), OPT), // --help shows no argument
    o(B,   "kill-on-invalid-dep", None,      REQ),
    o(R,   "label",               Some('l'), NO),
    o(RBA, "licenses",            Some('L'), REQ),
    o(RBA, "mail-type",           None,      REQ),
    o(RBA, "mail-user",           None,      REQ),
    o(RBA, "mcs-label",           None,      REQ),
    o(RBA, "mem",                 None,      REQ),
    o(RBA, "mem-bind",            None,      REQ),
    o(RBA, "mem-per-cpu",         None,      REQ),
    o(RBA, "mem-per-gpu",         None,      REQ),
    o(RBA, "mincpus",             None,      REQ),
    o(R,   "mpi",                 None,      REQ),
    o(R,   "msg-timeout",         None,      REQ),
    o(R,   "multi-prog",          None,      NO),
    o(RBA, "network",             None,      REQ),
    o(RBA, "nice",                None,      OPT),
    o(R,   "no-allocate",         Some('Z'), NO),
    o(A,   "no-bell",             None,      NO),
    o(RBA, "no-kill",             Some('k'), OPT), // --help shows no argument
    o(B,   "no-requeue",          None,      NO),
    o(A,   "no-shell",            None,      NO),
    o(RBA, "nodefile",            Some('F'), REQ),
    o(RBA, "nodelist",            Some('w'), REQ),
    o(RBA, "nodes",               Some('N'), REQ),
    o(RBA, "ntasks",              Some('n'), REQ),
    o(RBA, "ntasks-per-core",     None,      REQ),
    o(RBA, "ntasks-per-gpu",      None,      REQ),
    o(RBA, "ntasks-per-node",     None,      REQ),
    o(RBA, "ntasks-per-socket",   None,      REQ),
    o(RBA, "ntasks-per-tres",     None,      REQ),
    o(RB,  "open-mode",           None,      REQ),
    o(RB,  "output",              Some('o'), REQ),
    o(RBA, "overcommit",          Some('O'), NO),
    o(R,   "overlap",             None,      OPT), // --help shows no argument
    o(RBA, "oversubscribe",       Some('s'), NO),
    o(R,   "pack-group",          None,      REQ),
    o(B,   "parsable",            None,      NO).until(V26_05),
    o(RB,  "parsable",            None,      NO).since(V26_05),
    o(RBA, "partition",           Some('p'), REQ),
    o(RBA, "power",               None,      REQ).until(V24_11),
    o(RBA, "prefer",              None,      REQ),
    o(R,   "preserve-env",        Some('E'), NO),
    o(RBA, "priority",            None,      REQ),
    o(RBA, "profile",             None,      REQ),
    o(R,   "prolog",              None,      REQ),
    o(RB,  "propagate",           None,      OPT),
    o(R,   "pty",                 None,      NO).until(V24_11),
    o(R,   "pty",                 None,      OPT).since(V24_11),
    o(RBA, "qos",                 Some('q'), REQ),
    o(RBA, "quiet",               Some('Q'), NO),
    o(R,   "quit-on-interrupt",   None,      NO),
    o(RBA, "reboot",              None,      NO),
    o(R,   "relative",            Some('r'), REQ),
    o(B,   "requeue",             None,      NO).until(V26_05),
    o(B,   "requeue",             None,      OPT).since(V26_05),
    o(RBA, "reservation",         None,      REQ),
    o(R,   "resv-ports",          None,      OPT).until(V24_11), // --help shows no argument
    o(RBA, "resv-ports",          None,      OPT).since(V24_11),
    o(R,   "send-libs",           None,      OPT),
    o(RBA, "signal",              None,      REQ),
    o(R,   "slurmd-debug",        None,      REQ),
    o(RBA, "sockets-per-node",    None,      REQ),
    o(RBA, "spread-job",          None,      NO),
    o(RBA, "switches",            None,      REQ),
    o(R,   "task-epilog",         None,      REQ),
    o(R,   "task-prolog",         None,      REQ),
    o(RBA, "tasks-per-node",      None,      REQ),
    o(RB,  "test-only",           None,      NO),
    o(RBA, "thread-spec",         None,      REQ),
    o(R,   "threads",             Some('T'), REQ),
    o(RBA, "threads-per-core",    None,      REQ),
    o(RBA, "time",                Some('t'), REQ),
    o(RBA, "time-min",            None,      REQ),
    o(RBA, "tmp",                 None,      REQ),
    o(RBA, "uid",                 None,      REQ).until(V24_11),
    o(B,   "uid",                 None,      REQ).since(V24_11),
    o(R,   "unbuffered",          Some('u'), NO),
    o(RBA, "usage",               None,      NO),
    o(RBA, "use-min-nodes",       None,      NO),
    o(RBA, "verbose",             Some('v'), NO),
    o(RBA, "version",             Some('V'), NO),
    o(B,   "wait",                Some('W'), NO),
    o(R,   "wait",                Some('W'), REQ),
    o(BA,  "wait-all-nodes",      None,      REQ),
    o(RBA, "wckey",               None,      REQ),
    o(R,   "whole",               None,      NO),
    o(B,   "wrap",                None,      REQ), // --help shows "[=command string]"
    o(RA,  "x11",                 None,      OPT), // built in on Debian; --help omits it
    // New in 24.11 (since 22.05).
    o(RBA, "autocomplete",        None,      REQ).since(V24_11), // undocumented
    o(RBA, "container-id",        None,      REQ).since(V24_11), // 24.11 --help shows no argument
    o(R,   "external-launcher",   None,      OPT).since(V24_11), // undocumented
    o(RBA, "extra",               None,      REQ).since(V24_11),
    o(RBA, "oom-kill-step",       None,      OPT).since(V24_11),
    o(RBA, "segment",             None,      REQ).since(V24_11),
    o(RBA, "stepmgr",             None,      NO).since(V24_11),
    o(R,   "treewidth",           None,      REQ).since(V24_11),
    o(RBA, "tres-bind",           None,      REQ).since(V24_11),
    o(RBA, "tres-per-task",       None,      REQ).since(V24_11),
    // New in 26.05.
    o(R,   "async",               None,      NO).since(V26_05),
    o(RBA, "consolidate-segments", None,     NO).since(V26_05),
    o(RBA, "container-type",      None,      REQ).since(V26_05),
    o(B,   "external",            None,      NO).since(V26_05),
    o(R,   "ignore-signals",      None,      REQ).since(V26_05),
    o(RBA, "mem-update",          None,      REQ).since(V26_05),
    o(RBA, "resources",           None,      REQ).since(V26_05),
    o(RBA, "spread-segments",     None,      NO).since(V26_05),
    o(R,   "wait-for-children",   None,      NO).since(V26_05),
];

pub(super) const fn count(mask: u8, release: Release) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < OPTIONS.len() {
        if OPTIONS[i].holds(mask, release) {
            n += 1;
        }
        i += 1;
    }
    n
}

pub(super) const fn select<const N: usize>(mask: u8, release: Release) -> [OptSpec; N] {
    let mut out = [OptSpec {
        long: "",
        short: None,
        arg: ArgKind::None,
    }; N];
    let mut i = 0;
    let mut j = 0;
    while i < OPTIONS.len() {
        if OPTIONS[i].holds(mask, release) {
            out[j] = OPTIONS[i].spec;
            j += 1;
        }
        i += 1;
    }
    out
}

macro_rules! table {
    ($name:ident, $mask:expr, $release:expr) => {
        static $name: [OptSpec; count($mask, $release)] = select($mask, $release);
    };
}
table!(SRUN_22_05, R, Release::V22_05);
table!(SBATCH_22_05, B, Release::V22_05);
table!(SALLOC_22_05, A, Release::V22_05);
table!(SRUN_24_11, R, Release::V24_11);
table!(SBATCH_24_11, B, Release::V24_11);
table!(SALLOC_24_11, A, Release::V24_11);
table!(SRUN_26_05, R, Release::V26_05);
table!(SBATCH_26_05, B, Release::V26_05);
table!(SALLOC_26_05, A, Release::V26_05);
