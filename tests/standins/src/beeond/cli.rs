//! The `beeond start|stop|stoplocal` command line, read and checked as
//! BeeOND 7.4.7 reads and checks it, plus the stand-in's own limits.
//!
//! Option sets (the `getopts` specs) and checks are those of
//! `beeond/source/beeond` and `beeond/scripts/lib/beegfs-ondemand-stoplocal`
//! at ThinkParQ/beegfs tag 7.4.7. Checks that need the file system (node
//! file, directories) are in `actions`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Refusal;
use super::getopts::{GetoptsError, getopts};

/// `beeond start` options.
const START_SPEC: &str = ":c:d:f:Fi:m:n:p:lL:Pb:s:qrkjt:T";
/// `beeond stop` options.
const STOP_SPEC: &str = "di:n:Pb:Lcq";
/// `beeond stoplocal` options.
const STOPLOCAL_SPEC: &str = ":i:dLusqc";

/// BeeOND's default port shift (`-p`).
pub const DEFAULT_PORT_SHIFT: u32 = 1000;
/// The highest standard BeeGFS port a shift applies to (mgmtd 8008; 8010 is
/// 8.x's mgmtd gRPC port, kept so shifts valid for either release pass).
const HIGHEST_BASE_PORT: u32 = 8010;

/// One invocation.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Command {
    Start(Start),
    Stop(Stop),
    StopLocal(StopLocal),
}

impl Command {
    pub fn action(&self) -> &'static str {
        match self {
            Command::Start(_) => "start",
            Command::Stop(_) => "stop",
            Command::StopLocal(_) => "stoplocal",
        }
    }

    pub fn quiet(&self) -> bool {
        match self {
            Command::Start(s) => s.quiet,
            Command::Stop(s) => s.quiet,
            Command::StopLocal(s) => s.quiet,
        }
    }
}

/// `beeond start`. Mandatory: -n, -d, -c (and -i for the stand-in).
#[derive(Debug, Serialize)]
pub struct Start {
    /// -n FILENAME: node file with line-separated hostnames.
    pub nodefile: PathBuf,
    /// -d PATH: path for BeeGFS data on the servers.
    pub data: PathBuf,
    /// -c PATH: mount point for the BeeGFS clients.
    pub mount: PathBuf,
    /// -i FILENAME: status information file.
    pub status: PathBuf,
    /// -F: remove the contents of the data path before starting services.
    pub clear_data: bool,
    /// -m NUM: number of metadata servers (0 or more than the nodes: all).
    pub meta_servers: u32,
    /// -s NUM: number of storage servers (0, the default, or more: all).
    pub storage_servers: u32,
    /// -p NUM: network port shift.
    pub port_shift: u32,
    /// -f PATH: directory of additional BeeGFS config files.
    pub config_dir: Option<PathBuf>,
    /// -L PATH: log file directory, created if necessary.
    pub log_dir: Option<PathBuf>,
    /// -l: prefer local storage nodes.
    pub prefer_local: bool,
    /// -P: use pdsh for parallel startup.
    pub pdsh: bool,
    /// -b PATH: the pdsh binary.
    pub pdsh_binary: Option<PathBuf>,
    /// -r: tmpfs for storage and metadata.
    pub tmpfs_storage: bool,
    /// -k: storage target mirroring.
    pub storage_mirror: bool,
    /// -j: metadata mirroring.
    pub meta_mirror: bool,
    /// -t FILE: storage targets and pools.
    pub target_file: Option<PathBuf>,
    /// -T: do not create the pool directories of -t.
    pub no_pool_dirs: bool,
    /// -q: only print errors.
    pub quiet: bool,
}

/// `beeond stop`. Mandatory: -n (and -i for the stand-in).
#[derive(Debug, Serialize)]
pub struct Stop {
    /// -n FILENAME: node file.
    pub nodefile: PathBuf,
    /// -i FILENAME: status information file.
    pub status: PathBuf,
    /// -d: delete BeeGFS data on disks.
    pub delete_data: bool,
    /// -L: delete log files after successful shutdown.
    pub delete_logs: bool,
    /// -c: cleanup; a missing status file or failed unmount is no error.
    pub cleanup: bool,
    /// -P: use pdsh for parallel shutdown.
    pub pdsh: bool,
    /// -b PATH: the pdsh binary.
    pub pdsh_binary: Option<PathBuf>,
    /// -q: only print errors.
    pub quiet: bool,
}

