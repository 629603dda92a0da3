//! BeeOND (BeeGFS On Demand) for a job: the node file and the command lines
//! that start and stop a per-job BeeGFS across the job's nodes.
//!
//! The prolog runs [`start_argv`] on the job's first node, the epilog runs
//! [`stop_argv`] there, and every node may fall back to [`stoplocal_argv`]
//! (an emergency stop of the local part only) when the distributed stop
//! fails or never ran. Everything here is pure; the executors write the node
//! file and run the commands.
//!
//! Flag meanings are from `beeond`'s usage text and option parsing
//! (ThinkParQ/beegfs `beeond/source/beeond` and
//! `beeond/scripts/lib/beegfs-ondemand-stoplocal`, releases 7.4.7 and 8.3.1,
//! which agree on everything used here) and the BeeOND page of the BeeGFS
//! documentation (doc.beegfs.io, Advanced Topics, "BeeOND: BeeGFS On Demand").
//! `beeond` parses options with bash `getopts`: single letters, clustered
//! switches, values attached or separate, parsing stops at the first operand,
//! and a repeated option silently overrides the earlier one.

use std::ffi::OsString;
use std::fmt;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

/// One job's BeeOND instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeeondSetup {
    /// The `beeond` program; absolute, since the prolog's `PATH` is not the
    /// admin's.
    pub command: PathBuf,
    /// Slurm job id; chooses the port shift.
    pub job_id: u32,
    /// The job's nodes in Slurm's order; the first one runs the management
    /// service (BeeOND makes the node file's first host its master).
    pub nodes: Vec<String>,
    /// Where the node file ([`nodefile_text`]) is written.
    pub nodefile: PathBuf,
    /// Directory for the BeeGFS servers' data on each node.
    pub data_dir: PathBuf,
    /// Where each node mounts the file system.
    pub mount: PathBuf,
    /// BeeOND's status file on each node, per job so that two instances on
    /// one node do not share it (the default is one per host).
    pub status_file: PathBuf,
    /// Directory for the BeeGFS services' log files on each node.
    pub log_dir: PathBuf,
    /// Admin-configured options appended to `beeond start`; checked by
    /// [`check_extra_start_args`].
    pub extra_start_args: Vec<String>,
}

/// The standard BeeGFS ports an instance listens on before shifting: storage
/// 8003, client 8004, meta 8005, helperd 8006 (7.x), mgmtd 8008, mgmtd gRPC
/// 8010 (8.x). `beeond start -p N` shifts all of them by N.
pub const BEEGFS_PORTS: RangeInclusive<u16> = 8003..=8010;

/// Port shift of the first slot. BeeOND's own default shift is 1000; the
/// slots start above it so that an instance an admin starts by hand with the
/// default does not meet a job's.
pub const PORT_SHIFT_FIRST: u16 = 1010;

/// Distance between two slots' shifts: at least the width of
/// [`BEEGFS_PORTS`] (8), so two slots never share a port.
pub const PORT_SHIFT_STEP: u16 = 10;

/// Number of slots. The highest port is then 8010 + 1010 + 10 * 2299 =
/// 32010, below Linux's default ephemeral range (32768-60999), where a
/// listening port could be taken by some outgoing connection.
pub const PORT_SHIFT_SLOTS: u32 = 2300;

/// The port shift (`beeond start -p`) of job `job_id`'s instance.
///
/// Two BeeOND jobs sharing a node need disjoint ports. Job ids are handed
/// out consecutively, so `job_id mod 2300` gives jobs that run at the same
/// time different slots unless their ids are a multiple of 2300 apart; only
/// then, and only if they also share a node, do their instances collide (the
/// second one then fails to start). Ports 9013-32010 may also be taken by
/// another service on a node; such a job's BeeOND fails the same way and the
/// next job id moves on to another slot.
pub fn port_shift(job_id: u32) -> u16 {
    // The slot is below 2300, so the product fits in u16.
    PORT_SHIFT_FIRST + PORT_SHIFT_STEP * (job_id % PORT_SHIFT_SLOTS) as u16
}

/// The node file: one host per line, as `beeond -n` reads it (it drops empty
/// lines and repeated adjacent hosts, and takes the first line as master).
pub fn nodefile_text(nodes: &[String]) -> String {
    let mut text = String::new();
    for node in nodes {
        text.push_str(node);
        text.push('\n');
    }
    text
}

/// `beeond start`, run on the job's first node:
///
/// `beeond start -n NODEFILE -d DATA -c MOUNT -i STATUS -p SHIFT -P -F -L LOGDIR -q EXTRA...`
///
/// The admin's extra options come last, after every planned one, so that an
/// operand among them cannot end option parsing early (`getopts` stops at the
/// first operand) and make `beeond` ignore planned options.
pub fn start_argv(s: &BeeondSetup) -> Vec<OsString> {
    let mut argv = vec![s.command.clone().into_os_string(), "start".into()];
    // -n FILENAME: node file with line-separated hostnames (mandatory).
    push_pair(&mut argv, "-n", &s.nodefile);
    // -d PATH: path for BeeGFS data on the servers (mandatory).
    push_pair(&mut argv, "-d", &s.data_dir);
    // -c PATH: mount point for the BeeGFS clients; created if missing (mandatory).
    push_pair(&mut argv, "-c", &s.mount);
    // -i FILENAME: status information file (default /var/tmp/beeond.tmp).
    push_pair(&mut argv, "-i", &s.status_file);
    // -p NUM: network port shift: the standard BeeGFS ports are shifted by
    // NUM, so that several instances can run on one node (default 1000).
    argv.push("-p".into());
    argv.push(port_shift(s.job_id).to_string().into());
    // -P: use pdsh for parallel startup instead of sequential ssh.
    argv.push("-P".into());
    // -F: remove the contents of the data path before starting the services
    // (for when a previous session's processes and status file are gone but
    // its data is still there).
    argv.push("-F".into());
    // -L PATH: log file directory, created if necessary (default /var/log).
    push_pair(&mut argv, "-L", &s.log_dir);
    // -q: suppress INFO messages, only print ERRORs.
    argv.push("-q".into());
    argv.extend(s.extra_start_args.iter().map(OsString::from));
    argv
}

/// `beeond stop`, run on the job's first node:
///
/// `beeond stop -n NODEFILE -i STATUS -L -d -P -c`
pub fn stop_argv(s: &BeeondSetup) -> Vec<OsString> {
    let mut argv = vec![s.command.clone().into_os_string(), "stop".into()];
    // -n FILENAME: node file (mandatory).
    push_pair(&mut argv, "-n", &s.nodefile);
    // -i FILENAME: status information file (default /var/tmp/beeond.tmp).
    push_pair(&mut argv, "-i", &s.status_file);
    // -L: delete the log files after a successful shutdown.
    argv.push("-L".into());
    // -d: delete the BeeGFS data on the disks.
    argv.push("-d".into());
    // -P: use pdsh for parallel shutdown instead of sequential ssh.
    argv.push("-P".into());
    // -c: cleanup: also remove what a failed earlier shutdown left behind,
    // and do not fail where a node has no status file or an unmount fails
    // (so a start that never got that far does not fail the epilog).
    argv.push("-c".into());
    argv
}

/// `beeond stoplocal`, the per-node fallback:
///
/// `beeond stoplocal -i STATUS -L -d -c`
pub fn stoplocal_argv(s: &BeeondSetup) -> Vec<OsString> {
    let mut argv = vec![s.command.clone().into_os_string(), "stoplocal".into()];
    // -i FILENAME: status information file (default /tmp/beeond.tmp here,
    // unlike start and stop: always pass it).
    push_pair(&mut argv, "-i", &s.status_file);
    // -L: delete the log files after a successful shutdown, and the log
    // directory if it is then empty.
    argv.push("-L".into());
    // -d: delete the BeeGFS data on the disks.
    argv.push("-d".into());
    // -c: cleanup: succeed quietly when there is no status file or an
    // unmount fails.
    argv.push("-c".into());
    argv
}

fn push_pair(argv: &mut Vec<OsString>, flag: &str, value: &Path) {
    argv.push(flag.into());
    argv.push(value.as_os_str().to_owned());
}

/// `beeond start` options that take a value: 7.4's `c d f i m n p L b s t`,
/// plus `G` from 8.x.
const START_VALUE_OPTIONS: &str = "cdfimnpLbstG";

/// `beeond start` switches: 7.4's `F l P q r k j T`, plus `C E H` from 8.x.
const START_SWITCHES: &str = "FlPqrkjTCEH";

/// Options [`start_argv`] sets itself: given again, `getopts` would let the
/// later one silently win.
const PLANNED_START_OPTIONS: &str = "ndcipL";

/// Why a [`BeeondSetup`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeeondError {
    /// The job has no nodes.
    NoNodes,
    /// A node name that would break the line-separated node file.
    BadNode { node: String },
    /// A path that is not absolute.
    RelativePath { what: &'static str, path: PathBuf },
    /// A path beeond would split or misread (its status file is one
    /// comma-separated line per service, which stop/stoplocal act on as
    /// root), or one that climbs out of its directory.
    BadPath {
        what: &'static str,
        path: PathBuf,
        why: &'static str,
    },
    /// An unusable `extra_start_args` entry.
    ExtraArg { arg: String, why: String },
}