/// `beeond stoplocal`. Mandatory: -i for the stand-in.
#[derive(Debug, Serialize)]
pub struct StopLocal {
    /// -i FILENAME: status information file.
    pub status: PathBuf,
    /// -d: delete BeeGFS data on disks.
    pub delete_data: bool,
    /// -L: delete log files (and the log directory if then empty).
    pub delete_logs: bool,
    /// -u: only unmount the file system.
    pub only_unmount: bool,
    /// -s: only stop the non-client services.
    pub only_stop_servers: bool,
    /// -c: cleanup; a missing status file or failed unmount is no error.
    pub cleanup: bool,
    /// -q: only print errors.
    pub quiet: bool,
}

/// Parse `args` (everything after the program name).
pub fn parse(args: &[String]) -> Result<Command, Refusal> {
    let Some((action, rest)) = args.split_first() else {
        return Err(Refusal::beeond(
            "no action given; usage: beeond start|stop|stoplocal <options>",
        ));
    };
    match action.as_str() {
        "start" => parse_start(rest).map(Command::Start),
        "stop" => parse_stop(rest).map(Command::Stop),
        "stoplocal" => parse_stoplocal(rest).map(Command::StopLocal),
        other => Err(Refusal::beeond(format!(
            "unknown action {other:?}; usage: beeond start|stop|stoplocal <options>"
        ))),
    }
}

/// Run getopts and refuse what `beeond` would refuse or silently ignore.
fn options(spec: &str, args: &[String]) -> Result<Vec<(char, Option<String>)>, Refusal> {
    let parsed = getopts(spec, args).map_err(|e| match e {
        GetoptsError::Invalid(c) => Refusal::beeond(format!("invalid option: -{c}")),
        GetoptsError::MissingValue(c) => {
            Refusal::beeond(format!("Option -{c} requires an argument"))
        }
    })?;
    if let Some(first) = parsed.operands.first() {
        return Err(Refusal::standin(format!(
            "unexpected argument {first:?}: beeond stops reading options there and silently \
             ignores the rest"
        )));
    }
    Ok(parsed.options)
}

/// `^[0-9]+$`, as `beeond` checks -m, -s and -p.
fn numeric(value: &str, what: &str) -> Result<u32, Refusal> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refusal::beeond(format!("{what} must be numeric")));
    }
    value
        .parse()
        .map_err(|_| Refusal::standin(format!("{what} {value} is out of range")))
}

/// The stand-in runs everything on one host, so a relative path would not
/// mean what it means to beeond (resolved on each node over ssh).
fn absolute(flag: char, path: Option<PathBuf>, what: &str) -> Result<Option<PathBuf>, Refusal> {
    match path {
        Some(p) if !p.is_absolute() => Err(Refusal::standin(format!(
            "-{flag} {}: the {what} must be an absolute path (beeond resolves it on every \
             node, relative to wherever ssh starts there)",
            p.display()
        ))),
        other => Ok(other),
    }
}

fn required(flag: char, path: Option<PathBuf>, real_message: &str) -> Result<PathBuf, Refusal> {
    path.ok_or_else(|| Refusal::beeond(format!("{real_message} (-{flag})")))
}

/// `-i` is optional to beeond (default `/var/tmp/beeond.tmp`, one per host);
/// the stand-in wants it so no test touches the host's default.
fn status_required(status: Option<PathBuf>) -> Result<PathBuf, Refusal> {
    status.ok_or_else(|| {
        Refusal::standin(
            "-i FILENAME is required by the stand-in (beeond's default status file is one \
             per host, shared by every instance)",
        )
    })
}