impl fmt::Display for BeeondError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BeeondError::NoNodes => write!(f, "BeeOND needs at least one node"),
            BeeondError::BadNode { node } => write!(
                f,
                "node name {node:?} cannot go into a BeeOND node file (empty, or contains \
                 whitespace or control characters)"
            ),
            BeeondError::RelativePath { what, path } => {
                write!(
                    f,
                    "BeeOND {what} {} is not an absolute path",
                    path.display()
                )
            }
            BeeondError::BadPath { what, path, why } => {
                write!(f, "BeeOND {what} {path:?} {why}")
            }
            BeeondError::ExtraArg { arg, why } => {
                write!(f, "extra beeond start argument {arg:?}: {why}")
            }
        }
    }
}

impl std::error::Error for BeeondError {}

impl BeeondSetup {
    /// Check what the argv functions take on trust: nodes, absolute paths
    /// (`beeond` passes paths to every node over ssh/pdsh, where a relative
    /// one would resolve against some other directory) and the extra options.
    pub fn check(&self) -> Result<(), BeeondError> {
        if self.nodes.is_empty() {
            return Err(BeeondError::NoNodes);
        }
        if let Some(node) = self.nodes.iter().find(|n| {
            n.is_empty()
                || n.chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == ',')
        }) {
            return Err(BeeondError::BadNode { node: node.clone() });
        }
        let paths = [
            ("command", &self.command),
            ("node file", &self.nodefile),
            ("data directory", &self.data_dir),
            ("mount point", &self.mount),
            ("status file", &self.status_file),
            ("log directory", &self.log_dir),
        ];
        for (what, path) in paths {
            if !path.is_absolute() {
                return Err(BeeondError::RelativePath {
                    what,
                    path: path.clone(),
                });
            }
            let bytes = path.as_os_str().as_encoded_bytes();
            let why = if bytes.iter().any(|b| *b == b',' || b.is_ascii_control()) {
                Some(
                    "contains a comma or a control character (beeond's status file is comma-separated)",
                )
            } else if path
                .components()
                .any(|c| c == std::path::Component::ParentDir)
            {
                Some("contains `..`")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(BeeondError::BadPath {
                    what,
                    path: path.clone(),
                    why,
                });
            }
        }
        check_extra_start_args(&self.extra_start_args)
    }
}

/// Check admin-configured `beeond start` options the way `getopts` will read
/// them after the planned ones: every option must exist (else every BeeOND
/// job fails to start), take its value, and not be one the plan sets (it
/// would silently override it); operands and `--` are refused because
/// `beeond` would silently ignore everything from there on.
pub fn check_extra_start_args(args: &[String]) -> Result<(), BeeondError> {
    let refuse = |arg: &str, why: String| {
        Err(BeeondError::ExtraArg {
            arg: arg.to_string(),
            why,
        })
    };
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        let Some(letters) = arg.strip_prefix('-').filter(|l| !l.is_empty() && *l != "-") else {
            return refuse(
                arg,
                "not an option; beeond would ignore it and everything after it".into(),
            );
        };
        for (at, letter) in letters.char_indices() {
            if PLANNED_START_OPTIONS.contains(letter) {
                return refuse(
                    arg,
                    format!("-{letter} is set by Carme; giving it again would override it"),
                );
            }
            if START_SWITCHES.contains(letter) {
                continue;
            }
            if !START_VALUE_OPTIONS.contains(letter) {
                return refuse(arg, format!("beeond start has no option -{letter}"));
            }
            // A value option takes the rest of this word, or the next word.
            if at + 1 == letters.len() {
                if i + 1 == args.len() {
                    return refuse(arg, format!("-{letter} needs a value"));
                }
                i += 1;
            }
            break;
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> BeeondSetup {
        BeeondSetup {
            command: "/usr/bin/beeond".into(),
            job_id: 4242,
            nodes: vec!["n1".into(), "n2".into(), "n3".into()],
            nodefile: "/run/carme/4242/nodefile".into(),
            data_dir: "/local/beeond/4242".into(),
            mount: "/mnt/beeond/4242".into(),
            status_file: "/run/carme/4242/beeond.status".into(),
            log_dir: "/var/log/carme/beeond/4242".into(),
            extra_start_args: vec![],
        }
    }

    fn strings(argv: Vec<OsString>) -> Vec<String> {
        argv.into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn start_command_line() {
        let mut s = setup();
        assert_eq!(
            strings(start_argv(&s)),
            words(
                "/usr/bin/beeond start -n /run/carme/4242/nodefile -d /local/beeond/4242 \
                 -c /mnt/beeond/4242 -i /run/carme/4242/beeond.status -p 20430 -P -F \
                 -L /var/log/carme/beeond/4242 -q"
            )
        );
        s.extra_start_args = words("-m 2 -r");
        let argv = strings(start_argv(&s));
        assert_eq!(argv[argv.len() - 4..], words("-q -m 2 -r"));
    }

    #[test]
    fn stop_and_stoplocal_command_lines() {
        let s = setup();
        assert_eq!(
            strings(stop_argv(&s)),
            words(
                "/usr/bin/beeond stop -n /run/carme/4242/nodefile \
                 -i /run/carme/4242/beeond.status -L -d -P -c"
            )
        );
        assert_eq!(
            strings(stoplocal_argv(&s)),
            words("/usr/bin/beeond stoplocal -i /run/carme/4242/beeond.status -L -d -c")
        );
    }

    #[test]
    fn port_shift_slots() {
        assert_eq!(port_shift(0), 1010);
        assert_eq!(port_shift(1), 1020);
        assert_eq!(port_shift(2299), 1010 + 22990);
        assert_eq!(port_shift(2300), 1010);
        assert_eq!(port_shift(4242), 1010 + 10 * (4242 % 2300) as u16);
        let top = *BEEGFS_PORTS.end() as u32 + port_shift(2299) as u32;
        assert_eq!(top, 32010);
        assert!(top < 32768, "below the ephemeral port range");
        assert!(port_shift(u32::MAX) <= port_shift(2299));
        // Slots never overlap each other, the default instance (shift 0) or
        // beeond's default shift (1000).
        let width = BEEGFS_PORTS.end() - BEEGFS_PORTS.start() + 1;
        assert!(PORT_SHIFT_STEP >= width);
        assert!(PORT_SHIFT_FIRST >= 1000 + width);
        // Jobs running at the same time have nearby ids: all distinct.
        let shifts: std::collections::BTreeSet<u16> =
            (1_000_000..1_002_300).map(port_shift).collect();
        assert_eq!(shifts.len(), 2300);
    }

    #[test]
    fn nodefile_is_one_host_per_line() {
        assert_eq!(nodefile_text(&setup().nodes), "n1\nn2\nn3\n");
        assert_eq!(nodefile_text(&[]), "");
    }

    #[test]
    fn check_accepts_a_good_setup() {
        let mut s = setup();
        assert_eq!(s.check(), Ok(()));
        s.extra_start_args = words("-m 2 -s4 -rk -f /etc/beeond -b/usr/bin/pdsh -FPq -G 8010");
        assert_eq!(s.check(), Ok(()));
    }

    #[test]
    fn check_refuses_bad_setups() {
        let mut s = setup();
        s.nodes.clear();
        assert_eq!(s.check(), Err(BeeondError::NoNodes));
        for node in ["", "n1 n2", "n1\nn2", "n1,n2"] {
            let mut s = setup();
            s.nodes[1] = node.into();
            assert_eq!(s.check(), Err(BeeondError::BadNode { node: node.into() }));
        }
        let mut s = setup();
        s.mount = "beeond".into();
        assert_eq!(
            s.check(),
            Err(BeeondError::RelativePath {
                what: "mount point",
                path: "beeond".into()
            })
        );
        // Issue 13: a comma (e.g. from %n) would shift the fields of the
        // status file beeond stoplocal acts on as root.
        for bad in [
            "/local/beeond/a,b/42",
            "/local/beeond/../../etc",
            "/local/x\n/42",
        ] {
            let mut s = setup();
            s.data_dir = bad.into();
            assert!(
                matches!(
                    s.check(),
                    Err(BeeondError::BadPath {
                        what: "data directory",
                        ..
                    })
                ),
                "{bad}: {:?}",
                s.check()
            );
        }
        let mut s = setup();
        s.command = "beeond".into();
        assert!(
            s.check()
                .unwrap_err()
                .to_string()
                .contains("command beeond")
        );
    }

    #[test]
    fn extra_start_args_are_checked_like_getopts() {
        let refused = |args: &str, why: &str| {
            let args: Vec<String> = args.split(' ').map(String::from).collect();
            let e = check_extra_start_args(&args).unwrap_err().to_string();
            assert!(e.contains(why), "{args:?}: {e}");
        };
        refused("-p 5", "-p is set by Carme");
        refused("-qp5", "-p is set by Carme");
        refused("-c /x", "-c is set by Carme");
        refused("-L /x", "-L is set by Carme");
        refused("-x", "has no option -x");
        refused("-m", "-m needs a value");
        refused("-m 2 extra", "not an option");
        refused("--", "not an option");
        refused("-", "not an option");
        refused("--mirror", "has no option --");
        // A value option swallows the next word, even one that looks like an option.
        assert_eq!(check_extra_start_args(&words("-t -x -F")), Ok(()));
        assert_eq!(check_extra_start_args(&[]), Ok(()));
    }
}