fn parse_start(args: &[String]) -> Result<Start, Refusal> {
    let mut s = Start {
        nodefile: PathBuf::new(),
        data: PathBuf::new(),
        mount: PathBuf::new(),
        status: PathBuf::new(),
        clear_data: false,
        meta_servers: 1,
        storage_servers: 0,
        port_shift: DEFAULT_PORT_SHIFT,
        config_dir: None,
        log_dir: None,
        prefer_local: false,
        pdsh: false,
        pdsh_binary: None,
        tmpfs_storage: false,
        storage_mirror: false,
        meta_mirror: false,
        target_file: None,
        no_pool_dirs: false,
        quiet: false,
    };
    let (mut nodefile, mut data, mut mount, mut status) = (None, None, None, None);
    for (letter, value) in options(START_SPEC, args)? {
        let path = || PathBuf::from(value.clone().unwrap_or_default());
        match letter {
            'n' => nodefile = Some(path()),
            'd' => data = Some(path()),
            'F' => s.clear_data = true,
            'c' => mount = Some(path()),
            'i' => status = Some(path()),
            'L' => s.log_dir = Some(path()),
            'm' => {
                s.meta_servers =
                    numeric(value.as_deref().unwrap_or(""), "number of metadata servers")?
            }
            'p' => s.port_shift = numeric(value.as_deref().unwrap_or(""), "port shift")?,
            'P' => s.pdsh = true,
            'b' => s.pdsh_binary = Some(path()),
            's' => {
                s.storage_servers =
                    numeric(value.as_deref().unwrap_or(""), "number of storage servers")?
            }
            'f' => {
                let dir = path();
                if !dir.is_dir() {
                    return Err(Refusal::beeond(format!(
                        "The -f option expects a path to a directory: {}",
                        dir.display()
                    )));
                }
                s.config_dir = Some(dir);
            }
            'l' => s.prefer_local = true,
            'q' => s.quiet = true,
            'r' => s.tmpfs_storage = true,
            'k' => s.storage_mirror = true,
            'j' => s.meta_mirror = true,
            't' => s.target_file = Some(path()),
            'T' => s.no_pool_dirs = true,
            _ => unreachable!("getopts only returns letters of the spec"),
        }
    }
    s.nodefile = required(
        'n',
        absolute('n', nodefile, "node file")?,
        "Node file undefined",
    )?;
    s.data = required(
        'd',
        absolute('d', data, "data path")?,
        "Path for BeeGFS data undefined",
    )?;
    s.mount = required(
        'c',
        absolute('c', mount, "mount point")?,
        "Path for client mountpoint undefined",
    )?;
    s.status = status_required(absolute('i', status, "status file")?)?;
    s.log_dir = absolute('L', s.log_dir, "log directory")?;
    if s.storage_mirror && s.prefer_local {
        return Err(Refusal::beeond("Options -k and -l are mutually exclusive."));
    }
    if let Some(file) = &s.target_file {
        check_target_file(file, s.clear_data, s.storage_mirror)?;
    }
    // Unchecked by beeond; the services would then fail to bind.
    if HIGHEST_BASE_PORT + s.port_shift > u32::from(u16::MAX) {
        return Err(Refusal::standin(format!(
            "port shift {} moves BeeGFS port {HIGHEST_BASE_PORT} past 65535; the services \
             could not start",
            s.port_shift
        )));
    }
    Ok(s)
}

/// beeond's checks of `-t FILE` that do not look into the file.
fn check_target_file(file: &Path, clear_data: bool, mirror: bool) -> Result<(), Refusal> {
    if std::fs::metadata(file).map_or(true, |m| m.len() == 0) {
        return Err(Refusal::beeond(format!(
            "{} contains invalid entries or is empty.",
            file.display()
        )));
    }
    if !clear_data {
        return Err(Refusal::beeond(
            "Using storage pools requires the -F option to make sure no old data is left.",
        ));
    }
    if mirror {
        return Err(Refusal::beeond(
            "Using storage pools doesn't support storage mirroring (-k).",
        ));
    }
    Ok(())
}

fn parse_stop(args: &[String]) -> Result<Stop, Refusal> {
    let mut s = Stop {
        nodefile: PathBuf::new(),
        status: PathBuf::new(),
        delete_data: false,
        delete_logs: false,
        cleanup: false,
        pdsh: false,
        pdsh_binary: None,
        quiet: false,
    };
    let (mut nodefile, mut status) = (None, None);
    for (letter, value) in options(STOP_SPEC, args)? {
        let path = || PathBuf::from(value.clone().unwrap_or_default());
        match letter {
            'n' => nodefile = Some(path()),
            'i' => status = Some(path()),
            'd' => s.delete_data = true,
            'c' => s.cleanup = true,
            'P' => s.pdsh = true,
            'b' => s.pdsh_binary = Some(path()),
            'L' => s.delete_logs = true,
            'q' => s.quiet = true,
            _ => unreachable!("getopts only returns letters of the spec"),
        }
    }
    s.nodefile = required(
        'n',
        absolute('n', nodefile, "node file")?,
        "Node file undefined",
    )?;
    s.status = status_required(absolute('i', status, "status file")?)?;
    Ok(s)
}

fn parse_stoplocal(args: &[String]) -> Result<StopLocal, Refusal> {
    let mut s = StopLocal {
        status: PathBuf::new(),
        delete_data: false,
        delete_logs: false,
        only_unmount: false,
        only_stop_servers: false,
        cleanup: false,
        quiet: false,
    };
    let mut status = None;
    for (letter, value) in options(STOPLOCAL_SPEC, args)? {
        match letter {
            'i' => status = value.map(PathBuf::from),
            'd' => s.delete_data = true,
            'L' => s.delete_logs = true,
            'u' if s.only_stop_servers => {
                return Err(Refusal::beeond("Options -s and -u are mutually exclusive"));
            }
            'u' => s.only_unmount = true,
            's' if s.only_unmount => {
                return Err(Refusal::beeond("Options -u and -s are mutually exclusive"));
            }
            's' => s.only_stop_servers = true,
            'q' => s.quiet = true,
            'c' => s.cleanup = true,
            _ => unreachable!("getopts only returns letters of the spec"),
        }
    }
    s.status = status_required(absolute('i', status, "status file")?)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::super::{EXIT_BEEOND, EXIT_STANDIN};
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn refused(args: &str) -> Refusal {
        parse(&words(args)).expect_err(args)
    }

    #[test]
    fn start_reads_the_documented_options() {
        let Command::Start(s) = parse(&words(
            "start -n /j/nodes -d /data -c /mnt/b -i /j/status -p 1234 -PF -L /log -q -m 2 -s3 -r",
        ))
        .unwrap() else {
            panic!("not start")
        };
        assert_eq!(s.nodefile, Path::new("/j/nodes"));
        assert_eq!(s.port_shift, 1234);
        assert!(s.pdsh && s.clear_data && s.quiet && s.tmpfs_storage);
        assert_eq!((s.meta_servers, s.storage_servers), (2, 3));
        assert_eq!(s.log_dir.as_deref(), Some(Path::new("/log")));
    }

    #[test]
    fn refusals_mirror_beeond() {
        let r = refused("start -n /n -d /d -c /c -i /i -x");
        assert_eq!(
            (r.exit_code, r.message.as_str()),
            (EXIT_BEEOND, "invalid option: -x")
        );
        let r = refused("start -n /n -d /d -c /c -i");
        assert_eq!(r.message, "Option -i requires an argument");
        assert_eq!(
            refused("start -d /d -c /c -i /i").message,
            "Node file undefined (-n)"
        );
        assert_eq!(
            refused("start -n /n -c /c -i /i").message,
            "Path for BeeGFS data undefined (-d)"
        );
        assert_eq!(
            refused("start -n /n -d /d -c /c -i /i -p 1e3").message,
            "port shift must be numeric"
        );
        assert_eq!(
            refused("start -n /n -d /d -c /c -i /i -k -l").message,
            "Options -k and -l are mutually exclusive."
        );
        assert_eq!(refused("stop -i /i").message, "Node file undefined (-n)");
        assert_eq!(refused("stop -n /n -i /i -F").message, "invalid option: -F");
        assert_eq!(
            refused("stoplocal -i /i -u -s").message,
            "Options -u and -s are mutually exclusive"
        );
        assert!(
            refused("restart -n /n")
                .message
                .contains("unknown action \"restart\"")
        );
        assert!(refused("").message.contains("no action"));
    }

    #[test]
    fn stand_in_limits() {
        for args in [
            "start -n /n -d /d -c /c",
            "stop -n /n",
            "stoplocal -d",
            "start -n /n -d /d -c relative -i /i",
            "stop -n /n -i /i extra",
            "start -n /n -d /d -c /c -i /i -p 60000",
        ] {
            assert_eq!(refused(args).exit_code, EXIT_STANDIN, "{args}");
        }
    }
}
